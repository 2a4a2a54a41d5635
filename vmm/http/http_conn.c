/* One connection of the HTTP server; see http_conn.h and http_server.h. */
#include "http/http_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http_ws.h"
#include "log.h"

uint64_t http_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void http_conn_close(struct http_conn *c, bool goodbye)
{
	struct http_server *s = c->srv;
	if (c->sink) {
		/* Mid-upload: whatever the reason, the body will not come. */
		const struct http_body_sink *sink = c->sink;
		c->sink = NULL;
		sink->abort(c->sink_arg);
	}
	if (c->ws_ops) { /* the 101 never went out */
		const struct http_ws_ops *ops = c->ws_ops;
		c->ws_ops = NULL;
		ops->closed(c->ws_arg);
	}
	if (c->ws)
		http_ws_end(c);
	if (c->t) {
		if (goodbye && (c->state == CONN_REQUEST || c->state == CONN_WS))
			c->lis->tr->shutdown(c->t);
		c->lis->tr->close(c->t);
	}
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c->in);
	free(c->out);
	free(c);
}

void http_conn_want(struct http_conn *c, uint32_t events)
{
	if (c->events == events)
		return;
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
}

static uint32_t want_events(ssize_t r)
{
	return r == HTTP_WANT_WRITE ? EPOLLOUT : EPOLLIN;
}

/* Steps (reads, requests) one connection takes per event before the loop
 * moves on to the others. */
#define CONN_TURNS 64

/* Put a response for the current request into c->out. */
static void conn_respond(struct http_conn *c, struct http_response *resp, bool head_only)
{
	char head[HEAD_OUT_MAX];
	bool keep = !c->close_after && !resp->close && !c->srv->stop;
	size_t hlen = http_resp_head(resp, keep, head, sizeof(head));
	if (!hlen) {
		http_resp_error(resp, 500, "the reply's headers did not fit");
		keep = false;
		hlen = http_resp_head(resp, keep, head, sizeof(head));
	}
	size_t blen = head_only ? 0 : resp->body_len;
	free(c->out);
	c->out = malloc(hlen + blen);
	c->out_off = 0;
	if (!c->out) {
		c->out_len = 0;
		c->close_after = true;
		return;
	}
	memcpy(c->out, head, hlen);
	if (blen)
		memcpy(c->out + hlen, resp->body, blen);
	c->out_len = hlen + blen;
	c->close_after = !keep;
	c->deadline = http_now_ms() + c->srv->lim.write_ms;
}

static void conn_refuse(struct http_conn *c, int status, const char *why)
{
	struct http_response resp;
	http_resp_init(&resp);
	http_resp_error(&resp, status, "%s", why);
	c->close_after = true; /* the stream cannot be trusted past a bad request */
	conn_respond(c, &resp, false);
	http_resp_free(&resp);
}

/* The request is answered: drop its total bytes from in, keeping pipelined
 * bytes for the next one. */
static void conn_next(struct http_conn *c, size_t total)
{
	memmove(c->in, c->in + total, c->in_len - total);
	c->in_len -= total;
	memset(&c->parser, 0, sizeof(c->parser));
	c->sent_continue = false;
	/* A body made the buffer grow: give the memory back. */
	size_t base = c->srv->lim.max_head + 1;
	if (c->in_cap > base && c->in_len <= base) {
		char *p = realloc(c->in, base);
		if (p) {
			c->in = p;
			c->in_cap = base;
		}
	}
}

static void conn_dispatch(struct http_conn *c, size_t total)
{
	struct http_response resp;
	http_resp_init(&resp);
	c->srv->requests++;
	if (!c->req.keep_alive)
		c->close_after = true;
	c->lis->dispatch(&c->req, &c->info, &resp, c->lis->ctx);
	conn_respond(c, &resp, c->req.method == HTTP_HEAD);
	if (resp.ws_ops && resp.status == 101 && !c->close_after) {
		/* A WebSocket from the moment the 101 is out (http_conn_run). */
		c->ws_ops = resp.ws_ops;
		c->ws_arg = resp.ws_arg;
		resp.ws_ops = NULL;
	}
	http_resp_free(&resp);
	conn_next(c, total);
}

