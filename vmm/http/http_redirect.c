/* Port 80 redirector; see http_redirect.h. */
#include "http/http_redirect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The Host header is client input that goes into our Location header: only
 * a name ([A-Za-z0-9.-]) or a bracketed IPv6 address passes. */
static size_t host_valid(struct http_str h, char *out, size_t size)
{
	size_t n = h.len;
	if (n == 0)
		return 0;
	if (h.p[0] == '[') {
		const char *close = memchr(h.p, ']', n);
		if (!close)
			return 0;
		n = (size_t)(close - h.p) + 1;
		for (size_t i = 1; i + 1 < n; i++)
			if (!strchr("0123456789abcdefABCDEF:.", h.p[i]))
				return 0;
		if (n < 3)
			return 0;
	} else {
		const char *colon = memchr(h.p, ':', n);
		if (colon)
			n = (size_t)(colon - h.p);
		for (size_t i = 0; i < n; i++) {
			char c = h.p[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
			      c == '-'))
				return 0;
		}
	}
	if (n == 0 || n > 255 || n >= size)
		return 0;
	memcpy(out, h.p, n);
	out[n] = '\0';
	return n;
}

static void host_from_local(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
			inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(out, size, "%s", a);
		} else {
			inet_ntop(AF_INET6, &a6->sin6_addr, a, sizeof(a));
			snprintf(out, size, "[%s]", a);
		}
	} else if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
		snprintf(out, size, "%s", a);
	} else {
		snprintf(out, size, "localhost");
	}
}

int http_redirect_location(const struct http_request *req, const struct http_conn_info *info, int https_port,
			   char *out, size_t size)
{
	char host[264], port[8] = "";
	if (!host_valid(req->host, host, sizeof(host)))
		host_from_local(&info->local, host, sizeof(host));
	if (https_port != 443)
		snprintf(port, sizeof(port), ":%d", https_port);
	/* The target passed the parser: printable ASCII, no spaces, starts
	 * with '/', so it is safe to copy into a header. */
	int n = snprintf(out, size, "https://%s%s%.*s", host, port, (int)req->target.len, req->target.p);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

void http_redirect_dispatch(const struct http_request *req, const struct http_conn_info *info,
			    struct http_response *resp, void *ctx)
{
	const struct http_redirect *r = ctx;
	char loc[HTTP_EXTRA_HEADERS - 16];
	if (req->body_pending)
		return; /* answer once the body is in, as before streaming existed */
	if (http_redirect_location(req, info, r->https_port, loc, sizeof(loc)) < 0) {
		http_resp_error(resp, 414, "the path is too long to redirect to HTTPS");
		return;
	}
	http_resp_static(resp, 308, NULL, NULL, 0);
	if (http_resp_header(resp, "Location", loc))
		http_resp_error(resp, 414, "the path is too long to redirect to HTTPS");
}
