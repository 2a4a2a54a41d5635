/* HTTP/1.1 request parser; see http_parse.h. RFC 9110 and 9112 are the
 * reference; where they allow leniency (bare LF, obs-fold, several equal
 * Content-Lengths, leading blank lines) this parser refuses instead, because
 * every leniency is a place where two parsers can disagree about where a
 * request ends. */
#include "http/http_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void http_limits_default(struct http_limits *l)
{
	*l = (struct http_limits){
		.max_request_line = HTTP_DEFAULT_MAX_REQUEST_LINE,
		.max_head = HTTP_DEFAULT_MAX_HEAD,
		.max_headers = HTTP_DEFAULT_MAX_HEADERS,
		.max_body = HTTP_DEFAULT_MAX_BODY,
		.max_conns = HTTP_DEFAULT_MAX_CONNS,
		.handshake_ms = HTTP_DEFAULT_HANDSHAKE_MS,
		.header_ms = HTTP_DEFAULT_HEADER_MS,
		.body_ms = HTTP_DEFAULT_BODY_MS,
		.idle_ms = HTTP_DEFAULT_IDLE_MS,
		.write_ms = HTTP_DEFAULT_WRITE_MS,
	};
}

/* Upper bounds for http_limits_set, so that sizes added together stay well
 * inside an int and a typo cannot ask for gigabytes per connection. */
#define LIMIT_SIZE_CAP (64u << 20)
#define LIMIT_MS_CAP (24u * 3600 * 1000)
#define LIMIT_CONNS_CAP 65536u

int http_limits_set(struct http_limits *l, const char *a)
{
	const char *eq = strchr(a, '=');
	if (!eq || eq[1] < '0' || eq[1] > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(eq + 1, &end, 10);
	if (errno || *end || v == 0)
		return -EINVAL;
	size_t n = (size_t)(eq - a);
#define SET(field, cap)                                                         \
	if (n == sizeof(#field) - 1 && !memcmp(a, #field, n)) {                 \
		if (v > (cap))                                                  \
			return -EINVAL;                                         \
		l->field = (__typeof__(l->field))v;                             \
		return 0;                                                       \
	}
	SET(max_request_line, LIMIT_SIZE_CAP)
	SET(max_head, LIMIT_SIZE_CAP)
	SET(max_headers, HTTP_MAX_HEADERS)
	SET(max_body, LIMIT_SIZE_CAP)
	SET(max_conns, LIMIT_CONNS_CAP)
	SET(handshake_ms, LIMIT_MS_CAP)
	SET(header_ms, LIMIT_MS_CAP)
	SET(body_ms, LIMIT_MS_CAP)
	SET(idle_ms, LIMIT_MS_CAP)
	SET(write_ms, LIMIT_MS_CAP)
#undef SET
	return -EINVAL;
}

static const char *const method_names[] = {
	[HTTP_UNKNOWN] = "UNKNOWN", [HTTP_GET] = "GET",       [HTTP_HEAD] = "HEAD",
	[HTTP_POST] = "POST",       [HTTP_PUT] = "PUT",       [HTTP_PATCH] = "PATCH",
	[HTTP_DELETE] = "DELETE",   [HTTP_OPTIONS] = "OPTIONS",
};

const char *http_method_name(enum http_method m)
{
	return (unsigned)m < sizeof(method_names) / sizeof(method_names[0]) ? method_names[m] : "UNKNOWN";
}

bool http_str_eq(struct http_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len == n && (n == 0 || !memcmp(s.p, c, n));
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool http_str_ieq(struct http_str s, const char *c)
{
	size_t n = strlen(c);
	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.p[i]) != lower((unsigned char)c[i]))
			return false;
	return true;
}

const struct http_str *http_header_get(const struct http_request *req, const char *name)
{
	for (unsigned i = 0; i < req->nhdr; i++)
		if (http_str_ieq(req->hdr[i].name, name))
			return &req->hdr[i].value;
	return NULL;
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field value bytes: visible ASCII, space, tab and obs-text; no controls. */
static bool is_vchar_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static enum http_method method_parse(const char *p, size_t n)
{
	for (unsigned m = HTTP_GET; m <= HTTP_OPTIONS; m++)
		if (strlen(method_names[m]) == n && !memcmp(method_names[m], p, n))
			return (enum http_method)m;
	return HTTP_UNKNOWN;
}

#define FAIL(status, text)            \
	do {                          \
		*why = text;          \
		return -(status);     \
	} while (0)

/* Find the end of the head ("\r\n\r\n"), looking only at bytes not seen
 * before. Returns the head length, 0 if it is not there yet, or -status.
 * Each byte is judged once, in order, and every refusal is decided at the
 * byte that settles it, so the answer never depends on how the input was
 * split into reads. */
static int head_scan(struct http_parser *p, const char *buf, size_t len, const struct http_limits *lim,
		     const char **why)
{
	for (size_t i = p->scanned; i < len; i++) {
		char c = buf[i];
		if (i > 0 && buf[i - 1] == '\r' && c != '\n')
			FAIL(400, "a CR in the request head is not followed by LF");
		/* Line of max_request_line bytes, CR at [max], LF at [max + 1]. */
		if (!p->line_done && i >= lim->max_request_line + 2)
			FAIL(414, "the request line is longer than this server accepts");
		if (i >= lim->max_head)
			FAIL(431, "the request headers are larger than this server accepts");
		if (c == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				FAIL(400, "lines in the request head must end in CRLF, not a bare LF");
			p->line_done = true;
			if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
				p->scanned = i + 1;
				return (int)(i + 1);
			}
		}
	}
	p->scanned = len;
	return 0;
}

static int parse_version(const char *p, size_t n, int *minor, const char **why)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) || p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' ||
	    p[7] > '9')
		FAIL(400, "the request line does not end in a valid HTTP version");
	if (p[5] != '1' || p[7] > '1')
		FAIL(505, "only HTTP/1.0 and HTTP/1.1 are supported");
	*minor = p[7] - '0';
	return 0;
}