/* "HTTP/1.1 100 Continue" into out, once per request: the client waits for
 * it before it sends the body. Returns true if it is there to send. */
static bool conn_continue(struct http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	if (!c->req.expect_continue || c->sent_continue)
		return false;
	c->sent_continue = true;
	free(c->out);
	c->out = malloc(sizeof(cont) - 1);
	if (!c->out) {
		c->out_len = c->out_off = 0;
		return false;
	}
	memcpy(c->out, cont, sizeof(cont) - 1);
	c->out_len = sizeof(cont) - 1;
	c->out_off = 0;
	return true;
}

/* The end of a streamed body (err 0), or the sink refused it (err < 0):
 * the reply comes from the sink. After a refusal the rest of the body is
 * unread, so the connection closes. */
static void conn_stream_end(struct http_conn *c, int err)
{
	const struct http_body_sink *sink = c->sink;
	c->sink = NULL;
	struct http_response resp;
	http_resp_init(&resp);
	sink->finish(c->sink_arg, err, &resp);
	c->srv->requests++;
	if (err || c->sink_close)
		c->close_after = true;
	conn_respond(c, &resp, false);
	http_resp_free(&resp);
	if (!err)
		conn_next(c, 0); /* the body is consumed: in holds the next request */
}

/* Hand what in holds of the streamed body to the sink. Returns true when
 * the stream ended and its reply is in out. */
static bool conn_stream_feed(struct http_conn *c)
{
	size_t n = c->in_len < c->sink_left ? c->in_len : (size_t)c->sink_left;
	if (n) {
		int r = c->sink->data(c->sink_arg, c->in, n);
		memmove(c->in, c->in + n, c->in_len - n);
		c->in_len -= n;
		c->sink_left -= n;
		if (r) {
			conn_stream_end(c, r < 0 ? r : -EIO);
			return true;
		}
	}
	if (c->sink_left)
		return false;
	conn_stream_end(c, 0);
	return true;
}

/* The dispatcher took the body as a stream. Returns true if there is
 * output (a 100 Continue, or the reply of a body that was all there). */
static bool conn_stream_start(struct http_conn *c, const struct http_response *resp)
{
	const struct http_limits *lim = &c->srv->lim;
	if (c->req.content_length > HTTP_UPLOAD_MAX) {
		resp->sink->abort(resp->sink_arg);
		conn_refuse(c, 413, "the upload is larger than this server accepts (64 GiB)");
		return true;
	}
	if (c->in_cap < HTTP_STREAM_BUF) {
		char *p = realloc(c->in, HTTP_STREAM_BUF);
		if (!p) {
			resp->sink->abort(resp->sink_arg);
			conn_refuse(c, 503, "the server is out of memory for this upload");
			return true;
		}
		c->in = p;
		c->in_cap = HTTP_STREAM_BUF;
	}
	c->sink = resp->sink;
	c->sink_arg = resp->sink_arg;
	c->sink_left = c->req.content_length;
	c->sink_close = !c->req.keep_alive;
	/* The head is done with: in holds body bytes only from here. */
	size_t head = c->parser.head_len;
	memmove(c->in, c->in + head, c->in_len - head);
	c->in_len -= head;
	c->deadline = http_now_ms() + lim->body_ms;
	if (c->in_len < c->sink_left && conn_continue(c))
		return true;
	return conn_stream_feed(c);
}

/* The head of a request with a body is in: the dispatcher looks at it
 * before any body byte is taken. Returns true if that produced output (an
 * early reply, or a stream's first output); false if the body is to be read
 * whole as usual. */
static bool conn_head(struct http_conn *c)
{
	struct http_response resp;
	http_resp_init(&resp);
	resp.status = 0; /* still 0 afterwards: the dispatcher did not answer */
	c->req.body_pending = true;
	c->lis->dispatch(&c->req, &c->info, &resp, c->lis->ctx);
	c->req.body_pending = false;
	bool out = true;
	if (resp.sink) {
		out = conn_stream_start(c, &resp);
	} else if (resp.status) {
		c->srv->requests++;
		c->close_after = true; /* the body stays unread: the stream cannot go on */
		conn_respond(c, &resp, c->req.method == HTTP_HEAD);
	} else {
		out = false;
	}
	http_resp_free(&resp);
	return out;
}

