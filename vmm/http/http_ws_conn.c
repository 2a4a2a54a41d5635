/* Upgraded connections: WebSocket frames in the server's event loop; see
 * http_ws.h. The connection is full duplex: input (the client's messages,
 * pings, pongs, close) is read whenever it comes, while output queued by
 * http_ws_send() goes out as the socket takes it. Nothing here frees the
 * connection outside its own events: a send from someone else's callback
 * only queues or marks it dead, so an event for it later in the same epoll
 * batch never meets freed memory. */
#include "http/http_ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "http/http_conn.h"
#include "log.h"

#define WS_TURNS 64          /* reads per event before the loop moves on */
#define WS_SEND_CHUNK 16384  /* bytes handed to the transport at once */
#define WS_KEY_B64_LEN 24    /* base64 of the 16-byte Sec-WebSocket-Key */

struct http_ws {
	struct http_conn *c;
	const struct http_ws_ops *ops;
	void *arg;
	struct http_ws_parser p;
	uint8_t msg[HTTP_WS_MAX_MESSAGE];
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	/* The length of a send that returned HTTP_WANT_*: TLS needs the same
	 * call again, even though more may have been queued since. */
	size_t inflight;
	bool closing;   /* our close frame is queued: nothing more goes out */
	bool dead;      /* dropped: closed without a goodbye at the next chance */
	bool ping_out;  /* a ping waits for its pong */
	uint64_t ping_at;
};

/* Append one frame to the output. 0 or -ENOBUFS (over HTTP_WS_SEND_MAX). */
static int queue(struct http_ws *ws, int opcode, const void *p, size_t len)
{
	uint8_t head[HTTP_WS_FRAME_HEAD_MAX];
	size_t hlen = http_ws_frame_head(head, opcode, len);
	if (ws->out_off == ws->out_len) {
		ws->out_off = ws->out_len = 0;
	} else if (ws->out_off > ws->out_cap / 2) {
		/* Keep the buffer from creeping; the bytes stay the same, so a
		 * repeated TLS send still sees what it saw. */
		memmove(ws->out, ws->out + ws->out_off, ws->out_len - ws->out_off);
		ws->out_len -= ws->out_off;
		ws->out_off = 0;
	}
	size_t pending = ws->out_len - ws->out_off;
	if (len > HTTP_WS_SEND_MAX || pending + hlen + len > HTTP_WS_SEND_MAX)
		return -ENOBUFS;
	size_t need = ws->out_len + hlen + len;
	if (need > ws->out_cap) {
		size_t cap = ws->out_cap ? ws->out_cap * 2 : 4096;
		while (cap < need)
			cap *= 2;
		uint8_t *o = realloc(ws->out, cap);
		if (!o)
			return -ENOBUFS;
		ws->out = o;
		ws->out_cap = cap;
	}
	memcpy(ws->out + ws->out_len, head, hlen);
	if (len)
		memcpy(ws->out + ws->out_len + hlen, p, len);
	ws->out_len += hlen + len;
	http_conn_want(ws->c, EPOLLIN | EPOLLOUT);
	return 0;
}

/* Mark the connection for closing at the next sweep, without a goodbye. */
static void drop(struct http_ws *ws)
{
	ws->dead = true;
	ws->c->deadline = 0;
}

int http_ws_send(struct http_ws *ws, int opcode, const void *p, size_t len)
{
	if (ws->closing || ws->dead)
		return -EPIPE;
	int r = queue(ws, opcode, p, len);
	if (r) {
		log_debug("websocket: a client is not reading fast enough; dropped");
		drop(ws);
	}
	return r;
}

void http_ws_close(struct http_ws *ws, unsigned status, const char *reason)
{
	uint8_t body[HTTP_WS_CONTROL_MAX];
	size_t len = 0;
	if (ws->closing || ws->dead)
		return;
	if (status) { /* 0: the client's close had no status, nor has ours */
		size_t rl = reason ? strlen(reason) : 0;
		if (rl > sizeof(body) - 2)
			rl = sizeof(body) - 2;
		body[0] = (uint8_t)(status >> 8);
		body[1] = (uint8_t)status;
		memcpy(body + 2, reason, rl);
		len = 2 + rl;
	}
	/* A close frame may go over the send limit: it is the last frame. */
	if (queue(ws, HTTP_WS_CLOSE, body, len)) {
		drop(ws);
		return;
	}
	ws->closing = true;
	ws->c->deadline = http_now_ms() + ws->c->srv->lim.write_ms;
}

