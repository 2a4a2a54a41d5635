/* The parsers of a seed fetch (see seed_http.h): the URL from the kernel
 * command line and the server's response. Both are outside input; nothing
 * here does I/O, so the unit tests and the fuzzer drive it directly. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "seed_http.h"

int seed_is_url(const char *s)
{
	return strstr(s, "://") != NULL;
}

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int url_host(const char *a, size_t n, struct seed_url *u, char *err, size_t errlen)
{
	const char *colon = memchr(a, ':', n);
	size_t hlen = colon ? (size_t)(colon - a) : n;
	if (memchr(a, '@', n)) {
		snprintf(err, errlen, "user names and passwords in the URL are not supported");
		return -EINVAL;
	}
	if (n && a[0] == '[') {
		snprintf(err, errlen, "IPv6 addresses are not supported; use an IPv4 address or a name");
		return -EINVAL;
	}
	if (!hlen || hlen >= sizeof(u->host)) {
		snprintf(err, errlen, "the URL needs a host name or IPv4 address (at most %zu characters)",
			 sizeof(u->host) - 1);
		return -EINVAL;
	}
	int digits_only = 1;
	for (size_t i = 0; i < hlen; i++) {
		if (!host_char(a[i])) {
			snprintf(err, errlen, "the host in the URL has a bad character (0x%02x)", (unsigned char)a[i]);
			return -EINVAL;
		}
		if (!(a[i] >= '0' && a[i] <= '9') && a[i] != '.')
			digits_only = 0;
	}
	memcpy(u->host, a, hlen);
	u->host[hlen] = '\0';
	struct in_addr in;
	if (inet_pton(AF_INET, u->host, &in) == 1) {
		u->addr = in.s_addr;
	} else if (digits_only) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 address (four numbers 0-255)", u->host);
		return -EINVAL;
	}
	u->port = 80;
	if (colon) {
		unsigned long port = 0;
		size_t plen = n - hlen - 1;
		for (size_t i = 0; i < plen; i++) {
			char c = colon[1 + i];
			if (c < '0' || c > '9' || port > 65535) {
				port = 0;
				break;
			}
			port = port * 10 + (unsigned long)(c - '0');
		}
		if (!plen || port == 0 || port > 65535) {
			snprintf(err, errlen, "the port in the URL must be a number from 1 to 65535");
			return -EINVAL;
		}
		u->port = (uint16_t)port;
	}
	return 0;
}

int seed_url_parse(const char *url, struct seed_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (!strncasecmp(url, "https://", 8)) {
		snprintf(err, errlen, "https:// is not supported at boot (there are no CA certificates to check the "
				      "server with); use http:// and kvmbox.seedsha256=HEX to pin it");
		return -EPROTONOSUPPORT;
	}
	if (strncasecmp(url, "http://", 7)) {
		snprintf(err, errlen, "only http:// URLs are supported (or an absolute path)");
		return -EINVAL;
	}
	const char *a = url + 7;
	size_t n = strcspn(a, "/?#");
	if (url_host(a, n, u, err, errlen) < 0)
		return -EINVAL;
	const char *p = a + n;
	size_t plen = strcspn(p, "#"); /* the fragment is the client's, never sent */
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f) {
			snprintf(err, errlen, "the URL's path has a space or control character; escape it as %%XX");
			return -EINVAL;
		}
	int slash = plen == 0 || p[0] != '/';
	if (plen + slash >= sizeof(u->path)) {
		snprintf(err, errlen, "the URL's path is longer than %zu characters", sizeof(u->path) - 1);
		return -EINVAL;
	}
	snprintf(u->path, sizeof(u->path), "%s%.*s", slash ? "/" : "", (int)plen, p);
	return 0;
}

/* The next line of buf from *pos, without its CRLF (or bare LF): 1 and the
 * line, 0 when no line end is within max bytes of *pos yet. */
static int next_line(const char *buf, size_t len, size_t *pos, size_t max, const char **line, size_t *n)
{
	size_t avail = len - *pos < max ? len - *pos : max;
	const char *nl = memchr(buf + *pos, '\n', avail);
	if (!nl)
		return 0;
	*line = buf + *pos;
	*n = (size_t)(nl - *line);
	if (*n && (*line)[*n - 1] == '\r')
		(*n)--;
	*pos = (size_t)(nl - buf) + 1;
	return 1;
}

static int fail(char *err, size_t errlen, int r, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return r;
}

static int status_line(const char *l, size_t n, struct seed_http_resp *r)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
		return -EPROTO;
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return -EPROTO;
	if (n > 12 && l[12] != ' ')
		return -EPROTO;
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	size_t rl = n > 13 ? n - 13 : 0;
	if (rl >= sizeof(r->reason))
		rl = sizeof(r->reason) - 1;
	for (size_t i = 0; i < rl; i++) /* shown in the log: printable only */
		r->reason[i] = l[13 + i] >= 0x20 && l[13 + i] < 0x7f ? l[13 + i] : '?';
	r->reason[rl] = '\0';
	return 0;
}

struct framing {
	int chunked;
	long long length; /* -1: until the connection closes */
};

