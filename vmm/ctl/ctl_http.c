/* kvmbox ctl: the HTTP/1.1 response parser; see ctl_http.h. */
#include "ctl/ctl_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	ST_HEAD,
	ST_LEN,        /* Content-Length body */
	ST_CLOSE,      /* body until the connection ends */
	ST_CHUNK_SIZE, /* a chunk-size line */
	ST_CHUNK_DATA,
	ST_CHUNK_END,  /* the CRLF after a chunk's data */
	ST_TRAILER,    /* trailer fields after the last chunk, up to an empty line */
	ST_DONE,
	ST_ERROR,
};

void ctl_http_init(struct ctl_http_resp *r)
{
	memset(r, 0, offsetof(struct ctl_http_resp, head));
	r->head_len = 0;
	r->line_len = 0;
	r->left = 0;
	r->body_cap = 0;
	r->body_max = CTL_HTTP_BODY_MAX;
	r->state = ST_HEAD;
}

void ctl_http_free(struct ctl_http_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
}

static int fail(struct ctl_http_resp *r, int err, const char *why)
{
	r->why = why;
	r->state = ST_ERROR;
	return err;
}

static int body_add(struct ctl_http_resp *r, const char *p, size_t n)
{
	if (n > r->body_max - r->body_len)
		return fail(r, -E2BIG, "the response body is larger than this client accepts");
	size_t need = r->body_len + n + 1;
	if (need > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 4096;
		while (cap < need)
			cap *= 2;
		if (cap > r->body_max + 1)
			cap = r->body_max + 1;
		char *b = realloc(r->body, cap);
		if (!b)
			return fail(r, -ENOMEM, "out of memory for the response body");
		r->body = b;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static int done(struct ctl_http_resp *r)
{
	/* Callers may use body as a C string even when it is empty. */
	if (!r->body && body_add(r, "", 0))
		return -ENOMEM;
	r->state = ST_DONE;
	return 1;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

const char *ctl_http_header_next(const struct ctl_http_resp *r, const char *name, int *pos)
{
	for (int i = *pos + 1; i < (int)r->nfield; i++)
		if (!strcasecmp(r->field[i].name, name)) {
			*pos = i;
			return r->field[i].value;
		}
	return NULL;
}

const char *ctl_http_header(const struct ctl_http_resp *r, const char *name)
{
	int pos = -1;
	return ctl_http_header_next(r, name, &pos);
}

/* Whether the comma-separated list v holds token tok (any case). */
static bool has_token(const char *v, const char *tok)
{
	size_t n = strlen(tok);
	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *e = v;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - v) == n && !strncasecmp(v, tok, n))
			return true;
		v = e;
	}
	return false;
}

/* Split r->head into the status line and fields (NULs written in place). */
static int parse_head(struct ctl_http_resp *r)
{
	char *p = r->head, *end = r->head + r->head_len;
	if (memchr(r->head, '\0', r->head_len))
		return fail(r, -EPROTO, "the response head holds a NUL byte");
	r->nfield = 0;
	bool first = true;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		char *le = nl;
		if (le > p && le[-1] == '\r')
			le--;
		*le = '\0';
		if (memchr(p, '\r', (size_t)(le - p)))
			return fail(r, -EPROTO, "the response head holds a bare CR");
		if (first) {
			first = false;
			if (strncmp(p, "HTTP/1.", 7) || p[7] < '0' || p[7] > '9' || p[8] != ' ' || p[9] < '1' ||
			    p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
			    (p[12] != '\0' && p[12] != ' '))
				return fail(r, -EPROTO, "the response does not start with an HTTP/1.x status line");
			r->minor = p[7] - '0';
			r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		} else if (*p) {
			if (*p == ' ' || *p == '\t')
				return fail(r, -EPROTO, "the response has a folded header line");
			char *colon = strchr(p, ':');
			if (!colon || colon == p)
				return fail(r, -EPROTO, "the response has a header line without a name");
			for (char *c = p; c < colon; c++)
				if (!is_tchar((unsigned char)*c))
					return fail(r, -EPROTO, "the response has a header name with a bad character");
			if (r->nfield >= CTL_HTTP_MAX_HEADERS)
				return fail(r, -E2BIG, "the response has too many header fields");
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			char *ve = v + strlen(v);
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				*--ve = '\0';
			r->field[r->nfield].name = p;
			r->field[r->nfield].value = v;
			r->nfield++;
		}
		p = nl + 1;
	}
	return 0;
}