/* Look at the buffered input. Returns true if it produced output (a
 * response or "100 Continue"), false if more input is needed. */
static bool conn_parse(struct http_conn *c)
{
	const struct http_limits *lim = &c->srv->lim;
	const char *why;
	if (c->sink)
		return conn_stream_feed(c);
	if (!c->parser.head_len) {
		int h = http_parse_head(&c->parser, c->in, c->in_len, lim, &c->req, &why);
		if (h < 0) {
			conn_refuse(c, -h, why);
			return true;
		}
		if (h == 0)
			return false;
		c->deadline = http_now_ms() + lim->body_ms;
		if (c->req.has_length && conn_head(c))
			return true;
		if (c->sink) /* a stream whose 100 Continue could not be allocated */
			return false;
		if (c->req.content_length > lim->max_body) {
			conn_refuse(c, 413, "the request body is larger than this server accepts");
			return true;
		}
	}
	int n = http_parse(&c->parser, c->in, c->in_len, lim, &c->req, &why);
	if (n < 0) {
		conn_refuse(c, -n, why);
		return true;
	}
	if (n > 0) {
		conn_dispatch(c, (size_t)n);
		return true;
	}
	size_t need = c->parser.head_len + (size_t)c->req.content_length;
	if (need > c->in_cap) {
		/* The parser bounded content_length by max_body, so need is too. */
		char *p = realloc(c->in, need);
		if (!p) {
			conn_refuse(c, 503, "the server is out of memory for this request body");
			return true;
		}
		c->in = p;
		c->in_cap = need;
		/* req points into the old buffer: parse the head again. */
		memset(&c->parser, 0, sizeof(c->parser));
		http_parse(&c->parser, c->in, c->in_len, lim, &c->req, &why);
	}
	return conn_continue(c);
}

/* Read and drop until the client closes or LINGER_MS pass. A few reads a
 * turn, so a client that never stops sending cannot hold the loop. */
static void conn_drain(struct http_conn *c)
{
	char buf[4096];
	if (http_now_ms() >= c->deadline) {
		http_conn_close(c, false);
		return;
	}
	for (int turn = 0;; turn++) {
		if (turn == CONN_TURNS) {
			http_conn_want(c, EPOLLIN); /* level-triggered: called again */
			return;
		}
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			http_conn_want(c, EPOLLIN);
			return;
		}
		http_conn_close(c, false);
		return;
	}
}

void http_conn_linger(struct http_conn *c)
{
	c->lis->tr->shutdown(c->t);
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->deadline = http_now_ms() + LINGER_MS;
	conn_drain(c);
}

