/* libFuzzer target for kvmbox ctl's HTTP response parser
 * (vmm/ctl/ctl_http.c): the bytes a server, or whoever sits between it and
 * the client, sends back.
 *
 * The first byte picks a body limit (the default or a small one, so that
 * the limit is reached), whether the request was HEAD, whether the
 * connection ends after the input, and a chunk size; the rest is the
 * stream. It is parsed in one go and a chunk at a time, which must agree on
 * the result, the status, the body and the bytes used; a completed body
 * must respect the limit and be NUL-terminated, and every header value must
 * be found by name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_http.h"

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static struct ctl_http_resp a, b;

static int run(struct ctl_http_resp *r, const uint8_t *data, size_t len, size_t step, size_t max, bool head,
	       bool eof, size_t *used_total)
{
	ctl_http_init(r);
	r->body_max = max;
	r->head_request = head;
	*used_total = 0;
	int ret = 0;
	size_t off = 0;
	while (off < len) {
		size_t n = len - off < step ? len - off : step, used;
		ret = ctl_http_feed(r, (const char *)data + off, n, &used);
		ASSERT(used <= n);
		*used_total += used;
		if (ret)
			break;
		off += n;
	}
	if (!ret && eof)
		ret = ctl_http_eof(r);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	size_t max = ctl & 1 ? 64 : CTL_HTTP_BODY_MAX;
	bool head = ctl & 2, eof = ctl & 4;
	size_t step = (size_t)(ctl >> 3) + 1;
	size_t ua, ub;
	int ra = run(&a, data, size, size ? size : 1, max, head, eof, &ua);
	int rb = run(&b, data, size, step, max, head, eof, &ub);
	ASSERT(ra == rb);
	ASSERT(ra == 1 || ra == 0 || ra < 0);
	if (ra < 0)
		ASSERT(a.why && b.why);
	if (ra == 1) {
		ASSERT(a.status >= 200 && a.status <= 599 && a.status == b.status);
		ASSERT(a.body && b.body && a.body_len == b.body_len && !memcmp(a.body, b.body, a.body_len));
		ASSERT(a.body_len <= max && a.body[a.body_len] == '\0');
		ASSERT(a.keep_alive == b.keep_alive && a.nfield == b.nfield);
		if (!eof)
			ASSERT(ua == ub && ua <= size);
		for (unsigned i = 0; i < a.nfield; i++) {
			const char *v = ctl_http_header(&a, a.field[i].name);
			ASSERT(v && strlen(a.field[i].name) > 0);
			ASSERT(v >= a.head && v < a.head + sizeof(a.head));
		}
	}
	ctl_http_free(&a);
	ctl_http_free(&b);
	return 0;
}
