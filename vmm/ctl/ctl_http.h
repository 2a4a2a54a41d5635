/* kvmbox ctl: the HTTP/1.1 response parser.
 *
 * The bytes come from the server at the other end of the network, so the
 * parser bounds everything: the head (status line and headers) to
 * CTL_HTTP_HEAD_MAX bytes and CTL_HTTP_MAX_HEADERS fields, the body to the
 * caller's body_max, a chunk-size line to CTL_HTTP_LINE_MAX. Bodies are
 * framed by Content-Length, chunked Transfer-Encoding or the end of the
 * connection (RFC 9112 6.3); 1xx interim responses are skipped. A response
 * with both Content-Length and Transfer-Encoding, a Transfer-Encoding other
 * than chunked, or differing Content-Length values is refused: a client that
 * guesses the framing can be fed a second, forged response.
 *
 * Incremental: feed whatever the socket gave, in any split. It has no
 * mbedtls in it, so it is unit-tested and fuzzed on the host.
 */
#ifndef KVMBOX_CTL_HTTP_H
#define KVMBOX_CTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_HTTP_HEAD_MAX (32 * 1024)   /* status line + headers, bytes */
#define CTL_HTTP_MAX_HEADERS 64         /* header fields */
#define CTL_HTTP_LINE_MAX 1024          /* a chunk-size or trailer line */
#define CTL_HTTP_BODY_MAX (64u << 20)   /* the default body limit, bytes */
#define CTL_HTTP_INTERIM_MAX 8          /* 1xx responses before the real one */

struct ctl_http_field {
	const char *name;  /* NUL-terminated, inside head */
	const char *value; /* NUL-terminated, surrounding spaces trimmed */
};

struct ctl_http_resp {
	/* Results. */
	int status;       /* 100..599 */
	int minor;        /* HTTP/1.minor */
	bool keep_alive;  /* the connection may carry another request */
	struct ctl_http_field field[CTL_HTTP_MAX_HEADERS];
	unsigned nfield;
	char *body;       /* malloc'd, NUL-terminated (the NUL is not counted) */
	size_t body_len;
	const char *why;  /* after an error: what was wrong, for a person */

	/* Settings (ctl_http_init fills them; change before the first feed). */
	size_t body_max;
	bool head_request; /* the request was HEAD: no body whatever the headers say */

	/* Parser state. */
	int state;
	int interim;
	char head[CTL_HTTP_HEAD_MAX + 1];
	size_t head_len;
	char line[CTL_HTTP_LINE_MAX + 1];
	size_t line_len;
	uint64_t left;    /* body bytes (Content-Length) or chunk bytes still due */
	size_t body_cap;
};

void ctl_http_init(struct ctl_http_resp *r);
void ctl_http_free(struct ctl_http_resp *r);

/* Parse data[0..len). Returns 1 when the response is complete (*used says
 * how many bytes it took; the rest belongs to whatever comes next), 0 when
 * it needs more, or -EPROTO (malformed), -E2BIG (past a limit), -ENOMEM,
 * with r->why set. After an error or completion further feeds fail. */
int ctl_http_feed(struct ctl_http_resp *r, const char *data, size_t len, size_t *used);

/* The connection ended. 1 if that completes the response (a body framed
 * by the end of the connection, or a response already complete), else
 * -EPROTO with r->why. */
int ctl_http_eof(struct ctl_http_resp *r);

/* The value of the first field called name (any case), or NULL. */
const char *ctl_http_header(const struct ctl_http_resp *r, const char *name);
/* The next field called name after index *pos (start with *pos = -1). */
const char *ctl_http_header_next(const struct ctl_http_resp *r, const char *name, int *pos);

/* Append name to the path in buf as one percent-encoded segment (all but
 * unreserved characters), so that a name never adds a segment or a query.
 * 0, -EINVAL for an empty name, or -ENOSPC. */
int ctl_path_add(char *buf, size_t size, const char *name);

#endif
