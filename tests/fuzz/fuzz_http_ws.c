/* libFuzzer target for the WebSocket frame parser (vmm/http/http_ws.c).
 *
 * The first byte picks the message limit (the server's, or a small one so
 * that 1009 is reached) and a chunk size; the rest is a client's byte stream.
 * It is parsed in one go and a chunk at a time, and the two must agree
 * message for message and on the refusal. Every message must lie inside the
 * parser, within its limit, and carry an opcode a client may send; every
 * refusal a status the header documents and a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_ws.h"

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MAX_MSGS 4096

struct seen {
	uint32_t sum[MAX_MSGS]; /* opcode, length and a checksum of each message */
	size_t n;
	unsigned status;
};

static uint32_t digest(const struct http_ws_msg *m)
{
	uint32_t h = (uint32_t)m->opcode * 2654435761u ^ (uint32_t)m->len ^ m->status << 16;
	for (size_t i = 0; i < m->len; i++)
		h = h * 31 + m->data[i];
	return h;
}

static void run(const uint8_t *in, size_t len, size_t max, size_t chunk, struct seen *s)
{
	static uint8_t buf[HTTP_WS_MAX_MESSAGE];
	struct http_ws_parser p;
	http_ws_parser_init(&p, buf, max);
	memset(s, 0, sizeof(*s));
	size_t off = 0;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk, used;
		struct http_ws_msg m;
		int r = http_ws_parse(&p, in + off, n, &used, &m);
		ASSERT(used <= n);
		off += used;
		if (r < 0) {
			ASSERT(p.why && *p.why);
			ASSERT(p.status == HTTP_WS_PROTOCOL || p.status == HTTP_WS_BAD_DATA || p.status == HTTP_WS_TOO_BIG);
			s->status = p.status;
			return;
		}
		if (r == 0) {
			ASSERT(used == n);
			continue;
		}
		ASSERT(m.opcode == HTTP_WS_TEXT || m.opcode == HTTP_WS_BINARY || m.opcode == HTTP_WS_CLOSE ||
		       m.opcode == HTTP_WS_PING || m.opcode == HTTP_WS_PONG);
		if (m.opcode & 8) {
			ASSERT(m.len <= HTTP_WS_CONTROL_MAX);
			ASSERT(m.data >= p.ctl && m.data + m.len <= p.ctl + sizeof(p.ctl));
		} else {
			ASSERT(m.len <= max);
			ASSERT(m.data == buf);
			if (m.opcode == HTTP_WS_TEXT)
				ASSERT(http_ws_utf8_ok(m.data, m.len));
		}
		if (s->n < MAX_MSGS)
			s->sum[s->n++] = digest(&m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen whole, chunked;
	if (size < 1)
		return 0;
	size_t max = (data[0] & 1) ? 16 : HTTP_WS_MAX_MESSAGE;
	size_t chunk = 1 + (data[0] >> 1);
	run(data + 1, size - 1, max, size, &whole);
	run(data + 1, size - 1, max, chunk, &chunked);
	ASSERT(whole.status == chunked.status);
	ASSERT(whole.n == chunked.n);
	ASSERT(!memcmp(whole.sum, chunked.sum, whole.n * sizeof(whole.sum[0])));
	return 0;
}
