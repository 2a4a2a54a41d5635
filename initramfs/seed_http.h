/* Fetching a seed over plain HTTP (PXE boots: kvmbox.seed=http://...).
 *
 *   seed_http.c   the URL, the response parser and the pin's hex: outside
 *                 input, bounds-checked, unit-tested (tests/unit/
 *                 test_seed_http.c) and fuzzed (tests/fuzz/fuzz_seed_http.c)
 *   seed_dns.c    a tiny DNS client's query and answer (A records only)
 *   seed_fetch.c  doing it: sockets, retries, the deadline
 */
#ifndef KVMBOX_SEED_HTTP_H
#define KVMBOX_SEED_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define SEED_HOST_MAX 254  /* a DNS name is at most 253 characters */
#define SEED_URL_PATH_MAX 1024
#define SEED_HTTP_HEADER_MAX (16 * 1024) /* status line and headers together */

struct seed_url {
	char host[SEED_HOST_MAX];
	uint16_t port;
	uint32_t addr; /* network byte order when host is an IPv4 literal, else 0 */
	char path[SEED_URL_PATH_MAX]; /* starts with '/'; the fragment is dropped */
};

/* "http://HOST[:PORT]/PATH". 0, or -EINVAL / -EPROTONOSUPPORT (https://) with
 * err set to what to do instead. */
int seed_url_parse(const char *url, struct seed_url *u, char *err, size_t errlen);

/* Is s a URL (it has a scheme) rather than a path? */
int seed_is_url(const char *s);

/* A response, whole or in part. The body (decoded when chunked) goes to body,
 * at most bodymax bytes. */
struct seed_http_resp {
	int status;          /* 200, 404, ... */
	char reason[64];     /* "Not Found", for the log */
	size_t body_len;
};

/* Parse the bytes received so far (buf, len); eof says the server closed the
 * connection. Returns 1 when the response is complete (r filled), 0 when more
 * is needed, or -errno with err set: -EPROTO malformed, -EFBIG the body is
 * larger than bodymax, -EIO the connection closed early. A status other than
 * 200 is complete at the end of the headers (its body is not wanted). */
int seed_http_parse(const char *buf, size_t len, int eof, struct seed_http_resp *r, char *body, size_t bodymax,
		    char *err, size_t errlen);

/* 64 hex digits (either case) to 32 bytes: 0 or -EINVAL. */
int seed_hex32(const char *hex, uint8_t out[32]);

/* --- seed_dns.c --- */
#define SEED_DNS_MSG_MAX 512 /* UDP without EDNS */
/* A query for NAME's A record with id. Returns its length, or -EINVAL for a
 * name that is not a valid DNS name. */
int seed_dns_query(uint8_t *buf, size_t size, uint16_t id, const char *name);
/* The first A record of a reply to id: 0 and *addr (network byte order),
 * -ENOENT when the name does not exist or has no A record, -EPROTO otherwise. */
int seed_dns_answer(const uint8_t *buf, size_t len, uint16_t id, uint32_t *addr);

/* --- seed_fetch.c --- */
/* GET url into buf (at most size bytes) within deadline_s seconds of now,
 * retrying refused connections, timeouts and 5xx answers. Returns the length,
 * or -errno with err set for the log. */
int seed_fetch(const char *url, char *buf, size_t size, double deadline_s, char *err, size_t errlen);

#endif