static int header(const char *l, size_t n, struct framing *f, char *err, size_t errlen)
{
	const char *colon = memchr(l, ':', n);
	if (!colon || colon == l || l[0] == ' ' || l[0] == '\t')
		return fail(err, errlen, -EPROTO, "malformed header line (or an obsolete folded one)");
	size_t name = (size_t)(colon - l);
	const char *v = colon + 1, *end = l + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vn = (size_t)(end - v);
	if (name == 14 && !strncasecmp(l, "Content-Length", 14)) {
		long long x = 0;
		if (!vn || vn > 18)
			return fail(err, errlen, -EPROTO, "bad Content-Length");
		for (size_t i = 0; i < vn; i++) {
			if (v[i] < '0' || v[i] > '9')
				return fail(err, errlen, -EPROTO, "bad Content-Length");
			x = x * 10 + (v[i] - '0');
		}
		if (f->length >= 0 && f->length != x)
			return fail(err, errlen, -EPROTO, "two different Content-Length headers");
		f->length = x;
	} else if (name == 17 && !strncasecmp(l, "Transfer-Encoding", 17)) {
		if (vn != 7 || strncasecmp(v, "chunked", 7))
			return fail(err, errlen, -EPROTO, "unsupported Transfer-Encoding (only chunked)");
		f->chunked = 1;
	}
	return 0;
}

/* A chunked body from pos. Same returns as seed_http_parse. */
static int chunked_body(const char *buf, size_t len, size_t pos, int eof, struct seed_http_resp *r, char *body,
			size_t bodymax, char *err, size_t errlen)
{
	const char *l;
	size_t n;
	for (;;) {
		if (!next_line(buf, len, &pos, 1024, &l, &n)) {
			if (len - pos >= 1024)
				return fail(err, errlen, -EPROTO, "a chunk size line longer than 1 KiB");
			return eof ? fail(err, errlen, -EIO, "the connection closed in a chunk size line") : 0;
		}
		unsigned long long size = 0;
		size_t i = 0;
		for (; i < n; i++) {
			char c = l[i];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				break;
			if (size > (1ull << 40))
				return fail(err, errlen, -EFBIG, "a chunk larger than the seed may be");
			size = size * 16 + (unsigned)d;
		}
		if (i == 0 || (i < n && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
			return fail(err, errlen, -EPROTO, "bad chunk size line");
		if (size == 0) { /* trailers, up to an empty line */
			for (;;) {
				if (!next_line(buf, len, &pos, SEED_HTTP_HEADER_MAX, &l, &n)) {
					if (len - pos >= SEED_HTTP_HEADER_MAX)
						return fail(err, errlen, -EPROTO, "trailers longer than 16 KiB");
					return eof ? fail(err, errlen, -EIO, "the connection closed in the trailers") : 0;
				}
				if (!n) {
					return 1;
				}
			}
		}
		if (size > bodymax - r->body_len)
			return fail(err, errlen, -EFBIG, "the body is larger than the seed may be");
		if (len - pos < size + 1)
			return eof ? fail(err, errlen, -EIO, "the connection closed in a chunk") : 0;
		memcpy(body + r->body_len, buf + pos, size);
		r->body_len += size;
		pos += size;
		if (buf[pos] == '\r') {
			if (len - pos < 2)
				return eof ? fail(err, errlen, -EIO, "the connection closed in a chunk") : 0;
			pos++;
		}
		if (buf[pos] != '\n')
			return fail(err, errlen, -EPROTO, "a chunk does not end with CRLF");
		pos++;
	}
}

int seed_http_parse(const char *buf, size_t len, int eof, struct seed_http_resp *r, char *body, size_t bodymax,
		    char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	err[0] = '\0';
	size_t pos = 0;
	const char *l;
	size_t n;
	struct framing f = { 0, -1 };
	int first = 1;
	for (;;) {
		if (!next_line(buf, len, &pos, SEED_HTTP_HEADER_MAX - pos, &l, &n)) {
			if (len >= SEED_HTTP_HEADER_MAX)
				return fail(err, errlen, -EPROTO, "the response headers are longer than 16 KiB");
			return eof ? fail(err, errlen, -EIO, "the connection closed before the headers ended") : 0;
		}
		if (first) {
			if (status_line(l, n, r) < 0)
				return fail(err, errlen, -EPROTO, "not an HTTP/1.x response");
			first = 0;
		} else if (!n) {
			break;
		} else if (header(l, n, &f, err, errlen) < 0) {
			return -EPROTO;
		}
	}
	if (r->status != 200)
		return 1; /* refused by the caller with the status; the body is not wanted */
	if (f.chunked && f.length >= 0)
		return fail(err, errlen, -EPROTO, "both Content-Length and chunked");
	if (f.chunked)
		return chunked_body(buf, len, pos, eof, r, body, bodymax, err, errlen);
	size_t have = len - pos;
	if (f.length >= 0) {
		if ((unsigned long long)f.length > bodymax)
			return fail(err, errlen, -EFBIG, "the body is larger than the seed may be");
		if (have < (size_t)f.length) {
			if (eof)
				snprintf(err, errlen, "the connection closed after %zu of %lld bytes", have, f.length);
			return eof ? -EIO : 0;
		}
		have = (size_t)f.length;
	} else if (have > bodymax) {
		return fail(err, errlen, -EFBIG, "the body is larger than the seed may be");
	} else if (!eof) {
		return 0; /* no length given: the body ends when the connection does */
	}
	memcpy(body, buf + pos, have);
	r->body_len = have;
	return 1;
}

int seed_hex32(const char *hex, uint8_t out[32])
{
	if (strlen(hex) != 64)
		return -EINVAL;
	for (int i = 0; i < 64; i++) {
		char c = hex[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		if (i % 2)
			out[i / 2] = (uint8_t)(out[i / 2] | d);
		else
			out[i / 2] = (uint8_t)(d << 4);
	}
	return 0;
}