/* Write what the socket takes. 0 when all is out, 1 when waiting, -1 on a
 * transport error. */
static int flush(struct http_ws *ws)
{
	struct http_conn *c = ws->c;
	while (ws->out_off < ws->out_len) {
		size_t n = ws->inflight;
		if (!n)
			n = ws->out_len - ws->out_off < WS_SEND_CHUNK ? ws->out_len - ws->out_off : WS_SEND_CHUNK;
		ssize_t r = c->lis->tr->send(c->t, ws->out + ws->out_off, n);
		if (r == HTTP_WANT_READ || r == HTTP_WANT_WRITE) {
			ws->inflight = n;
			return 1;
		}
		if (r <= 0)
			return -1;
		ws->inflight = 0;
		ws->out_off += (size_t)r;
	}
	return 0;
}

/* One message or control frame from the client. */
static void handle(struct http_ws *ws, const struct http_ws_msg *m)
{
	switch (m->opcode) {
	case HTTP_WS_PING:
		if (queue(ws, HTTP_WS_PONG, m->data, m->len))
			drop(ws);
		break;
	case HTTP_WS_PONG:
		if (ws->ping_out) {
			ws->ping_out = false;
			ws->c->deadline = ws->ping_at + HTTP_WS_PING_MS;
		}
		break;
	case HTTP_WS_CLOSE:
		/* Echo the status (RFC 6455 5.5.1); the client then expects the
		 * server to end the TCP connection. */
		http_ws_close(ws, m->status == HTTP_WS_NO_STATUS ? 0 : m->status, "");
		break;
	default:
		ws->ops->message(ws->arg, ws, m->opcode == HTTP_WS_TEXT, m->data, m->len);
	}
}

/* Parse everything in c->in; after a refusal or a close the rest is
 * dropped (nothing the client sends after that counts). */
static void input(struct http_ws *ws)
{
	struct http_conn *c = ws->c;
	size_t off = 0;
	while (off < c->in_len && !ws->closing && !ws->dead) {
		size_t used;
		struct http_ws_msg m;
		int r = http_ws_parse(&ws->p, (const uint8_t *)c->in + off, c->in_len - off, &used, &m);
		off += used;
		if (r < 0) {
			log_debug("websocket: closed: %s", ws->p.why);
			http_ws_close(ws, ws->p.status, ws->p.why);
			break;
		}
		if (r == 0)
			break;
		handle(ws, &m);
	}
	c->in_len = 0;
}

void http_ws_run(struct http_conn *c)
{
	struct http_ws *ws = c->ws;
	const struct http_transport *tr = c->lis->tr;
	for (int turn = 0; turn < WS_TURNS; turn++) {
		if (ws->dead) {
			http_conn_close(c, false);
			return;
		}
		int f = flush(ws);
		if (f < 0) {
			http_conn_close(c, false);
			return;
		}
		if (ws->closing) {
			if (f == 0) {
				/* The close frame is out: the app is done, and the
				 * client's own close (or its hangup) ends it. */
				http_ws_end(c);
				http_conn_linger(c);
			} else {
				/* Not EPOLLIN: input is no longer read, and
				 * level-triggered it would wake us forever. */
				http_conn_want(c, EPOLLOUT);
			}
			return;
		}
		if (!c->in_len) {
			ssize_t r = tr->recv(c->t, c->in, c->in_cap);
			if (r == HTTP_WANT_READ || r == HTTP_WANT_WRITE) {
				http_conn_want(c, f ? EPOLLIN | EPOLLOUT : EPOLLIN);
				return;
			}
			if (r <= 0) {
				http_conn_close(c, false);
				return;
			}
			c->in_len = (size_t)r;
		}
		input(ws);
	}
	http_conn_want(c, EPOLLIN | EPOLLOUT); /* the others get a turn; back at the next wait */
}

