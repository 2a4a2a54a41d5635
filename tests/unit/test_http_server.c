/* Host unit test (ASan + UBSan) for the HTTP server's event loop
 * (vmm/http/http_server.c) over the plain TCP transport: the server runs in
 * a thread on 127.0.0.1:0 and this thread is the clients. Covers keep-alive,
 * pipelining, a client that sends a byte at a time, the header, body and
 * idle timeouts (408, then close), the connection limit, a refusal while the
 * client is still sending (the reply must arrive, not a reset), 100-continue,
 * bodies taken as a stream (big, pipelined, empty, refused from the head,
 * the client gone, stalled, slow but steady, a failing sink, too large),
 * and a clean stop. The TLS side is tests/web/https_test.py. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http/http_router.h"
#include "http/http_server.h"

/* The server's timeouts: short for a quick test, long enough that a busy
 * build machine does not trip them where they should not fire. */
#define TIMEOUT_MS 800 /* request head and body */
#define IDLE_MS 1500   /* idle keep-alive; the connection limit test needs it */

static struct http_server srv;
static int port, stop_pipe[2];

static void h_hello(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx)
{
	(void)params;
	(void)ctx;
	if (req->body.len)
		http_resp_static(resp, 200, "text/plain", req->body.p, req->body.len); /* echo */
	else
		http_resp_static(resp, 200, "text/plain", "hello", 5);
	/* The server copies the body before the request's buffer moves on. */
}

static const struct http_route routes[] = {
	{ HTTP_GET, "/hello", h_hello },
	{ HTTP_POST, "/echo", h_hello },
};

/* Streamed bodies: PUT /stream counts the bytes and sums them (the reply
 * says "got N sum S max M", M the largest chunk); PUT /fail stops with
 * -ENOSPC after the first chunk; PUT /refuse answers 401 from the head. */
static int aborts, chunks_seen; /* touched by the server thread only while a client waits */

struct sink_state {
	unsigned long long n, sum;
	size_t max_chunk;
	bool fail;
};

static int s_data(void *arg, const char *p, size_t len)
{
	struct sink_state *st = arg;
	__atomic_add_fetch(&chunks_seen, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < len; i++)
		st->sum += (unsigned char)p[i];
	st->n += len;
	if (len > st->max_chunk)
		st->max_chunk = len;
	return st->fail ? -ENOSPC : 0;
}

static void s_finish(void *arg, int err, struct http_response *resp)
{
	struct sink_state *st = arg;
	if (err) {
		http_resp_error(resp, 507, "sink failed: %d", err);
	} else {
		char *text = malloc(96); /* outlives st: the response owns it */
		int n = snprintf(text, 96, "got %llu sum %llu max %zu", st->n, st->sum, st->max_chunk);
		http_resp_static(resp, 200, "text/plain", text, (size_t)n);
		resp->body_owned = true;
	}
	free(st);
}

static void s_abort(void *arg)
{
	__atomic_add_fetch(&aborts, 1, __ATOMIC_SEQ_CST);
	free(arg);
}

static const struct http_body_sink sink = { s_data, s_finish, s_abort };

static void h_stream(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)params;
	(void)ctx;
	struct sink_state *st = calloc(1, sizeof(*st));
	st->fail = http_str_eq(req->path, "/fail");
	http_resp_stream(resp, &sink, st);
}

static void h_refuse(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)req;
	(void)params;
	(void)ctx;
	http_resp_error(resp, 401, "no");
}

static const struct http_head_route head_routes[] = {
	{ HTTP_PUT, "/stream", h_stream },
	{ HTTP_PUT, "/fail", h_stream },
	{ HTTP_PUT, "/refuse", h_refuse },
};

static void dispatch(const struct http_request *req, const struct http_conn_info *info, struct http_response *resp,
		     void *ctx)
{
	(void)info;
	if (req->body_pending)
		http_route_head(head_routes, 3, req, resp, ctx);
	else
		http_route(routes, 2, req, resp, ctx);
}

static void on_stop(void *arg)
{
	(void)arg;
	srv.stop = true;
}

