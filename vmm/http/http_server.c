/* The HTTP server's event loop: listeners, accept, deadlines; see
 * http_server.h. Connections are http_conn.c. */
#include "http/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/http_conn.h"
#include "log.h"

#define SWEEP_MS 100        /* how often deadlines are checked */
#define ACCEPT_PAUSE_MS 200 /* out of descriptors: try accept again after this */

int http_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || colon[1] == '\0')
		return -EINVAL;
	size_t hlen = (size_t)(colon - s);
	const char *h = s;
	if (*s == '[') { /* [v6]:port */
		if (hlen < 2 || s[hlen - 1] != ']')
			return -EINVAL;
		h = s + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

int http_server_init(struct http_server *s, const struct http_limits *lim)
{
	memset(s, 0, sizeof(*s));
	s->lim = *lim;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	return s->epfd < 0 ? -errno : 0;
}

/* Listen on fd (bound) and add it to the epoll set; closes fd on failure. */
static int listener_add(struct http_server *s, int fd, bool trusted, const struct http_transport *tr, void *tctx,
			http_dispatch_fn dispatch, void *ctx)
{
	if (listen(fd, 512)) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct http_listener *l = &s->lis[s->nlis];
	*l = (struct http_listener){ .kind = HTTP_KIND_LISTENER, .fd = fd, .tr = tr, .tctx = tctx,
				     .dispatch = dispatch, .ctx = ctx, .trusted = trusted };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int e = -errno;
		close(fd);
		return e;
	}
	s->nlis++;
	return 0;
}

int http_server_listen(struct http_server *s, const char *addr, const struct http_transport *tr, void *tctx,
		       http_dispatch_fn dispatch, void *ctx)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (s->nlis >= HTTP_MAX_LISTENERS)
		return -ENOSPC;
	if (http_parse_addr(addr, &ss, &len))
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return listener_add(s, fd, false, tr, tctx, dispatch, ctx);
}

int http_server_listen_unix(struct http_server *s, const char *path, unsigned mode, bool trusted,
			    const struct http_transport *tr, void *tctx, http_dispatch_fn dispatch, void *ctx)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	if (s->nlis >= HTTP_MAX_LISTENERS)
		return -ENOSPC;
	if (!*path || strlen(path) >= sizeof(un.sun_path))
		return -ENAMETOOLONG;
	strcpy(un.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file left by an earlier run refuses bind; only replace a
	 * socket, never a regular file someone put there. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	/* The umask decides the socket's mode at bind: never let it be wider
	 * than asked, not even for a moment. */
	mode_t old = umask(0777 & ~(mode_t)mode);
	int r = bind(fd, (struct sockaddr *)&un, sizeof(un));
	umask(old);
	if (r || chmod(path, (mode_t)mode)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return listener_add(s, fd, trusted, tr, tctx, dispatch, ctx);
}

int http_server_port(const struct http_server *s, unsigned i)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (i >= s->nlis)
		return -EINVAL;
	if (getsockname(s->lis[i].fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family != AF_INET6)
		return -EAFNOSUPPORT; /* a unix socket has no port */
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int http_server_watch(struct http_server *s, int fd, void (*fn)(void *), void *arg)
{
	if (s->nwatch >= HTTP_MAX_WATCHES)
		return -ENOSPC;
	struct http_watch *w = &s->watch[s->nwatch];
	*w = (struct http_watch){ .kind = HTTP_KIND_WATCH, .fd = fd, .fn = fn, .arg = arg };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	s->nwatch++;
	return 0;
}

static void listener_accept(struct http_server *s, struct http_listener *l)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered: stop listening a moment, or we spin. */
				log_warn("%s: cannot accept connections: %s; retrying shortly", l->tr->name,
					 strerror(errno));
				epoll_ctl(s->epfd, EPOLL_CTL_DEL, l->fd, NULL);
				l->paused_until = http_now_ms() + ACCEPT_PAUSE_MS;
			}
			return;
		}
		s->accepted++;
		if (s->nconns >= s->lim.max_conns) {
			s->refused_full++;
			close(fd); /* full: the client may retry; the backlog stays short */
			continue;
		}
		http_conn_open(s, l, fd, &peer);
	}
}

/* Close connections past their deadline; resume paused listeners. */
static void server_sweep(struct http_server *s, uint64_t now)
{
	struct http_conn *c = s->conns, *next;
	for (; c; c = next) {
		next = c->next;
		if (now < c->deadline)
			continue;
		http_conn_expire(c);
	}
	for (unsigned i = 0; i < s->nlis; i++) {
		struct http_listener *l = &s->lis[i];
		if (l->paused_until && now >= l->paused_until) {
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
			if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, l->fd, &ev) == 0)
				l->paused_until = 0;
		}
	}
}

int http_server_run(struct http_server *s)
{
	struct epoll_event ev[64];
	while (!s->stop) {
		int n = epoll_wait(s->epfd, ev, 64, SWEEP_MS);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n && !s->stop; i++) {
			int kind = *(int *)ev[i].data.ptr;
			if (kind == HTTP_KIND_LISTENER) {
				listener_accept(s, ev[i].data.ptr);
			} else if (kind == HTTP_KIND_WATCH) {
				struct http_watch *w = ev[i].data.ptr;
				w->fn(w->arg);
			} else {
				struct http_conn *c = ev[i].data.ptr;
				/* An error or hangup with nothing to read ends in
				 * recv() == 0 or -errno inside http_conn_run. */
				http_conn_run(c);
			}
		}
		uint64_t now = http_now_ms();
		if (now >= s->next_sweep) {
			server_sweep(s, now);
			s->next_sweep = now + SWEEP_MS;
		}
	}
	return 0;
}

void http_server_free(struct http_server *s)
{
	while (s->conns)
		http_conn_close(s->conns, true);
	for (unsigned i = 0; i < s->nlis; i++)
		close(s->lis[i].fd);
	s->nlis = 0;
	if (s->epfd >= 0)
		close(s->epfd);
	s->epfd = -1;
}
