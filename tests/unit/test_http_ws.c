/* Unit tests for the WebSocket frame parser, the handshake value and the
 * upgrade check (vmm/http/http_ws.c, http_sha1.c, http_ws_conn.c's
 * http_ws_accept). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/http_sha1.h"
#include "http/http_ws.h"

static uint8_t msgbuf[HTTP_WS_MAX_MESSAGE];

/* A masked client frame into out; its length. */
static size_t client_frame(uint8_t *out, int b0, const void *payload, size_t len)
{
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t n = 0;
	out[n++] = (uint8_t)b0;
	if (len < 126) {
		out[n++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		out[n++] = 0x80 | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(out + n, mask, 4);
	n += 4;
	for (size_t i = 0; i < len; i++)
		out[n + i] = ((const uint8_t *)payload)[i] ^ mask[i & 3];
	return n + len;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_sha1(void)
{
	uint8_t d[20];
	char h[41];
	http_sha1("abc", 3, d);
	hex(d, 20, h);
	CHECK("sha1 abc", !strcmp(h, "a9993e364706816aba3e25717850c26c9cd0d89d"));
	http_sha1("", 0, d);
	hex(d, 20, h);
	CHECK("sha1 empty", !strcmp(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	http_sha1(two, strlen(two), d);
	hex(d, 20, h);
	CHECK("sha1 two blocks", !strcmp(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"));
	char *mil = malloc(1000000);
	memset(mil, 'a', 1000000);
	http_sha1(mil, 1000000, d);
	free(mil);
	hex(d, 20, h);
	CHECK("sha1 million a", !strcmp(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"));
}

static void test_accept_value(void)
{
	char out[HTTP_WS_ACCEPT_LEN + 1];
	http_ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", 24, out); /* RFC 6455 1.3 */
	CHECK("accept value rfc example", !strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

/* Feed in[0..len) byte by byte or at once; the messages' opcodes and
 * payloads concatenated into log. Returns the parser's last result. */
static int feed(struct http_ws_parser *p, const uint8_t *in, size_t len, bool bytewise, char *log, size_t logsz)
{
	size_t off = 0, ll = 0;
	int r = 0;
	log[0] = '\0';
	while (off < len) {
		size_t n = bytewise ? 1 : len - off, used;
		struct http_ws_msg m;
		r = http_ws_parse(p, in + off, n, &used, &m);
		off += used;
		if (r < 0)
			return r;
		if (r > 0)
			ll += (size_t)snprintf(log + ll, logsz - ll, "%d:%.*s;", m.opcode, (int)m.len, (const char *)m.data);
		else if (used != n)
			return -2; /* 0 must take everything */
	}
	return r;
}

static void test_parse(void)
{
	struct http_ws_parser p;
	uint8_t in[8192];
	char log[9000];
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		const char *w = bytewise ? " bytewise" : "";
		char name[96];
		size_t n = client_frame(in, 0x81, "hello", 5);
		http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
		snprintf(name, sizeof(name), "text frame%s", w);
		CHECK(name, feed(&p, in, n, bytewise, log, sizeof(log)) == 1 && !strcmp(log, "1:hello;"));

		/* Fragmented binary with a ping in the middle. */
		n = client_frame(in, 0x02, "ab", 2);
		n += client_frame(in + n, 0x89, "pi", 2);
		n += client_frame(in + n, 0x00, "cd", 2);
		n += client_frame(in + n, 0x80, "ef", 2);
		http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
		snprintf(name, sizeof(name), "fragments with a ping%s", w);
		CHECK(name, feed(&p, in, n, bytewise, log, sizeof(log)) == 1 && !strcmp(log, "9:pi;2:abcdef;"));

		/* An empty frame and a 16-bit length. */
		memset(log, 'x', 300);
		n = client_frame(in, 0x82, "", 0);
		n += client_frame(in + n, 0x82, log, 300);
		http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
		snprintf(name, sizeof(name), "empty and 16-bit length%s", w);
		int r = feed(&p, in, n, bytewise, log, sizeof(log));
		CHECK(name, r == 1 && !strncmp(log, "2:;2:xxx", 8) && strlen(log) == 3 + 2 + 300 + 1);
	}

	size_t n;
	char log2[64];
	/* Refusals. */
	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	in[0] = 0x81, in[1] = 0x05; /* no mask bit */
	memcpy(in + 2, "hello", 5);
	CHECK("unmasked refused", feed(&p, in, 7, false, log2, sizeof(log2)) == -1 && p.status == 1002);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x82, log, 10);
	in[1] = 0x80 | 127; /* a 64-bit length: 8 GiB */
	memset(in + 2, 0, 8);
	in[5] = 2;
	CHECK("oversize refused 1009", feed(&p, in, 14, false, log2, sizeof(log2)) == -1 && p.status == 1009);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x02, msgbuf, 0); /* empty start: the parser's own buffer as payload is fine */
	memset(log, 'y', 4000);
	n = client_frame(in, 0x02, log, 4000);
	n += client_frame(in + n, 0x80, log, 200);
	CHECK("fragments over the limit 1009", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1009);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x80, "x", 1);
	CHECK("stray continuation 1002", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1002);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x01, "a", 1);
	n += client_frame(in + n, 0x81, "b", 1);
	CHECK("new message inside another 1002", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1002);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x09, "a", 1);
	CHECK("fragmented ping 1002", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1002);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x89, log, 126);
	CHECK("long ping 1002", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1002);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0xc1, "a", 1);
	CHECK("rsv bit 1002", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1002);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x83, "a", 1);
	CHECK("unknown opcode 1002", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1002);

	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x81, "\xc0\xaf", 2);
	CHECK("overlong utf-8 1007", feed(&p, in, n, false, log2, sizeof(log2)) == -1 && p.status == 1007);
	CHECK("refusal sticks", http_ws_parse(&p, in, n, &n, NULL) == -1);

	/* Close frames. */
	struct http_ws_msg m;
	size_t used;
	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x88, "\x03\xe8" "bye", 5);
	CHECK("close with status", http_ws_parse(&p, in, n, &used, &m) == 1 && m.opcode == HTTP_WS_CLOSE &&
					   m.status == 1000 && m.len == 3 && !memcmp(m.data, "bye", 3));
	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x88, "", 0);
	CHECK("close without status", http_ws_parse(&p, in, n, &used, &m) == 1 && m.status == HTTP_WS_NO_STATUS);
	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x88, "\x03", 1);
	CHECK("close 1 byte 1002", http_ws_parse(&p, in, n, &used, &m) == -1 && p.status == 1002);
	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x88, "\x03\xed", 2); /* 1005 may not be sent */
	CHECK("close 1005 refused", http_ws_parse(&p, in, n, &used, &m) == -1 && p.status == 1002);

	/* Two frames in one buffer: the first is handed out, used says where
	 * the second starts. */
	http_ws_parser_init(&p, msgbuf, sizeof(msgbuf));
	n = client_frame(in, 0x81, "one", 3);
	size_t first = n;
	n += client_frame(in + n, 0x81, "two", 3);
	int r1 = http_ws_parse(&p, in, n, &used, &m);
	CHECK("first of two", r1 == 1 && used == first && m.len == 3 && !memcmp(m.data, "one", 3));
	int r2 = http_ws_parse(&p, in + used, n - used, &used, &m);
	CHECK("second of two", r2 == 1 && m.len == 3 && !memcmp(m.data, "two", 3));
}

