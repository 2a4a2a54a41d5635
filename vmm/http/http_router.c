/* HTTP router; see http_router.h. Routes are a short constant table, so a
 * linear scan is the simplest thing that is fast enough. */
#include "http/http_router.h"

#include <stdio.h>
#include <string.h>

const struct http_str *http_param(const struct http_params *params, const char *name)
{
	for (unsigned i = 0; i < params->n; i++)
		if (http_str_eq(params->p[i].name, name))
			return &params->p[i].value;
	return NULL;
}

int http_route_match(const char *pattern, struct http_str path, struct http_params *params)
{
	struct http_params local;
	if (!params)
		params = &local;
	params->n = 0;
	const char *pp = pattern;
	size_t i = 0;
	/* Walk both a segment at a time; both start with '/'. */
	while (*pp && i < path.len) {
		if (*pp != '/' || path.p[i] != '/')
			return 0;
		pp++;
		i++;
		const char *pe = strchr(pp, '/');
		size_t plen = pe ? (size_t)(pe - pp) : strlen(pp);
		size_t s = i;
		while (i < path.len && path.p[i] != '/')
			i++;
		struct http_str seg = { path.p + s, i - s };
		if (plen >= 2 && pp[0] == '{' && pp[plen - 1] == '}') {
			if (seg.len == 0 || params->n >= HTTP_MAX_PARAMS)
				return 0;
			params->p[params->n].name = (struct http_str){ pp + 1, plen - 2 };
			params->p[params->n].value = seg;
			params->n++;
		} else if (seg.len != plen || memcmp(seg.p, pp, plen)) {
			return 0;
		}
		pp += plen;
	}
	return !*pp && i == path.len;
}

void http_route(const struct http_route *routes, size_t n, const struct http_request *req,
		struct http_response *resp, void *ctx)
{
	enum http_method want = req->method == HTTP_HEAD ? HTTP_GET : req->method;
	struct http_params params;
	char allow[96] = "";
	if (req->body_pending)
		return;
	size_t alen = 0;
	bool path_known = false;

	for (size_t i = 0; i < n; i++) {
		if (!http_route_match(routes[i].pattern, req->path, &params))
			continue;
		if (routes[i].method == want) {
			routes[i].fn(req, &params, resp, ctx);
			return;
		}
		path_known = true;
		const char *m = http_method_name(routes[i].method);
		if (!strstr(allow, m) && alen + strlen(m) + 8 < sizeof(allow)) {
			/* GET implies HEAD. */
			alen += (size_t)snprintf(allow + alen, sizeof(allow) - alen, "%s%s%s", alen ? ", " : "",
						 m, routes[i].method == HTTP_GET ? ", HEAD" : "");
		}
	}
	if (!path_known) {
		http_resp_error(resp, 404, "there is nothing at %.*s", (int)(req->path.len > 200 ? 200 : req->path.len),
				req->path.p);
		return;
	}
	if (alen + 10 < sizeof(allow))
		snprintf(allow + alen, sizeof(allow) - alen, ", OPTIONS");
	if (req->method == HTTP_OPTIONS) {
		http_resp_static(resp, 204, NULL, NULL, 0);
		http_resp_header(resp, "Allow", allow);
		return;
	}
	http_resp_error(resp, 405, "%s is not allowed on %.*s; allowed: %s", http_method_name(req->method),
			(int)(req->path.len > 200 ? 200 : req->path.len), req->path.p, allow);
	http_resp_header(resp, "Allow", allow);
}

void http_route_head(const struct http_head_route *routes, size_t n, const struct http_request *req,
		     struct http_response *resp, void *ctx)
{
	struct http_params params;
	if (!req->body_pending)
		return;
	for (size_t i = 0; i < n; i++)
		if (routes[i].method == req->method && http_route_match(routes[i].pattern, req->path, &params)) {
			routes[i].fn(req, &params, resp, ctx);
			return;
		}
}