static void *server_thread(void *arg)
{
	(void)arg;
	return (void *)(long)http_server_run(&srv);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_str(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Read until the peer closes or wait_ms pass without data. */
static size_t recv_all(int fd, char *buf, size_t size, int wait_ms, bool *closed)
{
	size_t got = 0;
	*closed = false;
	while (got + 1 < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, wait_ms) <= 0)
			break;
		ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
		if (n <= 0) {
			*closed = true;
			break;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* Read until buf holds until (a reply's last bytes), the peer closes, or
 * wait_ms pass without data: quick when the reply comes, patient when the
 * machine is busy. */
static size_t recv_until(int fd, char *buf, size_t size, const char *until, bool *closed)
{
	size_t got = 0;
	*closed = false;
	buf[0] = '\0';
	while (got + 1 < size && !strstr(buf, until)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 3000) <= 0)
			break;
		ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
		if (n <= 0) {
			*closed = true;
			break;
		}
		got += (size_t)n;
		buf[got] = '\0';
	}
	return got;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_basic(void)
{
	char buf[8192];
	bool closed;
	int fd = dial();
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	recv_until(fd, buf, sizeof(buf), "hello", &closed);
	CHECK("get_200", !strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) && strstr(buf, "\r\n\r\nhello") && !closed);
	CHECK("get_keepalive", strstr(buf, "Connection: keep-alive\r\n") != NULL);
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n"
		     "ping" "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 1000, &closed);
	CHECK("pipelined_three", count(buf, "HTTP/1.1 ") == 3 && strstr(buf, "\r\n\r\nping") &&
					 strstr(buf, "HTTP/1.1 404 Not Found") && closed);
	close(fd);

	fd = dial();
	const char *req = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
	for (const char *p = req; *p; p++) {
		char c[2] = { *p, 0 };
		send_str(fd, c);
		usleep(200);
	}
	recv_until(fd, buf, sizeof(buf), "abc", &closed);
	CHECK("bytewise_client", !strncmp(buf, "HTTP/1.1 200", 12) && strstr(buf, "\r\n\r\nabc"));
	close(fd);

	fd = dial();
	send_str(fd, "GET /hello HTTP/1.0\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 1000, &closed);
	CHECK("http10_closes", strstr(buf, "Connection: close\r\n") && closed);
	close(fd);

	fd = dial();
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	recv_until(fd, buf, sizeof(buf), "\r\n\r\n", &closed);
	CHECK("continue_first", !strcmp(buf, "HTTP/1.1 100 Continue\r\n\r\n"));
	send_str(fd, "ok");
	recv_until(fd, buf, sizeof(buf), "\r\n\r\nok", &closed);
	CHECK("continue_then_200", !strncmp(buf, "HTTP/1.1 200", 12) && strstr(buf, "\r\n\r\nok"));
	close(fd);
}

static void test_timeouts(void)
{
	char buf[4096];
	bool closed;
	int fd = dial();
	send_str(fd, "GET /hello HTTP/1.1\r\nHost");
	double t0 = now_s();
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	double dt = now_s() - t0;
	CHECK("header_timeout_408", strstr(buf, "HTTP/1.1 408 Request Timeout") && strstr(buf, "request_timeout") &&
					    closed);
	CHECK("header_timeout_time", dt >= TIMEOUT_MS / 1000.0 * 0.9 && dt < TIMEOUT_MS / 1000.0 + 1);
	close(fd);

	fd = dial();
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab");
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("body_timeout_408", strstr(buf, "HTTP/1.1 408") && closed);
	close(fd);

	fd = dial();
	t0 = now_s();
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	dt = now_s() - t0;
	CHECK("idle_timeout_silent", closed && buf[0] == '\0' && dt >= IDLE_MS / 1000.0 * 0.9 && dt < IDLE_MS / 1000.0 + 1);
	close(fd);

	/* A keep-alive connection is idle again after its response. */
	fd = dial();
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("idle_after_response", !strncmp(buf, "HTTP/1.1 200", 12) && count(buf, "HTTP/1.1") == 1 && closed);
	close(fd);
}

static void test_refuse_while_sending(void)
{
	/* 413 is decided from the head; the client keeps sending its body.
	 * The reply must still arrive (the server drains before closing). */
	char buf[4096];
	bool closed;
	int fd = dial();
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
	static char body[256 * 1024];
	memset(body, 'x', sizeof(body));
	size_t sent = 0;
	while (sent < sizeof(body)) {
		ssize_t n = send(fd, body + sent, sizeof(body) - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("413_arrives", strstr(buf, "HTTP/1.1 413 Content Too Large") && strstr(buf, "body_too_large"));
	close(fd);

	fd = dial();
	send_str(fd, "GET /x HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("400_then_closed", strstr(buf, "HTTP/1.1 400") && count(buf, "HTTP/1.1 ") == 1 && closed);
	close(fd);
}

/* A client that pipelines a flood and does not read: the server stops
 * reading it when its replies back up, serves everyone else meanwhile, and
 * answers every request once the client reads. */
static void test_flood(void)
{
	static const char req[] = "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
	const size_t rlen = sizeof(req) - 1, nreq = 4000;
	char *flood = malloc(rlen * nreq);
	for (size_t i = 0; i < nreq; i++)
		memcpy(flood + i * rlen, req, rlen);
	int a = dial();
	size_t sent = 0;
	for (int idle = 0; sent < rlen * nreq && idle < 20;) {
		ssize_t n = send(a, flood + sent, rlen * nreq - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else {
			usleep(10 * 1000); /* the server is still catching up, or has stopped reading us */
			idle++;
		}
	}
	free(flood);
	char buf[512];
	bool closed;
	int b = dial();
	double t0 = now_s();
	send_str(b, req);
	recv_until(b, buf, sizeof(buf), "hello", &closed);
	CHECK("flood_others_served", !strncmp(buf, "HTTP/1.1 200", 12) && now_s() - t0 < 2);
	close(b);
	/* Now read them all: one 200 per whole request sent (a reply is
	 * about 140 bytes, so 256 each is room enough). */
	size_t want = sent / rlen, got = 0, cap = nreq * 256;
	char *all = malloc(cap);
	size_t len = 0;
	size_t counted = 0; /* all[0..counted) holds no unseen status line */
	while (got < want && len + 1 < cap) {
		struct pollfd p = { .fd = a, .events = POLLIN };
		if (poll(&p, 1, 3000) <= 0)
			break;
		ssize_t n = recv(a, all + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		all[len] = '\0';
		/* Count status lines that are whole, from where we stopped. */
		for (char *q; (q = strstr(all + counted, "HTTP/1.1 200 OK")); got++)
			counted = (size_t)(q - all) + 1;
	}
	CHECK("flood_all_answered", got == want && want > 0);
	free(all);
	close(a);
}

static int wait_aborts(int want)
{
	for (int i = 0; i < 300 && __atomic_load_n(&aborts, __ATOMIC_SEQ_CST) < want; i++)
		usleep(10 * 1000);
	return __atomic_load_n(&aborts, __ATOMIC_SEQ_CST);
}

/* Send n bytes of pattern (byte i is i % 251), from offset off. Returns the
 * sum of the bytes sent. */
static unsigned long long send_pattern(int fd, size_t off, size_t n)
{
	static char buf[65536];
	unsigned long long sum = 0;
	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);
		for (size_t i = 0; i < k; i++) {
			buf[i] = (char)((off + i) % 251);
			sum += (unsigned char)buf[i];
		}
		size_t sent = 0;
		while (sent < k) {
			ssize_t w = send(fd, buf + sent, k - sent, MSG_NOSIGNAL);
			if (w <= 0)
				return sum;
			sent += (size_t)w;
		}
		off += k;
		n -= k;
	}
	return sum;
}

static void test_stream(void)
{
	char buf[4096], want[128];
	bool closed;
	/* 8 MiB, far above max_body (1024): the sink gets it in chunks no
	 * larger than the stream buffer. */
	size_t big = 8u << 20;
	int fd = dial();
	snprintf(buf, sizeof(buf), "PUT /stream HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", big);
	send_str(fd, buf);
	unsigned long long sum = send_pattern(fd, 0, big);
	recv_until(fd, buf, sizeof(buf), " max ", &closed);
	recv_all(fd, buf + strlen(buf), sizeof(buf) - strlen(buf), 200, &closed);
	snprintf(want, sizeof(want), "got %zu sum %llu max ", big, sum);
	char *m = strstr(buf, want);
	CHECK("stream_big", !strncmp(buf, "HTTP/1.1 200", 12) && m && !closed);
	CHECK("stream_bounded", m && strtoul(m + strlen(want), NULL, 10) <= HTTP_STREAM_BUF);
	/* Keep-alive: the same connection goes on, pipelined after a body. */
	send_str(fd, "PUT /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /hello HTTP/1.1\r\n"
		     "Host: a\r\nConnection: close\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 2000, &closed);
	CHECK("stream_pipelined", strstr(buf, "got 3 sum 294 ") && strstr(buf, "\r\n\r\nhello") && closed);
	close(fd);

	fd = dial();
	send_str(fd, "PUT /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 2000, &closed);
	CHECK("stream_empty", strstr(buf, "got 0 sum 0") && closed);
	close(fd);

	fd = dial();
	send_str(fd, "PUT /stream HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	recv_until(fd, buf, sizeof(buf), "\r\n\r\n", &closed);
	CHECK("stream_continue", !strcmp(buf, "HTTP/1.1 100 Continue\r\n\r\n"));
	send_str(fd, "ok");
	recv_until(fd, buf, sizeof(buf), " max ", &closed);
	CHECK("stream_continue_200", strstr(buf, "got 2 sum 218"));
	close(fd);

	/* Refused from the head: the reply comes without the body, and the
	 * connection closes; no 100 Continue either. */
	int chunks = __atomic_load_n(&chunks_seen, __ATOMIC_SEQ_CST);
	fd = dial();
	send_str(fd, "PUT /refuse HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("stream_refused_at_head", !strncmp(buf, "HTTP/1.1 401", 12) && strstr(buf, "Connection: close") &&
						closed);
	close(fd);
	/* And an unknown path with a big body is still the 413 of max_body. */
	fd = dial();
	send_str(fd, "PUT /other HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("unstreamed_413", !strncmp(buf, "HTTP/1.1 413", 12) && closed);
	close(fd);
	CHECK("refused_no_sink", __atomic_load_n(&chunks_seen, __ATOMIC_SEQ_CST) == chunks);

	/* A client that goes away mid-body: abort, not finish. */
	int a0 = __atomic_load_n(&aborts, __ATOMIC_SEQ_CST);
	fd = dial();
	send_str(fd, "PUT /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
	send_pattern(fd, 0, 300000);
	usleep(50 * 1000);
	close(fd);
	CHECK("stream_disconnect_aborts", wait_aborts(a0 + 1) == a0 + 1);

	/* Silent for body_ms mid-stream: 408 and abort. */
	fd = dial();
	send_str(fd, "PUT /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("stream_stall_408", strstr(buf, "HTTP/1.1 408") && closed && wait_aborts(a0 + 2) == a0 + 2);
	close(fd);

	/* Slow but steady: three times body_ms in all, never silent that long. */
	fd = dial();
	send_str(fd, "PUT /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n");
	for (int i = 0; i < 9; i++) {
		usleep(TIMEOUT_MS / 3 * 1000);
		send_str(fd, "x");
	}
	recv_until(fd, buf, sizeof(buf), " max ", &closed);
	CHECK("stream_progress_deadline", strstr(buf, "got 9 sum 1080"));
	close(fd);

	/* The sink fails: its error goes out, and the connection closes. */
	fd = dial();
	send_str(fd, "PUT /fail HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n");
	send_pattern(fd, 0, 100000);
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("stream_sink_error", !strncmp(buf, "HTTP/1.1 507", 12) && closed);
	close(fd);

	/* Above HTTP_UPLOAD_MAX: 413, and the sink is let go. */
	fd = dial();
	snprintf(buf, sizeof(buf), "PUT /stream HTTP/1.1\r\nHost: a\r\nContent-Length: %llu\r\n\r\n",
		 HTTP_UPLOAD_MAX + 1);
	send_str(fd, buf);
	recv_all(fd, buf, sizeof(buf), 3000, &closed);
	CHECK("stream_upload_max_413", !strncmp(buf, "HTTP/1.1 413", 12) && closed && wait_aborts(a0 + 3) == a0 + 3);
	close(fd);
}

static void test_max_conns(void)
{
	char buf[256];
	bool closed;
	int fds[4];
	for (int i = 0; i < 4; i++)
		fds[i] = dial();
	int extra = dial();
	recv_all(extra, buf, sizeof(buf), 1000, &closed);
	CHECK("over_limit_closed", closed && buf[0] == '\0');
	close(extra);
	/* The ones inside the limit are served. */
	send_str(fds[3], "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	recv_until(fds[3], buf, sizeof(buf), "hello", &closed);
	CHECK("inside_limit_served", !strncmp(buf, "HTTP/1.1 200", 12));
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	usleep(100 * 1000);
	int again = dial();
	send_str(again, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	recv_until(again, buf, sizeof(buf), "hello", &closed);
	CHECK("slot_freed", !strncmp(buf, "HTTP/1.1 200", 12));
	close(again);
}

int main(void)
{
	struct http_limits lim;
	http_limits_default(&lim);
	lim.header_ms = lim.body_ms = TIMEOUT_MS;
	lim.idle_ms = IDLE_MS;
	lim.max_conns = 4;
	lim.max_body = 1024;
	CHECK("init", http_server_init(&srv, &lim) == 0);
	CHECK("listen", http_server_listen(&srv, "127.0.0.1:0", &http_plain_transport, NULL, dispatch, NULL) == 0);
	CHECK("listen_bad_addr", http_server_listen(&srv, "127.0.0.1", &http_plain_transport, NULL, dispatch, NULL) ==
					 -EINVAL);
	port = http_server_port(&srv, 0);
	CHECK("port", port > 0);
	CHECK("pipe", pipe(stop_pipe) == 0);
	CHECK("watch", http_server_watch(&srv, stop_pipe[0], on_stop, NULL) == 0);
	pthread_t th;
	pthread_create(&th, NULL, server_thread, NULL);

	test_basic();
	test_timeouts();
	test_refuse_while_sending();
	test_stream();
	test_flood();
	test_max_conns();

	/* Stop with a connection still open. */
	int fd = dial();
	send_str(fd, "GET /hel");
	usleep(50 * 1000);
	CHECK("stop_write", write(stop_pipe[1], "x", 1) == 1);
	void *ret;
	pthread_join(th, &ret);
	CHECK("run_returns_0", ret == NULL);
	CHECK("counters", srv.requests >= 10 && srv.refused_full >= 1 && srv.timed_out >= 3);
	http_server_free(&srv);
	close(fd);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
	return CHECK_DONE();
}
