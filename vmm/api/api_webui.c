/* GET / and GET /assets/NAME: the web console's files, from memory (see
 * api_webui.h). Each is sent gzip-compressed when the client accepts gzip,
 * with an ETag from its hash, and with the headers that keep the page's
 * scripts to its own files and the page out of other sites' frames. */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/api_webui.h"

/* Scripts only from this origin, never inline (no 'unsafe-inline', no
 * eval). Styles may be inline: xterm.js sizes and colours the terminal with
 * <style> elements it makes at run time. */
#define WEBUI_CSP                                                                                             \
	"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "          \
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; "     \
	"frame-ancestors 'none'"

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* A qvalue that is zero: "0", "0.", "0.0", "0.00", "0.000". */
static bool q_zero(const char *p, size_t n)
{
	if (!n || p[0] != '0')
		return false;
	for (size_t i = 1; i < n; i++)
		if (p[i] != '.' && p[i] != '0')
			return false;
	return true;
}

/* Whether Accept-Encoding allows gzip (RFC 9110 12.5.3): "gzip", "x-gzip"
 * or "*" with a q other than 0. */
static bool accepts_gzip(const struct http_request *req)
{
	const struct http_str *h = http_header_get(req, "Accept-Encoding");
	if (!h)
		return false;
	const char *p = h->p, *end = h->p + h->len;
	while (p < end) {
		const char *e = memchr(p, ',', (size_t)(end - p));
		if (!e)
			e = end;
		const char *s = p;
		while (s < e && is_space(*s))
			s++;
		const char *t = s;
		while (t < e && *t != ';' && !is_space(*t))
			t++;
		size_t tl = (size_t)(t - s);
		bool name = (tl == 4 && !strncasecmp(s, "gzip", 4)) || (tl == 6 && !strncasecmp(s, "x-gzip", 6)) ||
			    (tl == 1 && *s == '*');
		bool zero = false;
		/* Parameters: ";q=0" turns the coding off. */
		for (const char *q = t; q < e; q++) {
			if (*q != ';')
				continue;
			q++;
			while (q < e && is_space(*q))
				q++;
			if (q + 2 <= e && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
				const char *v = q + 2, *ve = v;
				while (ve < e && *ve != ';' && !is_space(*ve))
					ve++;
				zero = q_zero(v, (size_t)(ve - v));
			}
		}
		if (name)
			return !zero;
		p = e + 1;
	}
	return false;
}

static void send_asset(const struct http_request *req, const struct webui_asset *a, struct http_response *resp)
{
	bool gz = a->gz && accepts_gzip(req);
	http_resp_static(resp, 200, a->content_type, (const char *)(gz ? a->gz : a->data), gz ? a->gz_len : a->len);
	if (gz)
		http_resp_header(resp, "Content-Encoding", "gzip");
	http_resp_header(resp, "Vary", "Accept-Encoding");
	http_resp_header(resp, "ETag", gz ? a->etag_gz : a->etag);
	http_resp_header(resp, "Content-Security-Policy", WEBUI_CSP);
	http_resp_header(resp, "X-Frame-Options", "DENY");
	http_resp_header(resp, "Referrer-Policy", "no-referrer");
	http_resp_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
}

static const struct webui_asset *find(const char *name, size_t len)
{
	for (size_t i = 0; i < webui_nassets; i++)
		if (strlen(webui_assets[i].name) == len && !memcmp(webui_assets[i].name, name, len))
			return &webui_assets[i];
	return NULL;
}

void api_webui_index(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)params;
	(void)ctx;
	const struct webui_asset *a = find("index.html", 10);
	if (!a) {
		http_resp_error(resp, 404, "this kvmbox was built without its web console");
		return;
	}
	send_asset(req, a, resp);
}

void api_webui_asset(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)ctx;
	const struct http_str *name = http_param(params, "name");
	const struct webui_asset *a = find(name->p, name->len);
	/* The page is at / only, so that it has one address. */
	if (!a || (name->len == 10 && !memcmp(name->p, "index.html", 10))) {
		http_resp_error(resp, 404, "there is no asset %.*s", (int)(name->len > 100 ? 100 : name->len),
				name->p);
		return;
	}
	send_asset(req, a, resp);
}
