/* Bringing the appliance's network up, and keeping it up.
 *
 * The NIC (the first wired one with a driver, or ip='s device) joins the
 * management bridge (kvbr0 unless kvmbox.bridge= says otherwise), so that
 * guests' taps (`--net bridge=kvbr0`) sit on the same network as the
 * appliance; the address goes on the bridge. STP stays off, so the port
 * forwards at once.
 *
 * DHCP runs over a raw packet socket (there is no address to bind a UDP
 * socket to yet), driven by a timerfd: DISCOVER, REQUEST, then renewal at T1
 * and rebinding (broadcast) at T2; a NAK or the lease running out starts
 * over. Boot waits up to kvmbox.netwait seconds for the first lease, then
 * goes on and the client keeps trying in init's event loop. A netlink socket
 * watches the NIC's link: it is logged, and when the carrier comes back the
 * lease is asked for again (the cable may now be in another network).
 *
 * Address, mask, route: ioctls (SIOCSIFADDR, SIOCADDRT), which need no
 * message building. /etc/resolv.conf gets the DNS servers, for the
 * appliance's own resolver users (usernet relays to it).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "init.h"
#include "log.h"
#include "net.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* linux/if.h: carrier; glibc's net/if.h leaves it out */
#endif

enum dhcp_state { ST_OFF, ST_SELECTING, ST_REQUESTING, ST_BOUND, ST_RENEWING, ST_REBINDING };

static struct {
	struct net_config cfg;
	char nic[NET_IFNAME_MAX], ifname[NET_IFNAME_MAX]; /* the NIC; where the address goes */
	int nic_index, if_index, link_up;
	uint8_t mac[6];
	int raw, timer, nl;
	enum dhcp_state st;
	uint32_t xid, offered, server;
	int tries;
	double t1, t2, expiry;   /* monotonic deadlines while bound */
	struct dhcp_lease lease;
	uint32_t addr;           /* what is on the interface now */
	int prefix;
	char why[128];           /* why there is no address */
} n = { .raw = -1, .timer = -1, .nl = -1 };

static int ioctl_sock(void)
{
	static int s = -1;
	if (s < 0)
		s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return s;
}

static int if_flags(const char *name, int set)
{
	struct ifreq r = { 0 };
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
	if (ioctl(ioctl_sock(), SIOCGIFFLAGS, &r) < 0)
		return -errno;
	r.ifr_flags |= (short)set;
	return ioctl(ioctl_sock(), SIOCSIFFLAGS, &r) < 0 ? -errno : 0;
}

/* The first wired NIC with a driver, by name: not a bridge, tap or lo. */
static int pick_nic(char *out, size_t size)
{
	DIR *d = opendir("/sys/class/net");
	char best[NET_IFNAME_MAX] = "", p[300], t[32];
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= NET_IFNAME_MAX)
			continue;
		snprintf(p, sizeof(p), "/sys/class/net/%s/device", e->d_name);
		if (access(p, F_OK) < 0)
			continue;
		snprintf(p, sizeof(p), "/sys/class/net/%s/type", e->d_name);
		if (init_read_text(p, t, sizeof(t)) < 0 || atoi(t) != 1) /* ARPHRD_ETHER */
			continue;
		if (!best[0] || strcmp(e->d_name, best) < 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	if (d)
		closedir(d);
	snprintf(out, size, "%s", best);
	return best[0] ? 0 : -ENODEV;
}

static void set_address(uint32_t addr, int prefix, uint32_t gw)
{
	struct ifreq r = { 0 };
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", n.ifname);
	struct sockaddr_in *sin = (struct sockaddr_in *)&r.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr;
	if (ioctl(ioctl_sock(), SIOCSIFADDR, &r) < 0)
		log_warn("net: %s: setting the address: %s", n.ifname, strerror(errno));
	sin->sin_addr.s_addr = htonl(prefix ? 0xffffffffu << (32 - prefix) : 0);
	if (ioctl(ioctl_sock(), SIOCSIFNETMASK, &r) < 0)
		log_warn("net: %s: setting the netmask: %s", n.ifname, strerror(errno));
	n.addr = addr;
	n.prefix = prefix;
	if (!addr || !gw)
		return;
	struct rtentry rt = { 0 };
	struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst, *g = (struct sockaddr_in *)&rt.rt_gateway,
			   *m = (struct sockaddr_in *)&rt.rt_genmask;
	dst->sin_family = g->sin_family = m->sin_family = AF_INET;
	g->sin_addr.s_addr = gw;
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = n.ifname;
	if (ioctl(ioctl_sock(), SIOCADDRT, &rt) < 0 && errno != EEXIST)
		log_warn("net: default route via %s: %s", inet_ntoa(g->sin_addr), strerror(errno));
}

