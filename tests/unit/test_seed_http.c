/* Fetching a seed over HTTP: the URL from kvmbox.seed=, the server's
 * response (Content-Length, chunked, until close, refusals, limits), the pin's
 * hex and the DNS messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "seed_http.h"

static char body[1024];
static char err[256];

static int parse(const char *text, int eof, struct seed_http_resp *r, size_t bodymax)
{
	return seed_http_parse(text, strlen(text), eof, r, body, bodymax, err, sizeof(err));
}

static void urls(void)
{
	struct seed_url u;
	CHECK("url ipv4 and port", seed_url_parse("http://10.0.2.2:8000/seed.json", &u, err, sizeof(err)) == 0 &&
				       !strcmp(u.host, "10.0.2.2") && u.port == 8000 && u.addr == inet_addr("10.0.2.2") &&
				       !strcmp(u.path, "/seed.json"));
	CHECK("url name, default port", seed_url_parse("HTTP://seeds.example.com/ci/a.json?x=1#top", &u, err, sizeof(err)) == 0 &&
					    u.port == 80 && u.addr == 0 && !strcmp(u.host, "seeds.example.com") &&
					    !strcmp(u.path, "/ci/a.json?x=1"));
	CHECK("url without a path", seed_url_parse("http://h", &u, err, sizeof(err)) == 0 && !strcmp(u.path, "/"));
	CHECK("url with only a query", seed_url_parse("http://h?q", &u, err, sizeof(err)) == 0 && !strcmp(u.path, "/?q"));
	CHECK("url https refused with the way out",
	      seed_url_parse("https://h/s.json", &u, err, sizeof(err)) == -EPROTONOSUPPORT &&
	      strstr(err, "use http:// and kvmbox.seedsha256=HEX to pin it"));
	CHECK("url other scheme", seed_url_parse("ftp://h/s", &u, err, sizeof(err)) == -EINVAL);
	CHECK("url empty host", seed_url_parse("http:///s", &u, err, sizeof(err)) == -EINVAL);
	CHECK("url port 0", seed_url_parse("http://h:0/", &u, err, sizeof(err)) == -EINVAL && strstr(err, "port"));
	CHECK("url port too big", seed_url_parse("http://h:65536/", &u, err, sizeof(err)) == -EINVAL);
	CHECK("url port not a number", seed_url_parse("http://h:8x/", &u, err, sizeof(err)) == -EINVAL);
	CHECK("url empty port", seed_url_parse("http://h:/", &u, err, sizeof(err)) == -EINVAL);
	CHECK("url user info", seed_url_parse("http://u:p@h/", &u, err, sizeof(err)) == -EINVAL && strstr(err, "user"));
	CHECK("url ipv6", seed_url_parse("http://[::1]/", &u, err, sizeof(err)) == -EINVAL && strstr(err, "IPv6"));
	CHECK("url bad ipv4", seed_url_parse("http://10.0.2.256/", &u, err, sizeof(err)) == -EINVAL && strstr(err, "IPv4"));
	CHECK("url bad host char", seed_url_parse("http://h_st/", &u, err, sizeof(err)) == -EINVAL);
	CHECK("url control char in path", seed_url_parse("http://h/a\r\nX: y", &u, err, sizeof(err)) == -EINVAL);
	char longurl[2100] = "http://h/";
	memset(longurl + 9, 'a', 2000);
	CHECK("url path too long", seed_url_parse(longurl, &u, err, sizeof(err)) == -EINVAL && strstr(err, "longer"));
	CHECK("is url", seed_is_url("http://x/") && !seed_is_url("/data/seed.json"));
}

static void responses(void)
{
	struct seed_http_resp r;
	const char *cl = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 5\r\n\r\n{\"a\"}";
	CHECK("content-length", parse(cl, 0, &r, sizeof(body)) == 1 && r.status == 200 && r.body_len == 5 &&
				    !memcmp(body, "{\"a\"}", 5));
	char part[128];
	snprintf(part, sizeof(part), "%.*s", (int)strlen(cl) - 2, cl);
	CHECK("content-length: more wanted", parse(part, 0, &r, sizeof(body)) == 0);
	CHECK("content-length: closed early", parse(part, 1, &r, sizeof(body)) == -EIO && strstr(err, "3 of 5"));
	CHECK("headers: more wanted", parse("HTTP/1.1 200 OK\r\nContent-Le", 0, &r, sizeof(body)) == 0);
	CHECK("headers: closed early", parse("HTTP/1.1 200 OK\r\n", 1, &r, sizeof(body)) == -EIO);
	const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
			 "4\r\n{\"vm\r\nA;name=x\r\ns\": [] }  \r\n0\r\nX-Trailer: 1\r\n\r\n";
	CHECK("chunked", parse(ch, 0, &r, sizeof(body)) == 1 && r.body_len == 14 && !memcmp(body, "{\"vms\": [] }  ", 14));
	snprintf(part, sizeof(part), "%.*s", (int)strlen(ch) - 2, ch);
	CHECK("chunked: trailers unfinished", parse(part, 0, &r, sizeof(body)) == 0);
	CHECK("chunked: closed early", parse(part, 1, &r, sizeof(body)) == -EIO);
	CHECK("chunked: bad size", parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, &r,
					 sizeof(body)) == -EPROTO);
	CHECK("chunked: no CRLF after data", parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
						   0, &r, sizeof(body)) == -EPROTO);
	CHECK("chunked: huge size", parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
					  0, &r, sizeof(body)) == -EFBIG);
	CHECK("chunked: over the limit", parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n",
					       0, &r, 5) == -EFBIG);
	CHECK("gzip refused", parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, &r, sizeof(body)) == -EPROTO &&
				      strstr(err, "Transfer-Encoding"));
	CHECK("both framings refused", parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
					     0, &r, sizeof(body)) == -EPROTO);
	CHECK("until close", parse("HTTP/1.0 200 OK\r\n\r\n{}", 0, &r, sizeof(body)) == 0 &&
				     parse("HTTP/1.0 200 OK\r\n\r\n{}", 1, &r, sizeof(body)) == 1 && r.body_len == 2);
	CHECK("until close: over the limit", parse("HTTP/1.0 200 OK\r\n\r\n{1234}", 0, &r, 4) == -EFBIG);
	CHECK("content-length over the limit, before the body",
	      parse("HTTP/1.1 200 OK\r\nContent-Length: 262145\r\n\r\n", 0, &r, sizeof(body)) == -EFBIG);
	CHECK("404 complete at the headers", parse("HTTP/1.1 404 Not Found\r\nContent-Length: 999\r\n\r\n", 0, &r,
						   sizeof(body)) == 1 && r.status == 404 && !strcmp(r.reason, "Not Found"));
	CHECK("bare LF lines", parse("HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", 0, &r, sizeof(body)) == 1 && r.body_len == 2);
	CHECK("not HTTP", parse("SSH-2.0-OpenSSH\r\n", 0, &r, sizeof(body)) == -EPROTO);
	CHECK("bad status", parse("HTTP/1.1 2x0 OK\r\n\r\n", 0, &r, sizeof(body)) == -EPROTO);
	CHECK("HTTP/2 status line refused", parse("HTTP/2 200\r\n\r\n", 0, &r, sizeof(body)) == -EPROTO);
	CHECK("bad content-length", parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, &r, sizeof(body)) == -EPROTO);
	CHECK("two content-lengths", parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, &r,
					   sizeof(body)) == -EPROTO);
	CHECK("folded header refused", parse("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, &r, sizeof(body)) == -EPROTO);
	CHECK("header without colon", parse("HTTP/1.1 200 OK\r\nbroken\r\n\r\n", 0, &r, sizeof(body)) == -EPROTO);
	static char big[SEED_HTTP_HEADER_MAX + 64];
	snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX: ");
	memset(big + strlen(big), 'a', SEED_HTTP_HEADER_MAX);
	CHECK("headers too long", parse(big, 0, &r, sizeof(body)) == -EPROTO && strstr(err, "16 KiB"));
}

static void pins_and_dns(void)
{
	uint8_t h[32];
	CHECK("hex32", seed_hex32("00FF0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e", h) == 0 &&
			       h[0] == 0 && h[1] == 0xff && h[31] == 0x1e);
	CHECK("hex32 short", seed_hex32("00ff", h) == -EINVAL);
	CHECK("hex32 bad digit", seed_hex32("g0ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e", h) == -EINVAL);

	uint8_t q[SEED_DNS_MSG_MAX];
	int n = seed_dns_query(q, sizeof(q), 0x1234, "seeds.example.com.");
	CHECK("dns query", n == 12 + 19 + 4 && q[0] == 0x12 && q[1] == 0x34 && q[12] == 5 && !memcmp(q + 13, "seeds", 5) &&
				   q[30] == 0 && q[32] == 1);
	CHECK("dns query empty label", seed_dns_query(q, sizeof(q), 1, "a..b") == -EINVAL);
	CHECK("dns query empty", seed_dns_query(q, sizeof(q), 1, "") == -EINVAL);
	/* The reply: the question, a CNAME, then the A record, names compressed. */
	static const uint8_t reply[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
		5, 's', 'e', 'e', 'd', 's', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
		0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 0x12,
		0xc0, 0x12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 2, 2 };
	uint32_t a = 0;
	CHECK("dns answer after a CNAME", seed_dns_answer(reply, sizeof(reply), 0x1234, &a) == 0 && a == inet_addr("10.0.2.2"));
	CHECK("dns other id", seed_dns_answer(reply, sizeof(reply), 0x1235, &a) == -EPROTO);
	CHECK("dns truncated", seed_dns_answer(reply, sizeof(reply) - 3, 0x1234, &a) == -EPROTO);
	uint8_t nx[sizeof(reply)];
	memcpy(nx, reply, sizeof(reply));
	nx[3] = 0x83;
	CHECK("dns nxdomain", seed_dns_answer(nx, sizeof(nx), 0x1234, &a) == -ENOENT);
	nx[3] = 0x80;
	nx[7] = 1; /* only the CNAME */
	CHECK("dns no A record", seed_dns_answer(nx, sizeof(nx), 0x1234, &a) == -ENOENT);
}

int main(void)
{
	urls();
	responses();
	pins_and_dns();
	return CHECK_DONE();
}