static int parse_request_line(const char *buf, size_t n, const struct http_limits *lim,
			      struct http_request *req, const char **why)
{
	if (n > lim->max_request_line)
		FAIL(414, "the request line is longer than this server accepts");
	if (n == 0)
		FAIL(400, "the request line is empty");
	const char *sp1 = memchr(buf, ' ', n);
	if (!sp1 || sp1 == buf)
		FAIL(400, "the request line must be METHOD TARGET VERSION");
	const char *t = sp1 + 1;
	const char *end = buf + n;
	const char *sp2 = memchr(t, ' ', (size_t)(end - t));
	if (!sp2 || sp2 == t)
		FAIL(400, "the request line must be METHOD TARGET VERSION");
	for (const char *q = buf; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			FAIL(400, "the method is not a valid token");
	int r = parse_version(sp2 + 1, (size_t)(end - sp2 - 1), &req->minor, why);
	if (r)
		return r;
	for (const char *q = t; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			FAIL(400, "the request target holds a character that must be percent-encoded");
	if (*t != '/')
		FAIL(400, "the request target must be a path starting with '/'");
	req->method = method_parse(buf, (size_t)(sp1 - buf));
	if (req->method == HTTP_UNKNOWN)
		FAIL(501, "this server does not implement that method");
	req->target = (struct http_str){ t, (size_t)(sp2 - t) };
	const char *qm = memchr(t, '?', req->target.len);
	req->path = (struct http_str){ t, qm ? (size_t)(qm - t) : req->target.len };
	req->query = qm ? (struct http_str){ qm + 1, (size_t)(sp2 - qm - 1) } : (struct http_str){ sp2, 0 };
	return 0;
}

static int parse_length(struct http_str v, uint64_t *out, const char **why)
{
	uint64_t n = 0;
	if (v.len == 0 || v.len > 18)
		FAIL(400, "Content-Length must be a decimal number of at most 18 digits");
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			FAIL(400, "Content-Length must be a decimal number of at most 18 digits");
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	*out = n;
	return 0;
}

/* Connection: a comma-separated list of tokens; only close and keep-alive
 * mean anything to us. */
static void parse_connection(struct http_str v, struct http_request *req)
{
	size_t i = 0;
	while (i < v.len) {
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
			i++;
		size_t s = i;
		while (i < v.len && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t')
			i++;
		struct http_str tok = { v.p + s, i - s };
		if (http_str_ieq(tok, "close"))
			req->keep_alive = false;
		else if (http_str_ieq(tok, "keep-alive") && req->minor == 0)
			req->keep_alive = true;
	}
}

static int parse_headers(const char *p, const char *end, const struct http_limits *lim,
			 struct http_request *req, const char **why)
{
	unsigned max = lim->max_headers < HTTP_MAX_HEADERS ? lim->max_headers : HTTP_MAX_HEADERS;
	bool have_host = false;
	while (p < end) {
		const char *eol = memchr(p, '\r', (size_t)(end - p)); /* head_scan: every CR is a CRLF */
		if (!eol)
			FAIL(400, "a header line is not terminated");
		if (eol == p)
			break; /* the blank line */
		if (*p == ' ' || *p == '\t')
			FAIL(400, "folded header lines (obs-fold) are not accepted");
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			FAIL(400, "a header line has no name followed by ':'");
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				FAIL(400, "a header name holds a character that is not allowed (space before ':'?)");
		const char *v = colon + 1, *ve = eol;
		for (const char *q = v; q < ve; q++)
			if (!is_vchar_ws((unsigned char)*q))
				FAIL(400, "a header value holds a control character");
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (req->nhdr >= max)
			FAIL(431, "the request has more header fields than this server accepts");
		struct http_header *h = &req->hdr[req->nhdr++];
		h->name = (struct http_str){ p, (size_t)(colon - p) };
		h->value = (struct http_str){ v, (size_t)(ve - v) };

		if (http_str_ieq(h->name, "Content-Length")) {
			if (req->has_length)
				FAIL(400, "Content-Length is given more than once");
			int r = parse_length(h->value, &req->content_length, why);
			if (r)
				return r;
			req->has_length = true;
		} else if (http_str_ieq(h->name, "Transfer-Encoding")) {
			FAIL(501, "Transfer-Encoding is not supported; send the body with a Content-Length");
		} else if (http_str_ieq(h->name, "Host")) {
			if (have_host)
				FAIL(400, "Host is given more than once");
			have_host = true;
			req->host = h->value;
		} else if (http_str_ieq(h->name, "Connection")) {
			parse_connection(h->value, req);
		} else if (http_str_ieq(h->name, "Expect")) {
			if (!http_str_ieq(h->value, "100-continue"))
				FAIL(417, "the only expectation this server meets is 100-continue");
			req->expect_continue = true;
		}
		p = eol + 2;
	}
	if (req->minor == 1 && !have_host)
		FAIL(400, "HTTP/1.1 requests must have a Host header");
	return 0;
}

int http_parse_head(struct http_parser *p, const char *buf, size_t len, const struct http_limits *lim,
		    struct http_request *req, const char **why)
{
	*why = "";
	if (p->head_len)
		return (int)p->head_len;
	int h = head_scan(p, buf, len, lim, why);
	if (h <= 0)
		return h;
	size_t head = (size_t)h;
	const char *nl = memchr(buf, '\n', head); /* found: head_scan saw the head's end */
	size_t line = (size_t)(nl - buf) - 1;
	memset(req, 0, sizeof(*req));
	int r = parse_request_line(buf, line, lim, req, why);
	if (r)
		return r;
	req->keep_alive = req->minor == 1;
	r = parse_headers(nl + 1, buf + head, lim, req, why);
	if (r)
		return r;
	if (!req->has_length && (req->method == HTTP_POST || req->method == HTTP_PUT || req->method == HTTP_PATCH))
		FAIL(411, "a request with a body needs a Content-Length header");
	req->head_len = head;
	p->head_len = head;
	return h;
}

int http_parse(struct http_parser *p, const char *buf, size_t len, const struct http_limits *lim,
	       struct http_request *req, const char **why)
{
	*why = "";
	if (!p->head_len) {
		int h = http_parse_head(p, buf, len, lim, req, why);
		if (h <= 0)
			return h;
		if (req->content_length > lim->max_body) {
			p->head_len = 0; /* refused: the head is not a request to go on with */
			FAIL(413, "the request body is larger than this server accepts");
		}
	}
	size_t total = p->head_len + (size_t)req->content_length;
	if (len < total)
		return 0;
	req->body = (struct http_str){ buf + p->head_len, (size_t)req->content_length };
	return (int)total;
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	}
	return "Unknown";
}

const char *http_status_code(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 408: return "request_timeout";
	case 409: return "conflict";
	case 411: return "length_required";
	case 413: return "body_too_large";
	case 414: return "request_line_too_long";
	case 415: return "unsupported_media_type";
	case 417: return "expectation_failed";
	case 422: return "invalid_value";
	case 426: return "upgrade_required";
	case 429: return "too_many_requests";
	case 431: return "headers_too_large";
	case 501: return "not_implemented";
	case 503: return "unavailable";
	case 505: return "version_not_supported";
	}
	return status >= 500 ? "internal_error" : "error";
}
