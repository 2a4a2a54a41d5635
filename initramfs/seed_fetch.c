/* GET a seed over plain HTTP/1.1 (see seed_http.h): resolve, connect, send,
 * read, parse; retry what may pass (no address yet, refused, timed out, 5xx)
 * until the deadline. Runs in PID 1 before its event loop, so every wait is
 * bounded and DHCP is kept going while it waits. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init.h"
#include "log.h"
#include "net.h"
#include "seed_http.h"
#include "supervisor/seed_parse.h"

#define FETCH_TRY_MAX_S 15   /* one connection: a dead server fails the try, not the boot */
#define DNS_TRY_S 2
#define FETCH_RETRY_MAX_S 8  /* backoff 1, 2, 4, 8, 8, ... s */
/* Headers plus a chunked body's framing: room for the largest seed in chunks
 * of 1 KiB and more, which is what servers send. */
#define FETCH_RAW_MAX (SEED_HTTP_HEADER_MAX + SEED_MAX_BYTES + SEED_MAX_BYTES / 64)

static int ms_left(double end)
{
	double left = end - now_seconds();
	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* Wait for fd to be ready for events, until end: 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, double end)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		int r = poll(&p, 1, ms_left(end));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* The first IPv4 nameserver lines of /etc/resolv.conf (net_up.c writes it
 * from the DHCP lease). Returns how many. */
static int nameservers(uint32_t *ns, int max)
{
	char text[2048];
	int n = 0;
	if (init_read_text("/etc/resolv.conf", text, sizeof(text)) < 0)
		return 0;
	for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
		char addr[64];
		struct in_addr in;
		if (sscanf(line, " nameserver %63s", addr) == 1 && inet_pton(AF_INET, addr, &in) == 1)
			ns[n++] = in.s_addr;
	}
	return n;
}

static int resolve(const struct seed_url *u, uint32_t *addr, double end, char *err, size_t errlen)
{
	if (u->addr) {
		*addr = u->addr;
		return 0;
	}
	uint32_t ns[3];
	int nns = nameservers(ns, 3);
	if (!nns) {
		snprintf(err, errlen, "no DNS server to resolve %s (none from DHCP yet); or use an IPv4 address", u->host);
		return -EHOSTUNREACH;
	}
	int last = -ETIMEDOUT;
	for (int i = 0; i < nns && now_seconds() < end; i++) {
		uint8_t msg[SEED_DNS_MSG_MAX];
		uint16_t id;
		if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
			id = (uint16_t)(now_seconds() * 1e6);
		int qlen = seed_dns_query(msg, sizeof(msg), id, u->host);
		if (qlen < 0) {
			snprintf(err, errlen, "\"%s\" is not a valid host name", u->host);
			return -EINVAL;
		}
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = ns[i] };
		if (s < 0)
			return -errno;
		double try_end = now_seconds() + DNS_TRY_S < end ? now_seconds() + DNS_TRY_S : end;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send(s, msg, (size_t)qlen, 0) != qlen) {
			last = -errno;
			close(s);
			continue;
		}
		/* Replies to other ids (a late answer to an earlier try) are skipped. */
		while ((last = wait_fd(s, POLLIN, try_end)) == 0) {
			ssize_t n = recv(s, msg, sizeof(msg), 0);
			if (n < 0) {
				last = errno == EAGAIN ? 0 : -errno;
				if (last)
					break;
				continue;
			}
			last = seed_dns_answer(msg, (size_t)n, id, addr);
			if (last != -EPROTO)
				break;
		}
		close(s);
		if (!last)
			return 0;
		if (last == -ENOENT) {
			snprintf(err, errlen, "the DNS server has no IPv4 address for %s", u->host);
			return -ENOENT;
		}
	}
	snprintf(err, errlen, "resolving %s: %s", u->host, last == -EPROTO ? "bad DNS answer" : strerror(-last));
	return last;
}

