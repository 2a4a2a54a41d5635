/* One connection of the HTTP server: a state machine driven by readiness
 * events (see http_server.h). Private to vmm/http/http_server.c and
 * http_conn.c. */
#ifndef KVMBOX_HTTP_CONN_H
#define KVMBOX_HTTP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http_parse.h"
#include "http/http_server.h"

/* The first int of everything epoll points at says what it is. */
enum { HTTP_KIND_LISTENER = 1, HTTP_KIND_WATCH, HTTP_KIND_CONN };

enum conn_state {
	CONN_HANDSHAKE,
	CONN_REQUEST, /* reading a request or writing its response */
	CONN_LINGER,  /* said goodbye; draining what the client still sends */
	CONN_WS,      /* upgraded to a WebSocket (http_ws_conn.c) */
};

#define HEAD_OUT_MAX (HTTP_EXTRA_HEADERS + 512)
/* After the last response, read and drop the client's bytes this long:
 * closing a socket with unread input sends a reset, which can destroy the
 * response (a 413, say) before the client reads it. */
#define LINGER_MS 2000

struct http_conn {
	int kind;
	int fd;
	struct http_server *srv;
	struct http_listener *lis;
	void *t; /* the transport's state */
	enum conn_state state;
	struct http_conn_info info;

	char *in;
	size_t in_len, in_cap;
	struct http_parser parser;
	struct http_request req;

	char *out;
	size_t out_len, out_off;
	bool close_after;   /* close once out is flushed */
	bool sent_continue; /* "100 Continue" sent for this request */

	/* A body taken as a stream (see http_server.h); the head is gone from
	 * in, so req's strings must not be read while sink is set. */
	const struct http_body_sink *sink;
	void *sink_arg;
	uint64_t sink_left;   /* body bytes still to come */
	bool sink_close;      /* the client asked to close after this request */

	/* A WebSocket upgrade: ws_ops/ws_arg from the 101 until it is out,
	 * then ws (http_ws_conn.c). */
	const struct http_ws_ops *ws_ops;
	void *ws_arg;
	struct http_ws *ws;

	uint64_t deadline; /* ms, CLOCK_MONOTONIC */
	uint32_t events;   /* what epoll waits for now */
	struct http_conn *prev, *next;
};

uint64_t http_now_ms(void);

/* A connection for an accepted socket fd: registered with epoll and linked
 * into s->conns, then driven as far as it goes. On failure fd is closed. */
void http_conn_open(struct http_server *s, struct http_listener *l, int fd, const struct sockaddr_storage *peer);
/* Drive c as far as it goes without blocking (c may be freed). */
void http_conn_run(struct http_conn *c);
/* c is past its deadline: say 408 if it was mid-request, and free it. */
void http_conn_expire(struct http_conn *c);
/* Free c; goodbye: tell the peer (TLS close_notify) first. */
void http_conn_close(struct http_conn *c, bool goodbye);
/* Wait for these epoll events on c. */
void http_conn_want(struct http_conn *c, uint32_t events);
/* Say goodbye and drain the client's bytes for LINGER_MS, then free c. */
void http_conn_linger(struct http_conn *c);

/* WebSocket connections (http_ws_conn.c): begin once the 101 is out (takes
 * ws_ops/ws_arg), run on every event, expire at the deadline (pings), end
 * from http_conn_close. */
void http_ws_begin(struct http_conn *c);
void http_ws_run(struct http_conn *c);
void http_ws_expire(struct http_conn *c);
void http_ws_end(struct http_conn *c);

#endif
