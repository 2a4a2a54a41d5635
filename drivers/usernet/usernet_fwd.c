/* usernet: port forwards from the appliance into the guest (hostfwd=).
 * TCP: a listener on every appliance address; each accepted connection
 * becomes an lwip connection from the gateway to cfg.guest:GUESTPORT
 * (un_tcp_fwd_start), at most USERNET_MAX_FWD_CONNS at once, the rest closed
 * at once. UDP: one socket per rule; datagrams go to the guest from the
 * gateway's port USERNET_UDP_FWD_PORT0 + rule, and the guest's answers to
 * that port go back to whoever sent last. Forwards work with restrict=on. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usernet/usernet_int.h"

int un_fwd_open(struct usernet *u, char *err, size_t errlen)
{
	for (unsigned i = 0; i < u->cfg.nfwd; i++) {
		const struct usernet_hostfwd *r = &u->cfg.fwd[i];
		bool tcp = r->proto == IPPROTO_TCP;
		int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int one = 1;
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(r->host_port) };
		if (fd >= 0 && tcp)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    (tcp && listen(fd, USERNET_LISTEN_BACKLOG) < 0)) {
			snprintf(err, errlen, "hostfwd %s:%u:%u: %s", tcp ? "tcp" : "udp", r->host_port, r->guest_port,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		u->fwd[i] = (struct un_fwd){ .fd = fd, .rule = *r };
		u->nfwd = i + 1;
		un_watch(u, fd, EPOLLIN, EV_FWD_LISTEN, i);
	}
	return 0;
}

void un_fwd_event(struct usernet *u, unsigned idx)
{
	if (idx >= u->nfwd)
		return;
	struct un_fwd *f = &u->fwd[idx];
	for (int i = 0; i < 16; i++) {
		if (f->rule.proto == IPPROTO_TCP) {
			int c = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (c < 0)
				return;
			un_tcp_fwd_start(u, c, f->rule.guest_port);
			continue;
		}
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(f->fd, u->scratch, sizeof(u->scratch), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		f->peer = (struct udp_peer){ .known = true, .ip = ntohl(from.sin_addr.s_addr), .port = ntohs(from.sin_port) };
		if (un_send_udp(u, u->cfg.host, (uint16_t)(USERNET_UDP_FWD_PORT0 + idx), u->cfg.guest, f->rule.guest_port,
				u->scratch, (size_t)n) < 0)
			u->stats.frames_dropped++;
	}
}

bool un_fwd_udp_owns(const struct usernet *u, uint16_t sport, uint16_t dport)
{
	unsigned idx = (unsigned)dport - USERNET_UDP_FWD_PORT0;
	return dport >= USERNET_UDP_FWD_PORT0 && idx < u->nfwd && u->fwd[idx].rule.proto == IPPROTO_UDP &&
	       u->fwd[idx].rule.guest_port == sport;
}

void un_fwd_udp_input(struct usernet *u, const struct un_ip *p)
{
	size_t ulen = un_get16(p->l4 + 4);
	unsigned idx = (unsigned)un_get16(p->l4 + 2) - USERNET_UDP_FWD_PORT0;
	if (p->l4_len < 8 || ulen < 8 || ulen > p->l4_len || idx >= u->nfwd || u->fwd[idx].rule.proto != IPPROTO_UDP ||
	    !u->fwd[idx].peer.known || un_get16(p->l4) != u->fwd[idx].rule.guest_port) {
		u->stats.frames_dropped++;
		return;
	}
	struct un_fwd *f = &u->fwd[idx];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(f->peer.port),
				  .sin_addr.s_addr = htonl(f->peer.ip) };
	if (sendto(f->fd, p->l4 + 8, ulen - 8, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) < 0)
		u->stats.frames_dropped++;
}

void un_fwd_close_all(struct usernet *u)
{
	for (unsigned i = 0; i < u->nfwd; i++) {
		un_unwatch(u, u->fwd[i].fd);
		close(u->fwd[i].fd);
	}
	u->nfwd = 0;
}
