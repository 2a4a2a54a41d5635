/* HTTP router: method + path pattern -> handler.
 *
 * A pattern is a path whose segments are literal or "{name}"; "{name}"
 * matches one non-empty segment, which the handler gets in params. A path
 * no pattern matches is 404; a path that matches under other methods only
 * is 405 with an Allow header (OPTIONS gets 204 and the same Allow). HEAD is
 * served by GET's handler; the server drops the body.
 */
#ifndef KVMBOX_HTTP_ROUTER_H
#define KVMBOX_HTTP_ROUTER_H

#include <stddef.h>

#include "http/http_parse.h"
#include "http/http_response.h"

#define HTTP_MAX_PARAMS 4

struct http_params {
	unsigned n;
	struct {
		struct http_str name, value;
	} p[HTTP_MAX_PARAMS];
};

typedef void (*http_handler_fn)(const struct http_request *req, const struct http_params *params,
				struct http_response *resp, void *ctx);

struct http_route {
	enum http_method method;
	const char *pattern;
	http_handler_fn fn;
};

/* A route that looks at a request with a body at the end of its head,
 * before any body byte is read (req->body_pending; see http_server.h). Its
 * fn may take the body as a stream (http_resp_stream), answer at once (the
 * body is then never read and the connection closes), or do neither: then
 * the body is read whole, within max_body, and the plain route runs. */
struct http_head_route {
	enum http_method method;
	const char *pattern;
	http_handler_fn fn;
};

/* Value of parameter name, or NULL. */
const struct http_str *http_param(const struct http_params *params, const char *name);

/* 1 if path matches pattern (params, if not NULL, then holds the captures). */
int http_route_match(const char *pattern, struct http_str path, struct http_params *params);

/* Find the route for req among routes[0..n) and run it, or fill resp with
 * the 404/405 error. While req->body_pending it does nothing: the 404 or
 * 405 comes once the body is in. */
void http_route(const struct http_route *routes, size_t n, const struct http_request *req,
		struct http_response *resp, void *ctx);
/* While req->body_pending: run the head route that matches req, if any. */
void http_route_head(const struct http_head_route *routes, size_t n, const struct http_request *req,
		     struct http_response *resp, void *ctx);

#endif
