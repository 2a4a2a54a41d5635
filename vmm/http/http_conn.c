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
	if (c->t) {
		if (goodbye && c->state == CONN_REQUEST)
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

static void conn_want(struct http_conn *c, uint32_t events)
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

static void conn_dispatch(struct http_conn *c, size_t total)
{
	struct http_response resp;
	http_resp_init(&resp);
	c->srv->requests++;
	if (!c->req.keep_alive)
		c->close_after = true;
	c->lis->dispatch(&c->req, &c->info, &resp, c->lis->ctx);
	conn_respond(c, &resp, c->req.method == HTTP_HEAD);
	http_resp_free(&resp);
	/* Keep pipelined bytes for the next request. */
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

/* Look at the buffered input. Returns true if it produced output (a
 * response or "100 Continue"), false if more input is needed. */
static bool conn_parse(struct http_conn *c)
{
	const struct http_limits *lim = &c->srv->lim;
	const char *why;
	bool had_head = c->parser.head_len != 0;
	int n = http_parse(&c->parser, c->in, c->in_len, lim, &c->req, &why);
	if (n < 0) {
		conn_refuse(c, -n, why);
		return true;
	}
	if (n > 0) {
		conn_dispatch(c, (size_t)n);
		return true;
	}
	if (!c->parser.head_len)
		return false;
	if (!had_head)
		c->deadline = http_now_ms() + lim->body_ms;
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
	if (c->req.expect_continue && !c->sent_continue) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
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
	return false;
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
			conn_want(c, EPOLLIN); /* level-triggered: called again */
			return;
		}
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			conn_want(c, EPOLLIN);
			return;
		}
		http_conn_close(c, false);
		return;
	}
}

static void conn_linger(struct http_conn *c)
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
	for (int turn = 0;; turn++) {
		if (turn == CONN_TURNS) {
			/* Give the others a turn. Input may be waiting inside the TLS
			 * library, where epoll cannot see it; the socket is writable,
			 * so asking for EPOLLOUT brings us back at the next wait. */
			conn_want(c, EPOLLIN | EPOLLOUT);
			return;
		}
		if (c->state == CONN_HANDSHAKE) {
			int r = tr->handshake(c->t);
			if (r == HTTP_WANT_READ || r == HTTP_WANT_WRITE) {
				conn_want(c, want_events(r));
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
				conn_want(c, want_events(r));
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
				conn_linger(c);
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
			conn_want(c, want_events(r));
			return;
		}
		if (r <= 0) {
			http_conn_close(c, false); /* end of stream or error: nobody to answer */
			return;
		}
		if (c->in_len == 0)
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
	c->srv->timed_out++;
	if (c->state == CONN_REQUEST && c->in_len && c->out_len == 0) {
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
