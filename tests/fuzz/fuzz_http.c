/* libFuzzer target for the HTTP request parser (vmm/http/http_parse.c), with
 * the router and the port 80 redirect on whatever it accepts.
 *
 * The first byte picks the limits (the defaults, or small ones so that 414,
 * 431 and 413 are reached) and a chunk size; the rest is the byte stream of
 * one connection. It is parsed two ways that must agree: in one go, request
 * after request (pipelining), and fed a chunk at a time through one
 * incremental parser, compared at each step with a fresh parse of the same
 * prefix. Every accepted request must point inside the input, and every
 * refusal must carry a status the server documents and a reason. The head
 * alone (http_parse_head, for bodies taken as a stream) must agree with the
 * whole parse. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.h"
#include "http/http_redirect.h"
#include "http/http_response.h"
#include "http/http_router.h"

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static void h_any(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx)
{
	(void)req;
	(void)ctx;
	const struct http_str *id = http_param(params, "id");
	http_resp_static(resp, 200, "text/plain", id ? id->p : "", id ? id->len : 0);
}

static const struct http_route routes[] = {
	{ HTTP_GET, "/api/host", h_any },
	{ HTTP_GET, "/api/vms/{id}", h_any },
	{ HTTP_POST, "/api/vms/{id}/{action}", h_any },
};

static const struct http_head_route head_routes[] = {
	{ HTTP_PUT, "/api/images/{id}", h_any },
};

static bool inside(struct http_str s, const char *buf, size_t len)
{
	return s.len == 0 || (s.p >= buf && s.p + s.len <= buf + len);
}

static void check_refusal(int r, const char *why)
{
	int st = -r;
	ASSERT(st == 400 || st == 411 || st == 413 || st == 414 || st == 417 || st == 431 || st == 501 ||
	       st == 505);
	ASSERT(why && why[0]);
}

static void check_request(const struct http_request *req, const char *buf, size_t len, size_t total)
{
	ASSERT(total <= len && req->head_len <= total);
	ASSERT(req->method != HTTP_UNKNOWN && (req->minor == 0 || req->minor == 1));
	ASSERT(inside(req->target, buf, total) && inside(req->path, buf, total) && inside(req->query, buf, total));
	ASSERT(req->path.len >= 1 && req->path.p[0] == '/');
	ASSERT(req->body.len == req->content_length && inside(req->body, buf, total));
	ASSERT(req->nhdr <= HTTP_MAX_HEADERS);
	for (unsigned i = 0; i < req->nhdr; i++)
		ASSERT(req->hdr[i].name.len > 0 && inside(req->hdr[i].name, buf, req->head_len) &&
		       inside(req->hdr[i].value, buf, req->head_len));

	struct http_response resp;
	http_resp_init(&resp);
	http_route(routes, sizeof(routes) / sizeof(routes[0]), req, &resp, NULL);
	ASSERT(resp.status == 200 || resp.status == 204 || resp.status == 404 || resp.status == 405);
	char head[HTTP_EXTRA_HEADERS + 512];
	size_t n = http_resp_head(&resp, req->keep_alive, head, sizeof(head));
	ASSERT(n > 0);
	/* Nothing from the request may break a header line: in the head,
	 * every LF ends a CRLF, and the only blank line is the last. */
	for (size_t k = 0; k < n; k++) {
		ASSERT(head[k] != '\n' || (k > 0 && head[k - 1] == '\r'));
		ASSERT(head[k] != '\r' || (k + 1 < n && head[k + 1] == '\n'));
	}
	char *blank = strstr(head, "\r\n\r\n");
	ASSERT(blank && (size_t)(blank - head) + 4 == n);
	http_resp_free(&resp);

	struct http_conn_info info = { 0 };
	info.local.ss_family = AF_INET;
	char loc[HTTP_EXTRA_HEADERS];
	if (http_redirect_location(req, &info, 8443, loc, sizeof(loc)) > 0) {
		ASSERT(!strncmp(loc, "https://", 8));
		ASSERT(!strpbrk(loc, "\r\n "));
	}
}

/* The head alone (what the server does first, to let a route take the body
 * as a stream) must agree with the whole parse: the same refusal, and a
 * head that the whole parse accepts, waits for or refuses only for its size.
 * At the end of the head, the plain router stays silent and a head route
 * answers only when it matches. */
static void check_head(const char *buf, size_t len, const struct http_limits *lim, int whole)
{
	static struct http_request req;
	struct http_parser p = { 0 };
	const char *why;
	int h = http_parse_head(&p, buf, len, lim, &req, &why);
	if (h < 0) {
		check_refusal(h, why);
		ASSERT(whole == h);
		return;
	}
	if (h == 0) {
		ASSERT(whole == 0 && p.head_len == 0);
		return;
	}
	ASSERT((size_t)h == req.head_len && (size_t)h <= len);
	if (req.content_length > lim->max_body)
		ASSERT(whole == -413);
	else
		ASSERT(whole == 0 || (whole > 0 && (size_t)whole == (size_t)h + req.content_length));
	struct http_response resp;
	http_resp_init(&resp);
	resp.status = 0;
	req.body_pending = true;
	http_route(routes, sizeof(routes) / sizeof(routes[0]), &req, &resp, NULL);
	ASSERT(resp.status == 0);
	http_route_head(head_routes, 1, &req, &resp, NULL);
	ASSERT(resp.status == 0 || (resp.status == 200 && req.method == HTTP_PUT));
	http_resp_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct http_limits lim;
	http_limits_default(&lim);
	if (data[0] & 1) {
		lim.max_request_line = 64;
		lim.max_head = 256;
		lim.max_headers = 8;
		lim.max_body = 64;
	}
	size_t chunk = 1 + (data[0] >> 1) % 16;
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;
	static struct http_request req, fresh;
	const char *why;

	/* One go, request after request. */
	int first = 0;
	size_t off = 0;
	for (int k = 0; off < len; k++) {
		struct http_parser p = { 0 };
		int r = http_parse(&p, buf + off, len - off, &lim, &req, &why);
		if (k == 0)
			first = r;
		check_head(buf + off, len - off, &lim, r);
		if (r < 0)
			check_refusal(r, why);
		if (r <= 0)
			break;
		check_request(&req, buf + off, len - off, (size_t)r);
		off += (size_t)r;
	}

	/* A chunk at a time: the incremental parser must say what a fresh
	 * parse of the same bytes says (compared at up to 64 steps). */
	struct http_parser inc = { 0 };
	int r = 0, compared = 0;
	size_t i = 0;
	while (i < len) {
		i = len - i < chunk ? len : i + chunk;
		r = http_parse(&inc, buf, i, &lim, &req, &why);
		if (compared < 64 || r != 0) {
			struct http_parser p = { 0 };
			int f = http_parse(&p, buf, i, &lim, &fresh, &why);
			ASSERT(f == r);
			compared++;
		}
		if (r != 0)
			break;
	}
	if (len)
		ASSERT(r == first);
	return 0;
}