static void test_frame_head(void)
{
	uint8_t h[HTTP_WS_FRAME_HEAD_MAX];
	CHECK("head small", http_ws_frame_head(h, HTTP_WS_BINARY, 5) == 2 && h[0] == 0x82 && h[1] == 5);
	CHECK("head 16", http_ws_frame_head(h, HTTP_WS_TEXT, 300) == 4 && h[1] == 126 && h[2] == 1 && h[3] == 44);
	CHECK("head 64", http_ws_frame_head(h, HTTP_WS_BINARY, 70000) == 10 && h[1] == 127 && h[7] == 1 &&
				 h[8] == 0x11 && h[9] == 0x70);
}

static void test_utf8(void)
{
	CHECK("utf8 ascii", http_ws_utf8_ok((const uint8_t *)"abc", 3));
	CHECK("utf8 euro", http_ws_utf8_ok((const uint8_t *)"\xe2\x82\xac", 3));
	CHECK("utf8 4 bytes", http_ws_utf8_ok((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	CHECK("utf8 truncated", !http_ws_utf8_ok((const uint8_t *)"\xe2\x82", 2));
	CHECK("utf8 surrogate", !http_ws_utf8_ok((const uint8_t *)"\xed\xa0\x80", 3));
	CHECK("utf8 above max", !http_ws_utf8_ok((const uint8_t *)"\xf4\x90\x80\x80", 4));
	CHECK("utf8 lone continuation", !http_ws_utf8_ok((const uint8_t *)"\x80", 1));
}

static int opened, closed_count;
static void t_open(void *arg, struct http_ws *ws)
{
	(void)arg;
	(void)ws;
	opened++;
}
static void t_msg(void *arg, struct http_ws *ws, bool text, const uint8_t *p, size_t len)
{
	(void)arg, (void)ws, (void)text, (void)p, (void)len;
}
static void t_closed(void *arg)
{
	(void)arg;
	closed_count++;
}
static const struct http_ws_ops t_ops = { t_open, t_msg, t_closed };

/* http_ws_accept on a request given as text. Returns the status. */
static int try_accept(const char *text, struct http_response *resp)
{
	static char buf[2048];
	struct http_limits lim;
	struct http_parser p = { 0 };
	struct http_request req;
	const char *why;
	http_limits_default(&lim);
	snprintf(buf, sizeof(buf), "%s", text);
	if (http_parse(&p, buf, strlen(buf), &lim, &req, &why) <= 0)
		return -1;
	http_resp_init(resp);
	http_ws_accept(&req, resp, &t_ops, NULL);
	return resp->status;
}

static void test_accept(void)
{
	struct http_response resp;
	int s = try_accept("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", &resp);
	CHECK("accept 101", s == 101 && strstr(resp.extra, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") &&
				    resp.ws_ops == &t_ops);
	char head[2048];
	size_t hl = http_resp_head(&resp, true, head, sizeof(head));
	head[hl] = '\0';
	CHECK("101 head", hl && strstr(head, "Connection: Upgrade\r\n") && strstr(head, "Upgrade: websocket\r\n") &&
				  !strstr(head, "Content-Length"));
	closed_count = 0;
	http_resp_free(&resp);
	CHECK("unused upgrade calls closed", closed_count == 1 && !resp.ws_ops);

	closed_count = 0;
	s = try_accept("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", &resp);
	CHECK("no upgrade 426", s == 426 && closed_count == 1 && !resp.ws_ops);
	http_resp_free(&resp);
	s = try_accept("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", &resp);
	CHECK("version 8 426", s == 426 && strstr(resp.extra, "Sec-WebSocket-Version: 13"));
	http_resp_free(&resp);
	s = try_accept("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", &resp);
	CHECK("bad key 400", s == 400);
	http_resp_free(&resp);
	s = try_accept("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", &resp);
	CHECK("no connection upgrade 400", s == 400);
	http_resp_free(&resp);
	s = try_accept("POST /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n"
		       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", &resp);
	CHECK("post 400", s == 400);
	http_resp_free(&resp);
	CHECK("never opened here", opened == 0);
}

int main(void)
{
	test_sha1();
	test_accept_value();
	test_parse();
	test_frame_head();
	test_utf8();
	test_accept();
	return CHECK_DONE();
}
