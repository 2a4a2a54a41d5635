/* The failed-login limiter; see auth_limit.h. */
#include <stdbool.h>
#include <string.h>

#include "auth/auth_limit.h"

static struct auth_limit_entry *lookup(struct auth_limit *l, const uint8_t addr[16], uint64_t now)
{
	for (unsigned i = 0; i < AUTH_LIMIT_ENTRIES; i++) {
		struct auth_limit_entry *e = &l->e[i];
		if (e->used && now - e->last_ms >= AUTH_LIMIT_FORGET_MS && now >= e->until_ms)
			e->used = false;
		if (e->used && !memcmp(e->addr, addr, 16))
			return e;
	}
	return NULL;
}

uint64_t auth_limit_wait(struct auth_limit *l, const uint8_t addr[16], uint64_t now)
{
	struct auth_limit_entry *e = lookup(l, addr, now);
	return e && e->until_ms > now ? e->until_ms - now : 0;
}

void auth_limit_fail(struct auth_limit *l, const uint8_t addr[16], uint64_t now)
{
	struct auth_limit_entry *e = lookup(l, addr, now);
	if (!e) {
		/* A free slot, else the one seen least recently. */
		for (unsigned i = 0; i < AUTH_LIMIT_ENTRIES; i++) {
			struct auth_limit_entry *c = &l->e[i];
			if (!c->used) {
				e = c;
				break;
			}
			if (!e || c->last_ms < e->last_ms)
				e = c;
		}
		memset(e, 0, sizeof(*e));
		memcpy(e->addr, addr, 16);
		e->used = true;
	}
	e->last_ms = now;
	if (e->fails < 1000)
		e->fails++;
	if (e->fails >= AUTH_LIMIT_FREE) {
		unsigned shift = e->fails - AUTH_LIMIT_FREE;
		uint64_t ms = shift >= 20 ? AUTH_LIMIT_MAX_MS : (uint64_t)AUTH_LIMIT_BASE_MS << shift;
		if (ms > AUTH_LIMIT_MAX_MS)
			ms = AUTH_LIMIT_MAX_MS;
		e->until_ms = now + ms;
	}
}

void auth_limit_ok(struct auth_limit *l, const uint8_t addr[16])
{
	for (unsigned i = 0; i < AUTH_LIMIT_ENTRIES; i++)
		if (l->e[i].used && !memcmp(l->e[i].addr, addr, 16))
			memset(&l->e[i], 0, sizeof(l->e[i]));
}
