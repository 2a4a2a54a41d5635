/* usernet: the guest's UDP through host sockets. A flow (guest port,
 * destination address and port) is one connected host socket, so only the
 * destination's replies come back; at most USERNET_MAX_UDP flows, the idlest
 * recycled for a new one, each closed after USERNET_UDP_IDLE_MS quiet. The
 * guest's datagrams never go through lwip: they are read here and replies
 * are framed here (un_send_udp). DNS is a flow like any other, to the
 * appliance's resolver (un_translate_dst). */
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usernet/usernet_int.h"

static void udp_close(struct usernet *u, struct un_udp *f)
{
	if (f->fd >= 0) {
		un_unwatch(u, f->fd);
		close(f->fd);
	}
	f->fd = -1;
	f->used = false;
}

static struct un_udp *udp_find(struct usernet *u, uint16_t gport, uint32_t dst, uint16_t dport)
{
	for (unsigned i = 0; i < USERNET_MAX_UDP; i++) {
		struct un_udp *f = &u->udp[i];
		if (f->used && f->gport == gport && f->dst_ip == dst && f->dst_port == dport)
			return f;
	}
	return NULL;
}

static struct un_udp *udp_open(struct usernet *u, uint16_t gport, uint32_t dst, uint16_t dport)
{
	struct un_udp *f = NULL, *idlest = NULL;
	for (unsigned i = 0; i < USERNET_MAX_UDP && !f; i++) {
		if (!u->udp[i].used)
			f = &u->udp[i];
		else if (!idlest || u->udp[i].last < idlest->last)
			idlest = &u->udp[i];
	}
	if (!f) {
		/* All taken: UDP has no connection to break, so the quietest
		 * flow gives way rather than the guest's newest. */
		f = idlest;
		udp_close(u, f);
		u->stats.udp_recycled++;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(dport),
				 .sin_addr.s_addr = htonl(un_translate_dst(u, dst, dport)) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		u->stats.udp_refused++;
		return NULL;
	}
	*f = (struct un_udp){ .used = true, .fd = fd, .gport = gport, .dst_ip = dst, .dst_port = dport, .last = u->now };
	un_watch(u, fd, EPOLLIN, EV_UDP, (unsigned)(f - u->udp));
	u->stats.udp_flows++;
	return f;
}

void un_udp_input(struct usernet *u, const struct un_ip *p)
{
	if (p->l4_len < 8)
		return;
	size_t ulen = un_get16(p->l4 + 4);
	if (ulen < 8 || ulen > p->l4_len)
		return;
	uint16_t csum = un_get16(p->l4 + 6);
	if (csum && un_csum_fold(un_csum_add(p->l4, ulen, un_pseudo_sum(p->ip, 17, ulen))) != 0) {
		u->stats.frames_dropped++;
		return;
	}
	if (p->dst == 0xffffffff || ((p->dst & u->cfg.mask) == u->cfg.net && (p->dst | u->cfg.mask) == 0xffffffff) ||
	    (p->dst >> 28) == 14) {
		u->stats.frames_dropped++; /* broadcast and multicast stay on the guest's link */
		return;
	}
	if (!un_outbound_ok(u)) {
		u->stats.udp_refused++;
		return;
	}
	uint16_t gport = un_get16(p->l4), dport = un_get16(p->l4 + 2);
	struct un_udp *f = udp_find(u, gport, p->dst, dport);
	if (!f && !(f = udp_open(u, gport, p->dst, dport)))
		return;
	f->last = u->now;
	/* A full socket buffer drops the datagram, as a full link would. */
	if (send(f->fd, p->l4 + 8, ulen - 8, MSG_DONTWAIT) < 0)
		u->stats.frames_dropped++;
}

void un_udp_event(struct usernet *u, unsigned idx)
{
	if (idx >= USERNET_MAX_UDP || !u->udp[idx].used)
		return;
	struct un_udp *f = &u->udp[idx];
	/* A few datagrams per wakeup, so one busy flow does not starve the rest. */
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(f->fd, u->scratch, sizeof(u->scratch), MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK) {
				/* ICMP errors (refused, unreachable) surface here; the
				 * flow stays, as the guest may send again. */
				continue;
			}
			return;
		}
		f->last = u->now;
		if (un_send_udp(u, f->dst_ip, f->dst_port, u->cfg.guest, f->gport, u->scratch, (size_t)n) < 0)
			u->stats.frames_dropped++;
	}
}

void un_udp_sweep(struct usernet *u)
{
	for (unsigned i = 0; i < USERNET_MAX_UDP; i++)
		if (u->udp[i].used && u->now - u->udp[i].last > USERNET_UDP_IDLE_MS)
			udp_close(u, &u->udp[i]);
}

void un_udp_close_all(struct usernet *u)
{
	for (unsigned i = 0; i < USERNET_MAX_UDP; i++)
		if (u->udp[i].used)
			udp_close(u, &u->udp[i]);
}