static void write_resolv(const uint32_t dns[2])
{
	if (!dns[0])
		return;
	FILE *f = fopen("/etc/resolv.conf", "w");
	if (!f)
		return;
	for (int i = 0; i < 2; i++)
		if (dns[i]) {
			struct in_addr a = { dns[i] };
			fprintf(f, "nameserver %s\n", inet_ntoa(a));
		}
	fclose(f);
}

static int prefix_of(uint32_t mask_be)
{
	int p = 0;
	for (uint32_t m = ntohl(mask_be); m & 0x80000000u; m <<= 1)
		p++;
	return p;
}

static void timer_in(double s)
{
	struct itimerspec it = { 0 };
	it.it_value.tv_sec = (time_t)s;
	it.it_value.tv_nsec = (long)((s - (double)(time_t)s) * 1e9);
	if (!it.it_value.tv_sec && !it.it_value.tv_nsec)
		it.it_value.tv_nsec = 1;
	timerfd_settime(n.timer, 0, &it, NULL);
}

/* One DHCP message out, as a broadcast IPv4/UDP packet from port 68. */
static void dhcp_send(int type, uint32_t want, uint32_t server)
{
	uint8_t pkt[28 + 400];
	size_t len = dhcp_build(pkt + 28, sizeof(pkt) - 28, type, n.xid, n.mac, want, server,
				n.cfg.hostname[0] ? n.cfg.hostname : "kvmbox");
	uint8_t *ip = pkt, *udp = pkt + 20;
	memset(pkt, 0, 28);
	size_t total = 28 + len;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
	ip[8] = 64, ip[9] = IPPROTO_UDP;
	uint32_t src = n.st == ST_RENEWING || n.st == ST_REBINDING ? n.addr : 0, dst = INADDR_BROADCAST;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	uint16_t c = net_csum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	udp[1] = 68, udp[3] = 67;
	udp[4] = (uint8_t)((len + 8) >> 8), udp[5] = (uint8_t)(len + 8); /* checksum 0: optional in IPv4 */
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = n.if_index,
				  .sll_halen = 6 };
	memset(to.sll_addr, 0xff, 6);
	if (sendto(n.raw, pkt, total, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		log_debug("net: sending DHCP: %s", strerror(errno));
}

static void dhcp_restart(const char *why)
{
	if (why)
		log_info("net: DHCP on %s: %s", n.ifname, why);
	n.st = ST_SELECTING;
	n.tries = 0;
	getrandom(&n.xid, sizeof(n.xid), 0);
	dhcp_send(DHCP_DISCOVER, 0, 0);
	timer_in(1);
}

static void dhcp_bound(const struct dhcp_lease *l)
{
	int renew = n.addr == l->addr;
	n.lease = *l;
	n.st = ST_BOUND;
	double now = now_seconds();
	n.t1 = now + l->t1_s;
	n.t2 = now + l->t2_s;
	n.expiry = now + l->lease_s;
	timer_in(l->t1_s);
	if (renew)
		return;
	set_address(l->addr, prefix_of(l->mask), l->router);
	write_resolv(l->dns);
	char a[16], s[16], g[16], dn[16];
	struct in_addr x = { l->addr }, y = { l->server }, z = { l->router }, w = { l->dns[0] };
	snprintf(a, sizeof(a), "%s", inet_ntoa(x));
	snprintf(s, sizeof(s), "%s", inet_ntoa(y));
	snprintf(g, sizeof(g), "%s", l->router ? inet_ntoa(z) : "none");
	snprintf(dn, sizeof(dn), "%s", l->dns[0] ? inet_ntoa(w) : "none");
	log_info("net: %s is %s/%d (DHCP from %s; gateway %s, DNS %s, lease %u s)", n.ifname, a, n.prefix, s, g, dn,
		 l->lease_s);
}

/* A packet on the raw socket: a DHCP reply to us, maybe. */
static void dhcp_receive(void)
{
	uint8_t pkt[1600];
	ssize_t len;
	while ((len = recv(n.raw, pkt, sizeof(pkt), MSG_DONTWAIT)) > 0) {
		if (len < 28 || (pkt[0] >> 4) != 4 || pkt[9] != IPPROTO_UDP)
			continue;
		size_t ihl = (size_t)(pkt[0] & 15) * 4;
		if (ihl < 20 || (size_t)len < ihl + 8 || pkt[ihl + 2] != 0 || pkt[ihl + 3] != 68)
			continue;
		size_t ulen = (size_t)pkt[ihl + 4] << 8 | pkt[ihl + 5];
		if (ulen < 8 || ihl + ulen > (size_t)len)
			continue;
		struct dhcp_lease l;
		if (dhcp_parse(pkt + ihl + 8, ulen - 8, n.xid, n.mac, &l) < 0)
			continue;
		if (l.type == DHCP_NAK && n.st != ST_SELECTING) {
			set_address(0, 0, 0);
			dhcp_restart("the server refused the lease (NAK); starting over");
		} else if (l.type == DHCP_OFFER && n.st == ST_SELECTING) {
			n.offered = l.addr;
			n.server = l.server;
			n.st = ST_REQUESTING;
			n.tries = 0;
			dhcp_send(DHCP_REQUEST, n.offered, n.server);
			timer_in(1);
		} else if (l.type == DHCP_ACK && n.st != ST_SELECTING && n.st != ST_BOUND) {
			dhcp_bound(&l);
		}
	}
}

/* The timer: a retransmission, or T1/T2/expiry while bound. */
static void dhcp_timer(void)
{
	uint64_t ticks;
	if (read(n.timer, &ticks, sizeof(ticks)) < 0)
		return;
	double now = now_seconds();
	/* Exponential backoff, 1 s to 32 s, as RFC 2131 4.1 suggests. */
	double backoff = n.tries < 5 ? (double)(1 << n.tries) : 32;
	switch (n.st) {
	case ST_SELECTING:
		n.tries++;
		dhcp_send(DHCP_DISCOVER, 0, 0);
		timer_in(backoff);
		break;
	case ST_REQUESTING:
		if (++n.tries > 4) {
			dhcp_restart("no answer to the request; starting over");
			break;
		}
		dhcp_send(DHCP_REQUEST, n.offered, n.server);
		timer_in(backoff);
		break;
	case ST_BOUND:
	case ST_RENEWING:
	case ST_REBINDING:
		if (now >= n.expiry) {
			set_address(0, 0, 0);
			dhcp_restart("the lease ran out; starting over");
			break;
		}
		n.st = now >= n.t2 ? ST_REBINDING : ST_RENEWING;
		dhcp_send(DHCP_REQUEST, n.addr, 0);
		/* Ask again after half the time left, at least a minute (4.4.5). */
		double left = (n.st == ST_RENEWING ? n.t2 : n.expiry) - now;
		timer_in(left / 2 > 60 ? left / 2 : left > 1 ? left : 1);
		break;
	default:
		break;
	}
}

/* Link changes of the NIC, from netlink. */
static void link_watch(void)
{
	char buf[8192];
	ssize_t len;
	while ((len = recv(n.nl, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
				continue;
			struct ifinfomsg *ifi = NLMSG_DATA(h);
			if (ifi->ifi_index != n.nic_index)
				continue;
			int up = !!(ifi->ifi_flags & IFF_LOWER_UP);
			if (up == n.link_up)
				continue;
			n.link_up = up;
			log_info("net: %s: link %s", n.nic, up ? "up" : "down");
			/* Before the first lease (the NIC's carrier often comes up
			 * only after the DISCOVERs went out): ask again at once.
			 * After a lease: the cable may be in another network now. */
			if (up && n.cfg.mode == NET_DHCP && n.raw >= 0)
				dhcp_restart(n.addr ? "the link came back; asking for a lease again" : NULL);
		}
	}
}

int net_event(int fd)
{
	if (fd < 0)
		return 0;
	if (fd == n.raw)
		dhcp_receive();
	else if (fd == n.timer)
		dhcp_timer();
	else if (fd == n.nl)
		link_watch();
	else
		return 0;
	return 1;
}

static void watch(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (fd >= 0 && epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

void net_start(const struct net_config *cfg, double wait_s, int epfd)
{
	n.cfg = *cfg;
	if (cfg->mode == NET_OFF) {
		snprintf(n.why, sizeof(n.why), "ip=off");
		log_info("net: off (ip=off on the kernel command line)");
		return;
	}
	if (cfg->iface[0])
		snprintf(n.nic, sizeof(n.nic), "%s", cfg->iface);
	else if (pick_nic(n.nic, sizeof(n.nic)) < 0) {
		snprintf(n.why, sizeof(n.why), "no network interface");
		log_warn("net: no wired network interface found; the appliance has no address");
		return;
	}
	n.nic_index = (int)if_nametoindex(n.nic);
	struct ifreq r = { 0 };
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", n.nic);
	if (!n.nic_index || ioctl(ioctl_sock(), SIOCGIFHWADDR, &r) < 0) {
		snprintf(n.why, sizeof(n.why), "no interface %s", n.nic);
		log_warn("net: no interface %s (ip= names it)", n.nic);
		return;
	}
	memcpy(n.mac, r.ifr_hwaddr.sa_data, 6);
	snprintf(n.ifname, sizeof(n.ifname), "%s", n.nic);
	if (cfg->bridge[0]) {
		int e = ioctl(ioctl_sock(), SIOCBRADDBR, cfg->bridge) < 0 ? errno : 0;
		struct ifreq b = { 0 };
		snprintf(b.ifr_name, sizeof(b.ifr_name), "%s", cfg->bridge);
		b.ifr_ifindex = n.nic_index;
		if ((e && e != EEXIST) || ioctl(ioctl_sock(), SIOCBRADDIF, &b) < 0) {
			log_warn("net: bridge %s with %s: %s; the address goes on %s itself", cfg->bridge, n.nic,
				 strerror(e ? e : errno), n.nic);
		} else {
			snprintf(n.ifname, sizeof(n.ifname), "%s", cfg->bridge);
			/* The bridge would take the lowest port MAC anyway; fixing it
			 * to the NIC's keeps DHCP leases stable as taps come and go. */
			struct ifreq h = { 0 };
			snprintf(h.ifr_name, sizeof(h.ifr_name), "%s", cfg->bridge);
			h.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
			memcpy(h.ifr_hwaddr.sa_data, n.mac, 6);
			ioctl(ioctl_sock(), SIOCSIFHWADDR, &h);
			log_info("net: %s joined bridge %s", n.nic, cfg->bridge);
		}
	}
	if_flags(n.nic, IFF_UP);
	if (strcmp(n.ifname, n.nic))
		if_flags(n.ifname, IFF_UP);
	n.if_index = (int)if_nametoindex(n.ifname);

	n.nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	if (n.nl >= 0 && bind(n.nl, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(n.nl);
		n.nl = -1;
	}
	char carrier[8] = "", p[64];
	snprintf(p, sizeof(p), "/sys/class/net/%s/carrier", n.nic);
	n.link_up = init_read_text(p, carrier, sizeof(carrier)) > 0 && carrier[0] == '1';
	watch(epfd, n.nl);

	if (cfg->mode == NET_STATIC) {
		set_address(cfg->addr, cfg->prefix, cfg->gw);
		write_resolv(cfg->dns);
		struct in_addr a = { cfg->addr };
		log_info("net: %s is %s/%d (static, from ip=)", n.ifname, inet_ntoa(a), cfg->prefix);
		return;
	}
	n.raw = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_IP));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = n.if_index };
	n.timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (n.raw < 0 || bind(n.raw, (struct sockaddr *)&ll, sizeof(ll)) < 0 || n.timer < 0) {
		snprintf(n.why, sizeof(n.why), "DHCP: %s", strerror(errno));
		log_warn("net: DHCP on %s: %s", n.ifname, strerror(errno));
		return;
	}
	dhcp_restart(NULL);
	/* The first lease, before the ready line, within wait_s. */
	net_wait_lease(wait_s);
	if (n.st != ST_BOUND) {
		snprintf(n.why, sizeof(n.why), "no DHCP lease yet");
		log_warn("net: no DHCP lease on %s after %g s; still asking in the background", n.ifname, wait_s);
	}
	watch(epfd, n.raw);
	watch(epfd, n.timer);
}

void net_wait_lease(double wait_s)
{
	if (n.raw < 0 || n.timer < 0)
		return; /* no DHCP client: static, off, or no NIC */
	double end = now_seconds() + wait_s;
	while (n.st != ST_BOUND && now_seconds() < end) {
		struct pollfd fds[3] = { { .fd = n.raw, .events = POLLIN }, { .fd = n.timer, .events = POLLIN },
					 { .fd = n.nl, .events = POLLIN } };
		int left_ms = (int)((end - now_seconds()) * 1000) + 1;
		if (poll(fds, 3, left_ms) <= 0)
			continue;
		if (fds[2].revents)
			link_watch();
		if (fds[0].revents)
			dhcp_receive();
		if (fds[1].revents)
			dhcp_timer();
	}
}

uint32_t net_addr(void)
{
	return n.addr;
}

void net_describe(char *buf, size_t size)
{
	if (!n.addr) {
		snprintf(buf, size, "none (%s)", n.why[0] ? n.why : "no address");
		return;
	}
	struct in_addr a = { n.addr };
	snprintf(buf, size, "%s/%d", inet_ntoa(a), n.prefix);
}
