/* The plain TCP transport, for the port 80 redirector: the socket itself,
 * with EAGAIN turned into HTTP_WANT_*. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http/http_server.h"

struct plain_conn {
	int fd;
	int err;
};

static void *plain_open(void *tctx, int fd)
{
	(void)tctx;
	struct plain_conn *p = calloc(1, sizeof(*p));
	if (p)
		p->fd = fd;
	return p;
}

static int plain_handshake(void *conn)
{
	(void)conn;
	return 0;
}

static ssize_t plain_recv(void *conn, void *buf, size_t len)
{
	struct plain_conn *p = conn;
	ssize_t n = recv(p->fd, buf, len, 0);
	if (n >= 0)
		return n;
	p->err = errno;
	if (errno == EAGAIN || errno == EINTR)
		return HTTP_WANT_READ;
	return -errno;
}

static ssize_t plain_send(void *conn, const void *buf, size_t len)
{
	struct plain_conn *p = conn;
	ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	p->err = errno;
	if (errno == EAGAIN || errno == EINTR)
		return HTTP_WANT_WRITE;
	return -errno;
}

static void plain_shutdown(void *conn)
{
	struct plain_conn *p = conn;
	shutdown(p->fd, SHUT_WR);
}

static void plain_close(void *conn)
{
	free(conn);
}

static const char *plain_error(void *conn, char *buf, size_t size)
{
	struct plain_conn *p = conn;
	snprintf(buf, size, "%s", strerror(p->err));
	return buf;
}

const struct http_transport http_plain_transport = {
	.name = "http",
	.open = plain_open,
	.handshake = plain_handshake,
	.recv = plain_recv,
	.send = plain_send,
	.shutdown = plain_shutdown,
	.close = plain_close,
	.error = plain_error,
};