/* Drive the connection as far as it goes without blocking. */
void http_conn_run(struct http_conn *c)
{
	const struct http_transport *tr = c->lis->tr;
	const struct http_limits *lim = &c->srv->lim;
	if (c->state == CONN_LINGER) {
		conn_drain(c);
		return;
	}
	if (c->state == CONN_WS) {
		http_ws_run(c);
		return;
	}
	for (int turn = 0;; turn++) {
		if (turn == CONN_TURNS) {
			/* Give the others a turn. Input may be waiting inside the TLS
			 * library, where epoll cannot see it; the socket is writable,
			 * so asking for EPOLLOUT brings us back at the next wait. */
			http_conn_want(c, EPOLLIN | EPOLLOUT);
			return;
		}
		if (c->state == CONN_HANDSHAKE) {
			int r = tr->handshake(c->t);
			if (r == HTTP_WANT_READ || r == HTTP_WANT_WRITE) {
				http_conn_want(c, want_events(r));
				return;
			}
			if (r < 0) {
				char buf[128];
				log_debug("%s: handshake failed: %s", tr->name,
					  tr->error ? tr->error(c->t, buf, sizeof(buf)) : strerror(-r));
				http_conn_close(c, false);
				return;
			}
			c->state = CONN_REQUEST;
			c->in_cap = lim->max_head + 1; /* one more byte than allowed: the parser sees the excess */
			c->in = malloc(c->in_cap);
			if (!c->in) {
				http_conn_close(c, false);
				return;
			}
			c->deadline = http_now_ms() + lim->idle_ms;
		}
		while (c->out_off < c->out_len) {
			ssize_t r = tr->send(c->t, c->out + c->out_off, c->out_len - c->out_off);
			if (r == HTTP_WANT_READ || r == HTTP_WANT_WRITE) {
				http_conn_want(c, want_events(r));
				return;
			}
			if (r <= 0) {
				http_conn_close(c, false);
				return;
			}
			c->out_off += (size_t)r;
		}
		/* close_after without out: the response could not be allocated. */
		if (c->out || c->close_after) {
			free(c->out);
			c->out = NULL;
			c->out_len = c->out_off = 0;
			if (c->close_after) {
				http_conn_linger(c);
				return;
			}
			if (c->ws_ops) {
				http_ws_begin(c);
				return;
			}
			c->deadline = http_now_ms() + (c->in_len ? lim->header_ms : lim->idle_ms);
			if (c->parser.head_len) /* a "100 Continue" went out; the body is on its way */
				c->deadline = http_now_ms() + lim->body_ms;
		}
		if (c->in_len && conn_parse(c))
			continue;
		if (c->in_len >= c->in_cap) { /* cannot happen: the parser refuses first */
			http_conn_close(c, false);
			return;
		}
		ssize_t r = tr->recv(c->t, c->in + c->in_len, c->in_cap - c->in_len);
		if (r == HTTP_WANT_READ || r == HTTP_WANT_WRITE) {
			http_conn_want(c, want_events(r));
			return;
		}
		if (r <= 0) {
			http_conn_close(c, false); /* end of stream or error: nobody to answer */
			return;
		}
		if (c->sink)
			c->deadline = http_now_ms() + lim->body_ms; /* progress: a stream may take hours */
		else if (c->in_len == 0)
			c->deadline = http_now_ms() + lim->header_ms; /* a request starts */
		c->in_len += (size_t)r;
	}
}

void http_conn_open(struct http_server *s, struct http_listener *l, int fd, const struct sockaddr_storage *peer)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->kind = HTTP_KIND_CONN;
	c->fd = fd;
	c->srv = s;
	c->lis = l;
	c->info.peer = *peer;
	c->info.transport = l->tr->name;
	c->info.trusted = l->trusted;
	socklen_t llen = sizeof(c->info.local);
	getsockname(fd, (struct sockaddr *)&c->info.local, &llen);
	c->t = l->tr->open(l->tctx, fd);
	c->deadline = http_now_ms() + s->lim.handshake_ms;
	c->events = EPOLLIN;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	if (!c->t || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		if (c->t)
			l->tr->close(c->t);
		close(fd);
		free(c);
		return;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	http_conn_run(c);
}

void http_conn_expire(struct http_conn *c)
{
	if (c->state == CONN_LINGER) {
		http_conn_close(c, false);
		return;
	}
	if (c->state == CONN_WS) {
		http_ws_expire(c);
		return;
	}
	c->srv->timed_out++;
	if (c->state == CONN_REQUEST && (c->in_len || c->sink) && c->out_len == 0) {
		struct http_response resp;
		http_resp_init(&resp);
		http_resp_error(&resp, 408, "the request did not arrive in time");
		char head[HEAD_OUT_MAX];
		size_t hlen = http_resp_head(&resp, false, head, sizeof(head));
		/* Once and without waiting: a client this slow gets no more time. */
		if (hlen && c->lis->tr->send(c->t, head, hlen) == (ssize_t)hlen)
			c->lis->tr->send(c->t, resp.body, resp.body_len);
		http_resp_free(&resp);
	}
	log_debug("%s: connection timed out", c->lis->tr->name);
	http_conn_close(c, c->state == CONN_REQUEST);
}