/* Content-Length: all fields equal, digits only, within the body limit.
 * Returns 1 with *len, 0 when absent, or an error. */
static int content_length(struct ctl_http_resp *r, uint64_t *len)
{
	const char *v, *firstv = NULL;
	int pos = -1;
	while ((v = ctl_http_header_next(r, "Content-Length", &pos))) {
		if (firstv && strcmp(v, firstv))
			return fail(r, -EPROTO, "the response has Content-Length fields that differ");
		firstv = v;
	}
	if (!firstv)
		return 0;
	uint64_t n = 0;
	size_t digits = strlen(firstv);
	if (!digits || digits > 18 || strspn(firstv, "0123456789") != digits)
		return fail(r, -EPROTO, "the response has a malformed Content-Length");
	for (const char *c = firstv; *c; c++)
		n = n * 10 + (uint64_t)(*c - '0');
	if (n > r->body_max)
		return fail(r, -E2BIG, "the response body is larger than this client accepts");
	*len = n;
	return 1;
}

/* After the head: skip a 1xx, or pick the body's framing. */
static int head_done(struct ctl_http_resp *r)
{
	int e = parse_head(r);
	if (e)
		return e;
	if (r->status < 200) {
		if (r->status == 101)
			return fail(r, -EPROTO, "the server switched protocols, which was not asked for");
		if (++r->interim > CTL_HTTP_INTERIM_MAX)
			return fail(r, -EPROTO, "the server sent too many interim (1xx) responses");
		r->head_len = 0;
		r->nfield = 0;
		return 0;
	}
	const char *conn = ctl_http_header(r, "Connection");
	r->keep_alive = r->minor >= 1 ? !(conn && has_token(conn, "close")) : (conn && has_token(conn, "keep-alive"));
	int tes = 0, pos = -1;
	const char *te = NULL, *v;
	while ((v = ctl_http_header_next(r, "Transfer-Encoding", &pos))) {
		te = v;
		tes++;
	}
	uint64_t len = 0;
	int has_len = content_length(r, &len);
	if (has_len < 0)
		return has_len;
	if (r->head_request || r->status == 204 || r->status == 304)
		return done(r);
	if (te) {
		if (has_len)
			return fail(r, -EPROTO, "the response has both Content-Length and Transfer-Encoding");
		if (tes != 1 || strcasecmp(te, "chunked"))
			return fail(r, -EPROTO, "the response has a Transfer-Encoding other than chunked");
		r->state = ST_CHUNK_SIZE;
		r->line_len = 0;
		return 0;
	}
	if (has_len) {
		r->left = len;
		if (!len)
			return done(r);
		r->state = ST_LEN;
		return 0;
	}
	r->keep_alive = false;
	r->state = ST_CLOSE;
	return 0;
}

/* Add byte c to the current line. 1 when the line is complete (in r->line,
 * without its CRLF or LF), 0 for more, or an error. */
static int line_byte(struct ctl_http_resp *r, char c)
{
	if (c == '\n') {
		if (r->line_len && r->line[r->line_len - 1] == '\r')
			r->line_len--;
		r->line[r->line_len] = '\0';
		r->line_len = 0;
		if (memchr(r->line, '\r', strlen(r->line)))
			return fail(r, -EPROTO, "the response has a bare CR in its chunked framing");
		return 1;
	}
	if (c == '\0')
		return fail(r, -EPROTO, "the response has a NUL byte in its chunked framing");
	if (r->line_len >= CTL_HTTP_LINE_MAX)
		return fail(r, -E2BIG, "the response has a chunk-size or trailer line that is too long");
	r->line[r->line_len++] = c;
	return 0;
}

