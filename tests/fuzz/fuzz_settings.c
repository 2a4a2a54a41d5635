/* libFuzzer target for vmm/api/settings.c, which reads STATE/settings.json
 * (editable by whoever holds the USB stick) and PUT /api/settings bodies.
 * Any input: either refused with a message and the settings untouched, or
 * accepted with every field in range; an accepted one is written back out
 * and must parse again to the same settings. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "api/settings.h"

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static void check_valid(const struct settings *s)
{
	ASSERT(settings_hostname_ok(s->hostname));
	ASSERT(s->ndns >= 0 && s->ndns <= SETTINGS_DNS_MAX);
	if (s->net_static)
		ASSERT(s->prefix >= 1 && s->prefix <= 32 && s->addr != 0);
	else
		ASSERT(s->addr == 0 && s->gw == 0 && s->ndns == 0);
}

/* Field by field: struct copies need not keep padding bytes. */
static int same(const struct settings *a, const struct settings *b)
{
	return a->net_static == b->net_static && a->addr == b->addr && a->gw == b->gw && a->prefix == b->prefix &&
	       a->ndns == b->ndns && !memcmp(a->dns, b->dns, sizeof(a->dns)) && !strcmp(a->hostname, b->hostname);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512], buf[SETTINGS_JSON_MAX];
	for (int need = 0; need < 2; need++) {
		struct settings s, before;
		settings_default(&s);
		before = s;
		int r = settings_parse((const char *)data, size, need, &s, why, sizeof(why));
		if (r) {
			ASSERT(r == -EINVAL || r == -EPROTONOSUPPORT);
			ASSERT(why[0] && strnlen(why, sizeof(why)) < sizeof(why));
			ASSERT(same(&s, &before));
			continue;
		}
		check_valid(&s);
		int n = settings_format(&s, buf, sizeof(buf));
		ASSERT(n > 0);
		struct settings back;
		settings_default(&back);
		ASSERT(settings_parse(buf, (size_t)n, true, &back, why, sizeof(why)) == 0);
		ASSERT(same(&back, &s));
	}
	return 0;
}
