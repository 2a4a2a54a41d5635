/* usernet: the guest's ping (ICMP echo) to the world, through unprivileged
 * ICMP sockets (SOCK_DGRAM, IPPROTO_ICMP), which the host allows to the
 * groups in net.ipv4.ping_group_range. Where it does not, echoes are dropped,
 * as a firewall would. The kernel picks the echo identifier of such a
 * socket; the guest's is put back into the replies. Pings of the gateway are
 * lwip's. */
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usernet/usernet_int.h"

#define ICMP_IDLE_MS 10000
#define ICMP_MAX_ECHO 1472 /* header and data that one frame carries */

static void icmp_close(struct usernet *u, struct un_icmp *f)
{
	if (f->fd >= 0) {
		un_unwatch(u, f->fd);
		close(f->fd);
	}
	f->fd = -1;
	f->used = false;
}

void un_icmp_input(struct usernet *u, const struct un_ip *p)
{
	const uint8_t *m = p->l4;
	if (p->l4_len < 8 || p->l4_len > ICMP_MAX_ECHO || m[0] != 8 || m[1] != 0 || !un_outbound_ok(u) ||
	    un_csum_fold(un_csum_add(m, p->l4_len, 0)) != 0) {
		u->stats.frames_dropped++;
		return;
	}
	uint16_t gid = un_get16(m + 4);
	struct un_icmp *f = NULL, *idlest = NULL;
	for (unsigned i = 0; i < USERNET_MAX_ICMP && !f; i++) {
		struct un_icmp *c = &u->icmp[i];
		if (c->used && c->gid == gid && c->dst_ip == p->dst)
			f = c;
		else if (!idlest || !c->used || (idlest->used && c->last < idlest->last))
			idlest = c;
	}
	if (!f) {
		f = idlest;
		if (f->used)
			icmp_close(u, f);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(un_translate_dst(u, p->dst, 0)) };
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			if (fd >= 0)
				close(fd);
			u->stats.frames_dropped++;
			return;
		}
		*f = (struct un_icmp){ .used = true, .fd = fd, .gid = gid, .dst_ip = p->dst };
		un_watch(u, fd, EPOLLIN, EV_ICMP, (unsigned)(f - u->icmp));
	}
	f->last = u->now;
	if (send(f->fd, m, p->l4_len, MSG_DONTWAIT) < 0)
		u->stats.frames_dropped++;
}

void un_icmp_event(struct usernet *u, unsigned idx)
{
	if (idx >= USERNET_MAX_ICMP || !u->icmp[idx].used)
		return;
	struct un_icmp *f = &u->icmp[idx];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(f->fd, u->scratch, ICMP_MAX_ECHO, MSG_DONTWAIT);
		if (n < 0)
			return;
		if (n < 8 || u->scratch[0] != 0)
			continue;
		un_put16(u->scratch + 4, f->gid);
		un_put16(u->scratch + 2, 0);
		un_put16(u->scratch + 2, un_csum_fold(un_csum_add(u->scratch, (size_t)n, 0)));
		if (un_send_ip(u, f->dst_ip, u->cfg.guest, 1, u->scratch, (size_t)n, NULL) == 0)
			u->stats.icmp_echoes++;
		f->last = u->now;
	}
}

void un_icmp_sweep(struct usernet *u)
{
	for (unsigned i = 0; i < USERNET_MAX_ICMP; i++)
		if (u->icmp[i].used && u->now - u->icmp[i].last > ICMP_IDLE_MS)
			icmp_close(u, &u->icmp[i]);
}

void un_icmp_close_all(struct usernet *u)
{
	for (unsigned i = 0; i < USERNET_MAX_ICMP; i++)
		if (u->icmp[i].used)
			icmp_close(u, &u->icmp[i]);
}