void http_ws_begin(struct http_conn *c)
{
	struct http_ws *ws = calloc(1, sizeof(*ws));
	const struct http_ws_ops *ops = c->ws_ops;
	if (!ws) {
		http_conn_close(c, false); /* closed() comes from there */
		return;
	}
	ws->c = c;
	ws->ops = ops;
	ws->arg = c->ws_arg;
	c->ws_ops = NULL;
	c->ws = ws;
	c->state = CONN_WS;
	c->deadline = http_now_ms() + HTTP_WS_PING_MS;
	http_ws_parser_init(&ws->p, ws->msg, sizeof(ws->msg));
	ops->open(ws->arg, ws);
	http_ws_run(c); /* frames the client sent right behind its request */
}

void http_ws_expire(struct http_conn *c)
{
	struct http_ws *ws = c->ws;
	if (ws->dead || ws->closing || ws->ping_out) {
		log_debug("websocket: %s", ws->dead ? "dropped" : ws->closing ? "close not taken in time" :
			  "no pong in time");
		http_conn_close(c, false);
		return;
	}
	ws->ping_out = true;
	ws->ping_at = http_now_ms();
	c->deadline = ws->ping_at + HTTP_WS_PONG_MS;
	if (queue(ws, HTTP_WS_PING, NULL, 0))
		drop(ws);
}

void http_ws_end(struct http_conn *c)
{
	struct http_ws *ws = c->ws;
	c->ws = NULL;
	ws->ops->closed(ws->arg);
	free(ws->out);
	free(ws);
}

/* 1 if the comma-separated header value h lists tok (any case). */
static bool has_token(const struct http_str *h, const char *tok)
{
	size_t tl = strlen(tok);
	const char *p = h->p, *end = h->p + h->len;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *s = p;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		const char *t = e;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - s) == tl && !strncasecmp(s, tok, tl))
			return true;
		p = e + 1;
	}
	return false;
}

static bool key_ok(const struct http_str *k)
{
	if (k->len != WS_KEY_B64_LEN || k->p[22] != '=' || k->p[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		char ch = k->p[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
		      ch == '/'))
			return false;
	}
	return true;
}

int http_ws_accept(const struct http_request *req, struct http_response *resp, const struct http_ws_ops *ops,
		   void *arg)
{
	const struct http_str *up = http_header_get(req, "Upgrade");
	const struct http_str *conn = http_header_get(req, "Connection");
	const struct http_str *ver = http_header_get(req, "Sec-WebSocket-Version");
	const struct http_str *key = http_header_get(req, "Sec-WebSocket-Key");
	if (!up || !has_token(up, "websocket")) {
		http_resp_error(resp, 426, "this is a WebSocket: send \"Upgrade: websocket\"");
		http_resp_header(resp, "Upgrade", "websocket");
	} else if (req->method != HTTP_GET || req->minor < 1 || (req->has_length && req->content_length)) {
		http_resp_error(resp, 400, "a WebSocket upgrade is a GET over HTTP/1.1 without a body");
	} else if (!conn || !has_token(conn, "upgrade")) {
		http_resp_error(resp, 400, "a WebSocket upgrade needs \"Connection: Upgrade\"");
	} else if (!ver || !http_str_eq(*ver, "13")) {
		http_resp_error(resp, 426, "this server speaks WebSocket version 13 only");
		http_resp_header(resp, "Sec-WebSocket-Version", "13");
	} else if (!key || !key_ok(key)) {
		http_resp_error(resp, 400, "Sec-WebSocket-Key must be 16 bytes in base64");
	} else {
		char accept[HTTP_WS_ACCEPT_LEN + 1];
		http_ws_accept_value(key->p, key->len, accept);
		http_resp_static(resp, 101, NULL, NULL, 0);
		http_resp_header(resp, "Upgrade", "websocket");
		http_resp_header(resp, "Sec-WebSocket-Accept", accept);
		resp->ws_ops = ops;
		resp->ws_arg = arg;
		return 0;
	}
	ops->closed(arg);
	return -EINVAL;
}
