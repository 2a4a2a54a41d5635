/* A tiny HTTP/1.1 client for the supervisor's local socket: one request per
 * connection (Connection: close), the reply read whole into memory. The
 * server is ours and local, so this parses only what it sends: a status
 * line, headers with Content-Length, a body. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "console/console.h"

#define CAPI_REPLY_MAX (8u << 20) /* the log ring and a console ring fit easily */
#define CAPI_TOKENS_MAX 16384

static int dial(const char *sock, int timeout_ms)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof(un.sun_path))
		return -ENAMETOOLONG;
	strcpy(un.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Bounded waits: a busy supervisor (hashing a password) answers late,
	 * a wedged one must not freeze the console forever. */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&un, sizeof(un))) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The value of header name in head (up to the blank line), or NULL. */
static const char *header(const char *head, const char *name)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, name, nl) && l[2 + nl] == ':')
			return l + 3 + nl;
	return NULL;
}

/* Read the reply into r: until the body is whole or the server closes. */
static int read_reply(int fd, struct capi_resp *r)
{
	size_t cap = 16384, len = 0, want = 0;
	char *buf = malloc(cap + 1);
	const char *eoh = NULL;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= CAPI_REPLY_MAX) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
			eoh = NULL; /* it moved */
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno == EAGAIN ? -ETIMEDOUT : -errno;
			free(buf);
			return e;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (!eoh && (eoh = strstr(buf, "\r\n\r\n"))) {
			const char *cl = header(buf, "Content-Length");
			want = (size_t)(eoh + 4 - buf) + (cl ? strtoul(cl, NULL, 10) : 0);
			if (!cl)
				want = (size_t)-1; /* until the server closes */
		}
		if (n == 0 || (eoh && len >= want))
			break;
	}
	if (!eoh || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
		free(buf);
		return -EPROTO;
	}
	const char *off = header(buf, "X-Console-Offset");
	r->has_offset = off != NULL;
	r->offset = off ? strtoull(off, NULL, 10) : 0;
	r->buf = buf;
	r->body = eoh + 4;
	r->len = len - (size_t)(eoh + 4 - buf);
	if (want != (size_t)-1 && r->len > want - (size_t)(eoh + 4 - buf))
		r->len = want - (size_t)(eoh + 4 - buf);
	buf[(size_t)(r->body - buf) + r->len] = '\0';
	return 0;
}

int capi_call(const char *sock, const char *method, const char *path, const char *ctype, const void *body,
	      size_t blen, int timeout_ms, struct capi_resp *r)
{
	char head[1024];
	memset(r, 0, sizeof(*r));
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: %zu\r\n"
			 "%s%s%s\r\n",
			 method, path, blen, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENAMETOOLONG;
	int fd = dial(sock, timeout_ms);
	if (fd < 0)
		return fd;
	int e = send_all(fd, head, (size_t)n);
	if (!e && blen)
		e = send_all(fd, body, blen);
	if (!e)
		e = read_reply(fd, r);
	close(fd);
	return e;
}

void capi_free(struct capi_resp *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

int capi_json(const struct capi_resp *r, struct json_doc *d, struct json_token **tok)
{
	struct json_error je;
	*tok = malloc(CAPI_TOKENS_MAX * sizeof(**tok));
	if (!*tok)
		return -ENOMEM;
	if (json_parse(d, r->body, r->len, CAPI_REPLY_MAX, *tok, CAPI_TOKENS_MAX, &je)) {
		free(*tok);
		*tok = NULL;
		return -EPROTO;
	}
	return 0;
}

void capi_error(const struct capi_resp *r, char *buf, size_t size)
{
	struct json_doc d;
	struct json_token *tok;
	snprintf(buf, size, "the supervisor answered %d", r->status);
	if (capi_json(r, &d, &tok))
		return;
	json_get_string(&d, json_get(&d, json_get(&d, 0, "error"), "message"), buf, size);
	if (!buf[0])
		snprintf(buf, size, "the supervisor answered %d", r->status);
	free(tok);
}

int capi_do(struct con *c, const char *method, const char *path, const char *json, int timeout_ms,
	    struct capi_resp *r)
{
	int e = capi_call(c->sock, method, path, json ? "application/json" : NULL, json, json ? strlen(json) : 0,
			  timeout_ms, r);
	if (e) {
		ui_msg(c, true, "cannot reach the supervisor on %s: %s", c->sock, strerror(-e));
		return -1;
	}
	if (r->status >= 300) {
		char why[160];
		capi_error(r, why, sizeof(why));
		ui_msg(c, true, "%s", why);
	}
	return r->status;
}
