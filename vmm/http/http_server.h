/* The HTTP server: one epoll loop, many connections, any transport.
 *
 * One thread serves every connection: each is a small state machine
 * (handshake, read a request, write the response) driven by readiness
 * events, so a slow client costs a buffer and never blocks another. Every
 * state has a deadline from struct http_limits (handshake, request head,
 * body, write, idle keep-alive); a connection past its deadline is closed,
 * after a 408 when it was in the middle of a request.
 *
 * Bodies: when the head of a request with a Content-Length is in, and before
 * any body byte is taken, the dispatcher is called once with
 * req->body_pending set (the router runs the matching route's head
 * function). It can answer at once (a 401, say: the body is never read and
 * the connection closes), take the body as a stream (http_resp_stream: the
 * sink gets each chunk as it arrives, through a buffer of HTTP_STREAM_BUF
 * bytes, up to HTTP_UPLOAD_MAX bytes; a client must then send something at
 * least every body_ms, a progress deadline instead of a whole-body one), or
 * do nothing: the body is then read into memory, within max_body and in
 * body_ms in all, and the dispatcher is called again with the request whole.
 *
 * The transport (TLS, or plain TCP for the port 80 redirector) is a table of
 * functions, so this file never sees mbedtls and builds on the host for the
 * unit tests and fuzzers.
 */
#ifndef KVMBOX_HTTP_SERVER_H
#define KVMBOX_HTTP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "http/http_parse.h"
#include "http/http_response.h"

#define HTTP_MAX_LISTENERS 4
#define HTTP_UPLOAD_MAX (64ull << 30) /* bytes of a body taken as a stream, instead of max_body */
#define HTTP_STREAM_BUF (64u << 10)   /* a streaming connection's input buffer */
#define HTTP_MAX_WATCHES 4

/* What transport calls return besides byte counts and -errno. */
#define HTTP_WANT_READ (-100001)
#define HTTP_WANT_WRITE (-100002)

struct http_transport {
	const char *name; /* "https", "http" */
	/* Per-connection state for socket fd, or NULL (out of memory). */
	void *(*open)(void *tctx, int fd);
	/* 0 when done, HTTP_WANT_*, or -errno (the peer gets nothing more). */
	int (*handshake)(void *conn);
	/* > 0 bytes, 0 at end of stream, HTTP_WANT_*, or -errno. */
	ssize_t (*recv)(void *conn, void *buf, size_t len);
	ssize_t (*send)(void *conn, const void *buf, size_t len);
	/* Say goodbye (TLS close_notify), best effort, without blocking. */
	void (*shutdown)(void *conn);
	void (*close)(void *conn); /* frees conn; the server closes the fd */
	/* Why the last call failed, for a debug log line (may be NULL). */
	const char *(*error)(void *conn, char *buf, size_t size);
};

/* Where a request came in: the dispatcher of the port 80 redirector needs
 * the local address when the client sent no usable Host. */
struct http_conn_info {
	struct sockaddr_storage local, peer;
	const char *transport; /* the transport's name */
	bool trusted;          /* came in on a listener marked trusted (the local socket) */
};

typedef void (*http_dispatch_fn)(const struct http_request *req, const struct http_conn_info *info,
				 struct http_response *resp, void *ctx);

struct http_conn;

struct http_listener {
	int kind; /* first: tells epoll entries apart */
	int fd;
	const struct http_transport *tr;
	void *tctx;
	http_dispatch_fn dispatch;
	void *ctx;
	uint64_t paused_until; /* ms: out of descriptors, accept later */
	bool trusted;          /* copied into each connection's http_conn_info */
};

struct http_watch {
	int kind;
	int fd;
	void (*fn)(void *arg);
	void *arg;
};

struct http_server {
	int epfd;
	struct http_limits lim;
	struct http_listener lis[HTTP_MAX_LISTENERS];
	unsigned nlis;
	struct http_watch watch[HTTP_MAX_WATCHES];
	unsigned nwatch;
	struct http_conn *conns; /* doubly linked */
	unsigned nconns;
	uint64_t next_sweep;
	volatile bool stop;
	/* Counters, for tests and the log. */
	uint64_t accepted, refused_full, timed_out, requests;
};

int http_server_init(struct http_server *s, const struct http_limits *lim);
/* Bind and listen on "ADDR:PORT" ("0.0.0.0:443", "[::]:443", "127.0.0.1:8443").
 * Returns 0 or -errno; *why then names the step. */
int http_server_listen(struct http_server *s, const char *addr, const struct http_transport *tr, void *tctx,
		       http_dispatch_fn dispatch, void *ctx);
/* Bind and listen on the unix socket PATH with MODE (a stale socket file is
 * replaced). trusted marks its connections (struct http_conn_info): only
 * whoever may open PATH can connect, so file permissions are the access
 * control. Returns 0 or -errno. */
int http_server_listen_unix(struct http_server *s, const char *path, unsigned mode, bool trusted,
			    const struct http_transport *tr, void *tctx, http_dispatch_fn dispatch, void *ctx);
/* The port a listener got (for "ADDR:0"), or -errno. */
int http_server_port(const struct http_server *s, unsigned i);
/* Call fn(arg) when fd is readable (a signalfd, say). */
int http_server_watch(struct http_server *s, int fd, void (*fn)(void *), void *arg);
/* Serve until s->stop is set (by a watch callback). Returns 0 or -errno. */
int http_server_run(struct http_server *s);
/* Close every connection and listener. */
void http_server_free(struct http_server *s);

/* Split "ADDR:PORT" into a socket address. 0 or -EINVAL. */
int http_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* The plain TCP transport (for the port 80 redirector). */
extern const struct http_transport http_plain_transport;

#endif