static int send_all(int s, const char *p, size_t n, double end)
{
	while (n) {
		ssize_t w = send(s, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			int r = wait_fd(s, POLLOUT, end);
			if (r < 0)
				return r;
			continue;
		}
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One try: connect, GET, read until the response is complete. */
static int get_once(const struct seed_url *u, uint32_t addr, char *body, size_t size, double end, char *err,
		    size_t errlen)
{
	static char raw[FETCH_RAW_MAX];
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(u->port), .sin_addr.s_addr = addr };
	int r = 0;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errno == EINPROGRESS ? wait_fd(s, POLLOUT, end) : -errno;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (!r && getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
			r = -soerr;
	}
	char req[SEED_URL_PATH_MAX + SEED_HOST_MAX + 256], port[8] = "";
	if (u->port != 80) /* Host: carries the port only when it is not the default */
		snprintf(port, sizeof(port), ":%u", u->port);
	int rl = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.1\r\nHost: %s%s\r\nUser-Agent: kvmbox/%s\r\nAccept: */*\r\n"
			  "Connection: close\r\n\r\n",
			  u->path, u->host, port, KVMBOX_VERSION);
	if (!r)
		r = send_all(s, req, (size_t)rl, end);
	if (r < 0) {
		snprintf(err, errlen, "connecting to %s:%u: %s", inet_ntoa(sa.sin_addr), u->port, strerror(-r));
		close(s);
		return r;
	}
	size_t len = 0;
	struct seed_http_resp resp;
	for (;;) {
		int eof = 0;
		if ((r = wait_fd(s, POLLIN, end)) < 0) {
			snprintf(err, errlen, "no complete answer from %s:%u in time (%zu bytes so far)",
				 inet_ntoa(sa.sin_addr), u->port, len);
			break;
		}
		ssize_t n = recv(s, raw + len, sizeof(raw) - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "reading from %s:%u: %s", inet_ntoa(sa.sin_addr), u->port, strerror(errno));
			break;
		}
		len += (size_t)n;
		eof = n == 0;
		r = seed_http_parse(raw, len, eof, &resp, body, size, err, errlen);
		if (r == 0 && len == sizeof(raw)) {
			snprintf(err, errlen, "the answer is larger than %d bytes", FETCH_RAW_MAX);
			r = -EFBIG;
		}
		if (r != 0)
			break;
	}
	close(s);
	if (r == -EPROTO)
		return -EBADMSG; /* not HTTP as we know it: another try will not help */
	if (r < 0)
		return r;
	if (resp.status != 200) {
		snprintf(err, errlen, "the server answered %d %s", resp.status, resp.reason);
		return resp.status >= 500 ? -EAGAIN : -EACCES;
	}
	return (int)resp.body_len;
}

/* Worth another try: the network or the server may come up. */
static int transient(int r)
{
	return r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -ENETUNREACH || r == -EIO ||
	       r == -EAGAIN || r == -ECONNRESET || r == -EPIPE || r == -ENOENT || r == -EPROTO;
}

int seed_fetch(const char *url, char *buf, size_t size, double deadline_s, char *err, size_t errlen)
{
	struct seed_url u;
	int r = seed_url_parse(url, &u, err, errlen);
	if (r < 0)
		return r;
	double start = now_seconds(), end = start + deadline_s;
	int delay = 1;
	for (int attempt = 1;; attempt++) {
		if (!net_addr()) {
			log_info("seed: waiting up to %.0f s for a network address to fetch %s", end - now_seconds(), url);
			net_wait_lease(end - now_seconds());
		}
		uint32_t addr = 0;
		double try_end = now_seconds() + FETCH_TRY_MAX_S < end ? now_seconds() + FETCH_TRY_MAX_S : end;
		if (!net_addr()) {
			snprintf(err, errlen, "the appliance has no network address (no DHCP lease; see ip= and kvmbox.netwait)");
			r = -ENETUNREACH;
		} else {
			r = resolve(&u, &addr, try_end, err, errlen);
			if (!r)
				r = get_once(&u, addr, buf, size, try_end, err, errlen);
		}
		if (r >= 0)
			return r;
		if (!transient(r))
			return r;
		if (now_seconds() + delay >= end) {
			char last[200];
			snprintf(last, sizeof(last), "%s", err);
			snprintf(err, errlen, "gave up after %d tries in %.0f s: %s", attempt, now_seconds() - start, last);
			return r;
		}
		log_warn("seed: fetching %s (try %d): %s; trying again in %d s", url, attempt, err, delay);
		usleep((useconds_t)delay * 1000000);
		delay = delay * 2 > FETCH_RETRY_MAX_S ? FETCH_RETRY_MAX_S : delay * 2;
	}
}
