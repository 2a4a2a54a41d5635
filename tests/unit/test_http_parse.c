/* Host unit tests (ASan + UBSan) for the HTTP request parser, the router,
 * responses and the port 80 redirect: request shapes, every refusal with
 * its status, limits, pipelining, and input fed one byte at a time. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/http_parse.h"
#include "http/http_redirect.h"
#include "http/http_response.h"
#include "http/http_router.h"
#include "json.h"

static struct http_limits lim;

/* Parse s in one go from a fresh parser. */
static int parse(const char *s, struct http_request *req)
{
	struct http_parser p = { 0 };
	const char *why;
	return http_parse(&p, s, strlen(s), &lim, req, &why);
}

static int status_of(const char *s)
{
	struct http_request req;
	int r = parse(s, &req);
	return r < 0 ? -r : (r > 0 ? 200 : 0);
}

/* Feed s one byte at a time through one parser, as a slow client would:
 * every prefix but the full one must say "more", the full one the length. */
static int bytewise(const char *s, size_t want)
{
	struct http_parser p = { 0 };
	struct http_request req;
	const char *why;
	size_t len = strlen(s);
	char *buf = malloc(len); /* exact size: ASan catches any read past the input */
	for (size_t i = 1; i <= len; i++) {
		memcpy(buf, s, i);
		int r = http_parse(&p, buf, i, &lim, &req, &why);
		if (i < want && r != 0) {
			free(buf);
			return 0;
		}
		if (i == want) {
			free(buf);
			return r == (int)want;
		}
	}
	free(buf);
	return 0;
}

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t a = strlen(prefix), b = strlen(suffix);
	char *s = malloc(a + n + b + 1);
	memcpy(s, prefix, a);
	memset(s + a, c, n);
	memcpy(s + a + n, suffix, b + 1);
	return s;
}

static void test_shapes(void)
{
	struct http_request req;
	const char *get = "GET /api/host?x=1&y HTTP/1.1\r\nHost: kvmbox:8443\r\nUser-Agent: t\r\n"
			  "Accept:   */*  \r\n\r\n";
	CHECK("get_complete", parse(get, &req) == (int)strlen(get));
	CHECK("get_method", req.method == HTTP_GET);
	CHECK("get_path", http_str_eq(req.path, "/api/host"));
	CHECK("get_query", http_str_eq(req.query, "x=1&y"));
	CHECK("get_target", http_str_eq(req.target, "/api/host?x=1&y"));
	CHECK("get_host", http_str_eq(req.host, "kvmbox:8443"));
	CHECK("get_header_trimmed", http_header_get(&req, "accept") && http_str_eq(*http_header_get(&req, "ACCEPT"), "*/*"));
	CHECK("get_nhdr", req.nhdr == 3);
	CHECK("get_keepalive_11", req.keep_alive && req.minor == 1);
	CHECK("get_no_body", req.body.len == 0 && !req.has_length);

	CHECK("http10_close", parse("GET / HTTP/1.0\r\n\r\n", &req) > 0 && !req.keep_alive && req.minor == 0);
	CHECK("http10_keepalive", parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req) > 0 && req.keep_alive);
	CHECK("http11_close", parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &req) > 0 &&
				      !req.keep_alive);
	CHECK("empty_host_ok", parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req) > 0 && req.host.len == 0);

	const char *post = "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
	CHECK("post_complete", parse(post, &req) == (int)strlen(post));
	CHECK("post_body", http_str_eq(req.body, "hello") && req.content_length == 5);
	CHECK("post_partial_body", parse("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel", &req) == 0);
	CHECK("post_zero_length", parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req) > 0);
	CHECK("get_with_body", parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", &req) > 0 &&
				       http_str_eq(req.body, "ab"));
	CHECK("expect_continue", parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
				       &req) == 0);
	CHECK("expect_flag", req.expect_continue);
	const char *methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };
	for (unsigned i = 0; i < 7; i++) {
		char buf[128];
		snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", methods[i]);
		CHECK("method_known", parse(buf, &req) > 0 && !strcmp(http_method_name(req.method), methods[i]));
	}
	CHECK("header_obs_text", parse("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", &req) > 0);
	CHECK("incomplete_head", parse("GET / HTTP/1.1\r\nHost: a\r\n", &req) == 0);
	CHECK("incomplete_line", parse("GET / HTTP/1.1\r", &req) == 0);
}