static int chunk_size(struct ctl_http_resp *r)
{
	const char *p = r->line;
	uint64_t n = 0;
	int digits = 0;
	for (;; p++, digits++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
			d = (*p | 0x20) - 'a' + 10;
		else
			break;
		if (digits >= 15)
			return fail(r, -E2BIG, "the response has a chunk size that is too large");
		n = n * 16 + (uint64_t)d;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (!digits || (*p && *p != ';'))
		return fail(r, -EPROTO, "the response has a malformed chunk size");
	if (!n) {
		r->state = ST_TRAILER;
		r->left = 0; /* counts trailer lines */
		return 0;
	}
	if (n > r->body_max - r->body_len)
		return fail(r, -E2BIG, "the response body is larger than this client accepts");
	r->left = n;
	r->state = ST_CHUNK_DATA;
	return 0;
}

int ctl_http_feed(struct ctl_http_resp *r, const char *data, size_t len, size_t *used)
{
	size_t i = 0;
	int e = 0;
	*used = 0;
	if (r->state == ST_ERROR)
		return -EPROTO;
	if (r->state == ST_DONE)
		return 1;
	while (i < len) {
		switch (r->state) {
		case ST_HEAD: {
			if (r->head_len >= CTL_HTTP_HEAD_MAX)
				return fail(r, -E2BIG, "the response head is too large");
			char c = data[i++];
			r->head[r->head_len++] = c;
			/* The head ends at an empty line: "\n\n" or "\n\r\n". */
			if (c == '\n' && r->head_len >= 2 &&
			    (r->head[r->head_len - 2] == '\n' ||
			     (r->head_len >= 3 && r->head[r->head_len - 2] == '\r' && r->head[r->head_len - 3] == '\n'))) {
				r->head[r->head_len] = '\0';
				e = head_done(r);
			}
			break;
		}
		case ST_LEN:
		case ST_CHUNK_DATA: {
			size_t n = len - i;
			if (n > r->left)
				n = (size_t)r->left;
			e = body_add(r, data + i, n);
			i += n;
			r->left -= n;
			if (!e && !r->left) {
				if (r->state == ST_LEN)
					e = done(r);
				else
					r->state = ST_CHUNK_END;
			}
			break;
		}
		case ST_CLOSE:
			e = body_add(r, data + i, len - i);
			i = len;
			break;
		case ST_CHUNK_SIZE:
			e = line_byte(r, data[i++]);
			if (e == 1)
				e = chunk_size(r);
			break;
		case ST_CHUNK_END:
			e = line_byte(r, data[i++]);
			if (e == 1)
				e = r->line[0] ? fail(r, -EPROTO, "the response has data after a chunk's end")
					       : (r->state = ST_CHUNK_SIZE, 0);
			break;
		case ST_TRAILER:
			e = line_byte(r, data[i++]);
			if (e == 1) {
				if (!r->line[0])
					e = done(r);
				else if (++r->left > CTL_HTTP_MAX_HEADERS)
					e = fail(r, -E2BIG, "the response has too many trailer fields");
				else
					e = 0;
			}
			break;
		default:
			return -EPROTO;
		}
		if (e < 0)
			return e;
		if (r->state == ST_DONE) {
			*used = i;
			return 1;
		}
	}
	*used = i;
	return 0;
}

int ctl_http_eof(struct ctl_http_resp *r)
{
	switch (r->state) {
	case ST_DONE:
		return 1;
	case ST_CLOSE:
		return done(r);
	case ST_ERROR:
		return -EPROTO;
	case ST_HEAD:
		if (!r->head_len && !r->interim)
			return fail(r, -EPROTO, "the server closed the connection without a response");
		/* fall through */
	default:
		return fail(r, -EPROTO, "the server closed the connection in the middle of the response");
	}
}

int ctl_path_add(char *buf, size_t size, const char *name)
{
	size_t n = strlen(buf);
	/* "." and ".." would be dot-segments, which a URL resolver removes. */
	bool dots = !strcmp(name, ".") || !strcmp(name, "..");
	if (!*name)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		bool plain = isalnum(*p) || *p == '-' || *p == '_' || (*p == '.' && !dots) || *p == '~';
		if (n + (plain ? 1 : 3) >= size)
			return -ENOSPC;
		if (plain)
			buf[n++] = (char)*p;
		else
			n += (size_t)snprintf(buf + n, size - n, "%%%02X", *p);
	}
	buf[n] = '\0';
	return 0;
}
