/* The auth gate in front of every API route: who is asking, and may they.
 *
 * Public: POST /api/auth/login and POST /api/auth/setup (which refuses by
 * itself once an admin exists or when not asked from loopback), POST
 * /api/auth/reset (which refuses anywhere but the local socket), and GET /
 * and GET /assets/NAME, the web console's login page and its files (never
 * anything under /api but those three POSTs). Everything
 * else needs "Authorization: Bearer TOKEN" or the kvmbox_session cookie;
 * with the cookie, a changing request (anything but GET, HEAD, OPTIONS) must
 * also carry the session's X-CSRF-Token, because a browser sends cookies
 * with cross-site requests too. A bearer token is never sent by a browser on
 * its own, so it needs no CSRF token.
 *
 * The local socket (/run/kvmbox/api.sock, mode 0600: root on the appliance,
 * i.e. the text console) is the admin without any of that: whoever can open
 * it could read the state directory anyway.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "api/api.h"

uint64_t api_auth_now_ms(void);
uint64_t api_auth_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void peer_addr(const struct sockaddr_storage *ss, uint8_t out[16], bool *loopback)
{
	memset(out, 0, 16);
	*loopback = false;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
		*loopback = out[12] == 127;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		memcpy(out, &in6->sin6_addr, 16);
		*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
			    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && out[12] == 127);
	}
}

static bool route_exists(const struct http_request *req)
{
	enum http_method want = req->method == HTTP_HEAD ? HTTP_GET : req->method;
	for (size_t i = 0; i < api_nroutes; i++)
		if (api_routes[i].method == want && http_route_match(api_routes[i].pattern, req->path, NULL))
			return true;
	return false;
}

static bool is_public(const struct http_request *req)
{
	/* The web console's page and its files: the login screen needs them
	 * before anyone is logged in, and they hold no secrets. */
	if (req->method == HTTP_GET || req->method == HTTP_HEAD)
		return http_str_eq(req->path, "/") || http_route_match("/assets/{name}", req->path, NULL);
	/* /api/auth/reset answers 403 by itself anywhere but the local socket:
	 * say so to everyone, logged in or not. */
	return req->method == HTTP_POST &&
	       (http_str_eq(req->path, "/api/auth/login") || http_str_eq(req->path, "/api/auth/setup") ||
		http_str_eq(req->path, "/api/auth/reset"));
}

static bool is_safe(enum http_method m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS;
}

int api_auth_gate(struct api_ctx *a, const struct http_request *req, const struct http_conn_info *info,
		  struct http_response *resp)
{
	struct api_auth *au = a->auth;
	struct api_who *who = &au->who;
	memset(who, 0, sizeof(*who));
	peer_addr(&info->peer, who->peer, &who->loopback);
	if (info->trusted) {
		who->local = true;
		who->user = AUTH_ADMIN;
		return 1;
	}
	if (!route_exists(req) || is_public(req))
		return 1;

	const struct http_str *h = http_header_get(req, "Authorization");
	if (h) {
		const char *tok;
		size_t tlen;
		uint8_t sum[32];
		if (!auth_bearer_get(h->p, h->len, &tok, &tlen)) {
			http_resp_error(resp, 401, "Authorization must be \"Bearer TOKEN\" (an API token)");
			return 0;
		}
		auth_sha256(tok, tlen, sum);
		struct auth_token *t = auth_store_token_by_hash(&au->store, sum);
		if (!t) {
			http_resp_error(resp, 401, "the API token is not valid (wrong, or revoked)");
			return 0;
		}
		who->token = t;
		who->user = t->user;
		return 1;
	}

	h = http_header_get(req, "Cookie");
	const char *v;
	size_t vlen;
	if (!h || !auth_cookie_get(h->p, h->len, "kvmbox_session", &v, &vlen)) {
		if (!auth_store_user(&au->store, AUTH_ADMIN))
			http_resp_error(resp, 401, "no admin password is set yet: set one with POST /api/auth/setup "
					"from this machine, or with --admin-hash");
		else
			http_resp_error(resp, 401, "log in first (POST /api/auth/login), or send "
					"\"Authorization: Bearer TOKEN\"");
		return 0;
	}
	struct auth_session *s = auth_session_find(&au->sessions, v, vlen, api_auth_now_ms());
	if (!s) {
		http_resp_error(resp, 401, "the session has ended (logout, timeout or restart); log in again");
		return 0;
	}
	if (!is_safe(req->method)) {
		const struct http_str *c = http_header_get(req, "X-CSRF-Token");
		size_t want = strlen(s->csrf);
		if (!c || c->len != want || !auth_ct_eq(c->p, s->csrf, want)) {
			http_resp_error(resp, 403, "%s needs the session's CSRF token in X-CSRF-Token (from the "
					"login reply or GET /api/auth/session)", http_method_name(req->method));
			return 0;
		}
	}
	who->session = s;
	who->user = s->user;
	return 1;
}