static void test_refusals(void)
{
	CHECK("400_bare_lf", status_of("GET / HTTP/1.1\nHost: a\n\n") == 400);
	CHECK("400_bare_cr", status_of("GET / HTTP/1.1\rHost: a\r\n\r\n") == 400);
	CHECK("400_no_host", status_of("GET / HTTP/1.1\r\n\r\n") == 400);
	CHECK("400_two_hosts", status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
	CHECK("400_obs_fold", status_of("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n") == 400);
	CHECK("400_space_before_colon", status_of("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == 400);
	CHECK("400_no_colon", status_of("GET / HTTP/1.1\r\nHost a\r\n\r\n") == 400);
	CHECK("400_empty_name", status_of("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_ctl_in_value", status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n") == 400);
	CHECK("400_del_in_value", status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n") == 400);
	CHECK("400_bad_length", status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n") == 400);
	CHECK("400_negative_length", status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n") == 400);
	CHECK("400_list_length", status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n") == 400);
	CHECK("400_empty_length", status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n") == 400);
	CHECK("400_huge_length_digits",
	      status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n") == 400);
	CHECK("400_dup_length",
	      status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na") == 400);
	CHECK("400_empty_request", status_of("\r\n\r\n") == 400);
	CHECK("400_two_spaces", status_of("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_no_version", status_of("GET /\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_bad_version", status_of("GET / HTTP/1.x\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_lower_proto", status_of("GET / http/1.1\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_absolute_form", status_of("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_asterisk", status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_bad_method_token", status_of("G(T / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_nonascii_target", status_of("GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
	CHECK("400_trailing_space", status_of("GET / HTTP/1.1 \r\nHost: a\r\n\r\n") == 400);
	CHECK("411_post", status_of("POST / HTTP/1.1\r\nHost: a\r\n\r\n") == 411);
	CHECK("411_put", status_of("PUT / HTTP/1.1\r\nHost: a\r\n\r\n") == 411);
	CHECK("411_patch", status_of("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n") == 411);
	CHECK("417_expect", status_of("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n") == 417);
	CHECK("501_method", status_of("BREW / HTTP/1.1\r\nHost: a\r\n\r\n") == 501);
	CHECK("501_lowercase_method", status_of("get / HTTP/1.1\r\nHost: a\r\n\r\n") == 501);
	CHECK("501_connect", status_of("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n") == 501);
	CHECK("501_chunked", status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
	CHECK("501_te_and_cl",
	      status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
	CHECK("505_http2", status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505);
	CHECK("505_http12", status_of("GET / HTTP/1.2\r\nHost: a\r\n\r\n") == 505);
	CHECK("505_http09", status_of("GET / HTTP/0.9\r\nHost: a\r\n\r\n") == 505);
}

static void test_limits(void)
{
	struct http_request req;
	char buf[64];
	/* Request line: the limit itself passes, one more byte is 414. */
	size_t pathlen = lim.max_request_line - strlen("GET / HTTP/1.1") + 1; /* path of '/' + a's */
	char *ok = repeat("GET /", 'a', pathlen - 1, " HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK("line_at_limit", parse(ok, &req) > 0);
	free(ok);
	char *big = repeat("GET /", 'a', pathlen, " HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK("414_complete", status_of(big) == 414);
	free(big);
	/* Without the line's end, 414 as soon as it cannot fit. */
	char *trickle = repeat("GET /", 'a', lim.max_request_line + 10, "");
	CHECK("414_incomplete", status_of(trickle) == 414);
	free(trickle);
	char *under = repeat("GET /", 'a', lim.max_request_line - 10, "");
	CHECK("line_incomplete_under_limit", status_of(under) == 0);
	free(under);

	/* Head size: 431, whether or not it is complete. */
	char *fat = repeat("GET / HTTP/1.1\r\nHost: a\r\nX: ", 'b', lim.max_head, "\r\n\r\n");
	CHECK("431_head_complete", status_of(fat) == 431);
	fat[strlen(fat) - 4] = '\0';
	CHECK("431_head_incomplete", status_of(fat) == 431);
	free(fat);
	/* Header count. */
	size_t cap = 64 + (lim.max_headers + 1) * 16;
	char *many = malloc(cap);
	size_t n = (size_t)snprintf(many, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 0; i < lim.max_headers; i++)
		n += (size_t)snprintf(many + n, cap - n, "X%u: y\r\n", i);
	snprintf(many + n, cap - n, "\r\n");
	CHECK("431_too_many_headers", status_of(many) == 431);
	free(many);

	/* Body size. */
	snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", lim.max_body + 1);
	CHECK("413_body", status_of(buf) == 413);
	snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", lim.max_body);
	CHECK("body_at_limit_waits", status_of(buf) == 0);

	/* Smaller limits from "name=value". */
	struct http_limits l2;
	http_limits_default(&l2);
	CHECK("limits_set_ok", http_limits_set(&l2, "max_body=10") == 0 && l2.max_body == 10);
	CHECK("limits_set_ms", http_limits_set(&l2, "header_ms=250") == 0 && l2.header_ms == 250);
	CHECK("limits_set_unknown", http_limits_set(&l2, "max_bogus=1") == -EINVAL);
	CHECK("limits_set_zero", http_limits_set(&l2, "max_body=0") == -EINVAL);
	CHECK("limits_set_junk", http_limits_set(&l2, "max_body=1k") == -EINVAL);
	CHECK("limits_set_negative", http_limits_set(&l2, "max_body=-1") == -EINVAL);
	CHECK("limits_set_headers_cap", http_limits_set(&l2, "max_headers=65") == -EINVAL);
	CHECK("limits_set_noeq", http_limits_set(&l2, "max_body") == -EINVAL);
	struct http_parser p = { 0 };
	const char *why;
	struct http_request req2;
	const char *s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
	CHECK("413_small_limit", http_parse(&p, s, strlen(s), &l2, &req2, &why) == -413 && why[0]);

	/* The head alone: done whatever the Content-Length, so that a body
	 * taken as a stream can be far above max_body; http_parse afterwards
	 * waits for the body without refusing it. */
	memset(&p, 0, sizeof(p));
	const char *up = "PUT /i HTTP/1.1\r\nHost: a\r\nContent-Length: 68719476736\r\n\r\nxy";
	size_t hl = strlen(up) - 2;
	CHECK("head_only_big", http_parse_head(&p, up, strlen(up), &l2, &req2, &why) == (int)hl &&
				       req2.content_length == 68719476736ull && req2.head_len == hl);
	CHECK("head_only_again", http_parse_head(&p, up, strlen(up), &l2, &req2, &why) == (int)hl);
	CHECK("head_then_body_waits", http_parse(&p, up, strlen(up), &l2, &req2, &why) == 0);
	memset(&p, 0, sizeof(p));
	CHECK("head_only_partial", http_parse_head(&p, up, 10, &l2, &req2, &why) == 0 && p.head_len == 0);
	memset(&p, 0, sizeof(p));
	s = "PUT /i HTTP/1.1\r\nHost: a\r\n\r\n";
	CHECK("head_only_411", http_parse_head(&p, s, strlen(s), &l2, &req2, &why) == -411 && why[0]);
	memset(&p, 0, sizeof(p));
	s = "PUT /i HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
	CHECK("head_only_chunked_501", http_parse_head(&p, s, strlen(s), &l2, &req2, &why) == -501);
}

static void test_bytewise(void)
{
	const char *get = "GET /a/b?c HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
	CHECK("bytewise_get", bytewise(get, strlen(get)));
	const char *post = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789";
	CHECK("bytewise_post", bytewise(post, strlen(post)));
	/* A refusal must come at the byte that settles it, not before. */
	struct http_parser p = { 0 };
	struct http_request req;
	const char *why, *bad = "GET / HTTP/1.1\r\nHost: a\nX";
	int r = 0;
	size_t i;
	for (i = 1; i <= strlen(bad) && r == 0; i++)
		r = http_parse(&p, bad, i, &lim, &req, &why);
	CHECK("bytewise_bare_lf_at_lf", r == -400 && i - 1 == strlen("GET / HTTP/1.1\r\nHost: a\n"));
}

static void test_pipelining(void)
{
	const char *s = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
			"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
			"GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
			"GET /four";
	struct http_parser p = { 0 };
	struct http_request req;
	const char *why;
	size_t off = 0, len = strlen(s);
	int r = http_parse(&p, s + off, len - off, &lim, &req, &why);
	CHECK("pipe_first", r > 0 && http_str_eq(req.path, "/one"));
	off += (size_t)r;
	memset(&p, 0, sizeof(p));
	r = http_parse(&p, s + off, len - off, &lim, &req, &why);
	CHECK("pipe_second", r > 0 && http_str_eq(req.path, "/two") && http_str_eq(req.body, "xyz"));
	off += (size_t)r;
	memset(&p, 0, sizeof(p));
	r = http_parse(&p, s + off, len - off, &lim, &req, &why);
	CHECK("pipe_third", r > 0 && http_str_eq(req.path, "/three") && !req.keep_alive);
	off += (size_t)r;
	memset(&p, 0, sizeof(p));
	r = http_parse(&p, s + off, len - off, &lim, &req, &why);
	CHECK("pipe_fourth_incomplete", r == 0 && off + strlen("GET /four") == len);
}

static int handled;
static void h_ok(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		 void *ctx)
{
	(void)req;
	(void)ctx;
	handled++;
	const struct http_str *id = http_param(params, "id");
	http_resp_static(resp, 200, "text/plain", id ? id->p : "ok", id ? id->len : 2);
}

static const struct http_route routes[] = {
	{ HTTP_GET, "/api/host", h_ok },
	{ HTTP_GET, "/api/vms/{id}", h_ok },
	{ HTTP_DELETE, "/api/vms/{id}", h_ok },
	{ HTTP_GET, "/", h_ok },
};

/* The error body must be the documented shape, with this code. */
static int error_shape(const struct http_response *r, const char *code)
{
	struct json_token tok[16];
	struct json_doc doc;
	if (!r->body || json_parse(&doc, r->body, r->body_len, 4096, tok, 16, NULL))
		return 0;
	int e = json_get(&doc, 0, "error");
	char msg[256];
	return json_type(&doc, e) == JSON_OBJECT && json_streq(&doc, json_get(&doc, e, "code"), code) &&
	       json_get_string(&doc, json_get(&doc, e, "message"), msg, sizeof(msg)) > 0 && doc.tok[0].count == 1 &&
	       doc.tok[e].count == 2;
}

static void route(const char *s, struct http_response *resp)
{
	struct http_request req;
	http_resp_init(resp);
	if (parse(s, &req) <= 0) {
		resp->status = -1;
		return;
	}
	http_route(routes, sizeof(routes) / sizeof(routes[0]), &req, resp, NULL);
}

static void test_router(void)
{
	struct http_response r;
	struct http_params pr;
	CHECK("match_literal", http_route_match("/api/host", (struct http_str){ "/api/host", 9 }, NULL));
	CHECK("match_trailing_slash", !http_route_match("/api/host", (struct http_str){ "/api/host/", 10 }, NULL));
	CHECK("match_prefix", !http_route_match("/api/host", (struct http_str){ "/api/hos", 8 }, NULL));
	CHECK("match_longer", !http_route_match("/api", (struct http_str){ "/api/host", 9 }, NULL));
	CHECK("match_root", http_route_match("/", (struct http_str){ "/", 1 }, NULL));
	CHECK("match_param", http_route_match("/api/vms/{id}", (struct http_str){ "/api/vms/web1", 13 }, &pr) &&
				     pr.n == 1 && http_str_eq(pr.p[0].value, "web1") && http_str_eq(pr.p[0].name, "id"));
	CHECK("match_param_empty", !http_route_match("/api/vms/{id}", (struct http_str){ "/api/vms/", 9 }, NULL));
	CHECK("match_double_slash", !http_route_match("/api/host", (struct http_str){ "//api/host", 10 }, NULL));

	handled = 0;
	route("GET /api/host HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK("route_get", r.status == 200 && handled == 1);
	http_resp_free(&r);
	route("HEAD /api/host HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK("route_head_is_get", r.status == 200 && handled == 2);
	http_resp_free(&r);
	route("GET /api/vms/abc?x HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK("route_param", r.status == 200 && r.body_len == 3 && !memcmp(r.body, "abc", 3));
	http_resp_free(&r);
	route("GET /api/nothing HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK("route_404", r.status == 404 && error_shape(&r, "not_found"));
	http_resp_free(&r);
	route("POST /api/vms/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &r);
	CHECK("route_405", r.status == 405 && error_shape(&r, "method_not_allowed"));
	CHECK("route_405_allow", strstr(r.extra, "Allow: GET, HEAD, DELETE, OPTIONS\r\n") != NULL);
	http_resp_free(&r);
	route("OPTIONS /api/host HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK("route_options", r.status == 204 && strstr(r.extra, "Allow: GET, HEAD, OPTIONS\r\n"));
	char head[HTTP_EXTRA_HEADERS + 512];
	CHECK("head_204_no_length", http_resp_head(&r, true, head, sizeof(head)) > 0 && !strstr(head, "Content-Length") &&
					    strstr(head, "Allow: GET"));
	http_resp_free(&r);
	route("GET /api/\"<x> HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK("route_404_quotes_escaped", r.status == 404 && error_shape(&r, "not_found"));
	http_resp_free(&r);

	/* At the end of the head (body_pending) the plain routes do nothing,
	 * not even a 404; only a head route that matches runs. */
	struct http_request req;
	static const struct http_head_route heads[] = { { HTTP_PUT, "/api/vms/{id}", h_ok } };
	parse("PUT /api/vms/q HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", &req);
	req.body_pending = true;
	int before = handled;
	http_resp_init(&r);
	r.status = 0;
	http_route(routes, sizeof(routes) / sizeof(routes[0]), &req, &r, NULL);
	CHECK("route_pending_silent", r.status == 0 && handled == before);
	http_route_head(heads, 1, &req, &r, NULL);
	CHECK("route_head_runs", r.status == 200 && handled == before + 1 && r.body_len == 1 && r.body[0] == 'q');
	http_resp_free(&r);
	http_resp_init(&r);
	r.status = 0;
	parse("POST /api/vms/q HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", &req);
	req.body_pending = true;
	http_route_head(heads, 1, &req, &r, NULL);
	CHECK("route_head_other_method", r.status == 0 && handled == before + 1);
	req.body_pending = false;
	http_route_head(heads, 1, &req, &r, NULL);
	CHECK("route_head_only_pending", r.status == 0 && handled == before + 1);
	http_resp_free(&r);
}

static void test_response(void)
{
	struct http_response r;
	char head[HTTP_EXTRA_HEADERS + 512];
	http_resp_init(&r);
	http_resp_error(&r, 413, "too big: %d", 5);
	CHECK("error_json", error_shape(&r, "body_too_large") && strstr(r.body, "too big: 5"));
	size_t n = http_resp_head(&r, true, head, sizeof(head));
	char want[128];
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n", r.body_len);
	CHECK("head_status", n > 0 && !strncmp(head, "HTTP/1.1 413 Content Too Large\r\n", 32));
	CHECK("head_length", strstr(head, want) != NULL);
	CHECK("head_type", strstr(head, "Content-Type: application/json\r\n") != NULL);
	CHECK("head_keepalive", strstr(head, "Connection: keep-alive\r\n") != NULL);
	CHECK("head_ends_blank", n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4));
	CHECK("head_too_small", http_resp_head(&r, false, head, 20) == 0);
	CHECK("header_crlf_refused", http_resp_header(&r, "X", "a\r\nSet-Cookie: x") == -EINVAL);
	CHECK("header_name_refused", http_resp_header(&r, "X: y", "a") == -EINVAL);
	char *big = repeat("", 'v', HTTP_EXTRA_HEADERS, "");
	CHECK("header_too_big", http_resp_header(&r, "X", big) == -ENOSPC && r.extra_len == 0);
	free(big);
	http_resp_free(&r);
	/* A control character or non-ASCII in a message does not break the JSON. */
	http_resp_init(&r);
	http_resp_error(&r, 400, "bad \x01 \xff byte");
	CHECK("error_sanitized", error_shape(&r, "bad_request"));
	http_resp_free(&r);
	CHECK("codes", !strcmp(http_status_code(431), "headers_too_large") &&
			       !strcmp(http_status_code(414), "request_line_too_long") &&
			       !strcmp(http_status_reason(505), "HTTP Version Not Supported"));
}

static void test_redirect(void)
{
	struct http_request req;
	struct http_conn_info info = { 0 };
	struct sockaddr_in *a4 = (struct sockaddr_in *)&info.local;
	a4->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &a4->sin_addr);
	char loc[512];

	parse("GET /api/host?a=b HTTP/1.1\r\nHost: kvmbox.lan:80\r\n\r\n", &req);
	CHECK("redirect_host_port_stripped", http_redirect_location(&req, &info, 443, loc, sizeof(loc)) > 0 &&
						     !strcmp(loc, "https://kvmbox.lan/api/host?a=b"));
	CHECK("redirect_port", http_redirect_location(&req, &info, 8443, loc, sizeof(loc)) > 0 &&
				       !strcmp(loc, "https://kvmbox.lan:8443/api/host?a=b"));
	parse("GET / HTTP/1.1\r\nHost: [fe80::1]:80\r\n\r\n", &req);
	CHECK("redirect_ipv6_host", http_redirect_location(&req, &info, 443, loc, sizeof(loc)) > 0 &&
					    !strcmp(loc, "https://[fe80::1]/"));
	parse("GET /x HTTP/1.1\r\nHost: evil.com/\"><script>\r\n\r\n", &req);
	CHECK("redirect_bad_host_local", http_redirect_location(&req, &info, 443, loc, sizeof(loc)) > 0 &&
						 !strcmp(loc, "https://192.0.2.7/x"));
	parse("GET /y HTTP/1.0\r\n\r\n", &req);
	CHECK("redirect_no_host_local", http_redirect_location(&req, &info, 8443, loc, sizeof(loc)) > 0 &&
						!strcmp(loc, "https://192.0.2.7:8443/y"));
	CHECK("redirect_too_long", http_redirect_location(&req, &info, 443, loc, 10) == -ENOSPC);

	struct http_response r;
	struct http_redirect rd = { .https_port = 443 };
	http_resp_init(&r);
	parse("POST /z HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &req);
	http_redirect_dispatch(&req, &info, &r, &rd);
	CHECK("redirect_308", r.status == 308 && strstr(r.extra, "Location: https://h/z\r\n") && r.body_len == 0);
	http_resp_free(&r);
}

int main(void)
{
	http_limits_default(&lim);
	test_shapes();
	test_refusals();
	test_limits();
	test_bytewise();
	test_pipelining();
	test_router();
	test_response();
	test_redirect();
	return CHECK_DONE();
}
