/* libFuzzer target: what a seed fetch parses (initramfs/seed_http.c,
 * seed_dns.c): the server's HTTP response, the DNS answer and the URL from
 * the kernel command line. The first byte picks which; the rest is input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seed_http.h"
#include "supervisor/seed_parse.h"

static char raw[SEED_HTTP_HEADER_MAX + 2 * SEED_MAX_BYTES];
static char body[SEED_MAX_BYTES], body2[SEED_MAX_BYTES];

static void http(const uint8_t *data, size_t size, size_t bodymax)
{
	char err[256];
	struct seed_http_resp r, r2;
	memcpy(raw, data, size);
	int a = seed_http_parse(raw, size, 1, &r, body, bodymax, err, sizeof(err));
	if (a == 0 || (a == 1 && (r.body_len > bodymax || r.status < 0 || r.status > 999)) || (a < 0 && !err[0]))
		abort(); /* at EOF every response is complete or refused, with a reason */
	/* Fed in two parts, a response that is complete in the first part
	 * must parse the same as the whole (bytes after it are the next one's). */
	size_t half = size / 2;
	int b = seed_http_parse(raw, half, 0, &r2, body2, bodymax, err, sizeof(err));
	if (b == 1 && r2.status == 200 && a == 1 &&
	    (r2.body_len != r.body_len || memcmp(body, body2, r.body_len)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > sizeof(raw))
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if (mode % 3 == 0) {
		http(data, size, mode & 0x80 ? 64 : sizeof(body)); /* also a small limit: -EFBIG paths */
	} else if (mode % 3 == 1) {
		uint32_t addr;
		seed_dns_answer(data, size, 0x1234, &addr);
		uint8_t q[SEED_DNS_MSG_MAX];
		char name[300];
		size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
		memcpy(name, data, n);
		name[n] = '\0';
		int len = seed_dns_query(q, sizeof(q), 1, name);
		if (len > (int)sizeof(q))
			abort();
	} else {
		char url[2048], err[256];
		size_t n = size < sizeof(url) - 1 ? size : sizeof(url) - 1;
		memcpy(url, data, n);
		url[n] = '\0';
		struct seed_url u;
		if (seed_url_parse(url, &u, err, sizeof(err)) == 0 &&
		    (u.path[0] != '/' || !u.host[0] || !u.port || strpbrk(u.path, " \r\n")))
			abort(); /* what goes into the request line is safe */
	}
	return 0;
}
