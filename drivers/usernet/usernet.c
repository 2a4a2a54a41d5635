/* usernet core: the lwip netif, frames in and out, the event loop's fds and
 * lwip's timers. See usernet.h for the whole picture. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/init.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"
#include "usernet/usernet_int.h"

#define ETH_HLEN 14
#define TICK_MS 50       /* lwip's fastest timer is TCP's 250 ms; this keeps it near its period */
#define SWEEP_MS 1000    /* connection and flow timeouts are checked this often */

const uint8_t usernet_gateway_mac[6] = { 0x02, 0x6b, 0x62, 0x75, 0x6e, 0x02 };

/* lwip is global; one backend per process owns it. */
static struct usernet *the_usernet;
static bool lwip_ready;

uint64_t un_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* lwip's clock. */
u32_t sys_now(void)
{
	return (u32_t)un_now_ms();
}

void un_watch(struct usernet *u, int fd, uint32_t events, unsigned kind, unsigned idx)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind << 32 | idx };
	if (epoll_ctl(u->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void un_unwatch(struct usernet *u, int fd)
{
	epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
}

bool un_outbound_ok(const struct usernet *u)
{
	return !u->cfg.restricted;
}

uint32_t un_translate_dst(const struct usernet *u, uint32_t dst, uint16_t port)
{
	if (dst == u->cfg.host)
		return 0x7f000001; /* the appliance itself, as QEMU's 10.0.2.2 is the host */
	if (dst == u->cfg.dns && port == 53)
		return u->resolver ? u->resolver : 0x7f000001;
	return dst;
}

void un_work_signal(struct usernet *u)
{
	uint64_t one = 1;
	if (!u->work_signalled && write(u->workefd, &one, sizeof(one)) == sizeof(one))
		u->work_signalled = true;
}

/* --- frames for the guest --- */

int un_rx_push(struct usernet *u, const uint8_t *frame, size_t len)
{
	if (len > USERNET_FRAME_MAX || !u->guest_mac_known) {
		u->stats.frames_dropped++;
		return -EMSGSIZE;
	}
	if (u->rx_count == USERNET_RXQ_FRAMES) {
		u->stats.rxq_full++;
		u->rx_was_full = true;
		return -ENOBUFS;
	}
	struct un_frame *f = &u->rxq[(u->rx_head + u->rx_count) % USERNET_RXQ_FRAMES];
	memcpy(f->data, frame, len);
	f->len = (uint16_t)len;
	u->rx_count++;
	u->stats.frames_out++;
	if (!u->rx_signalled) {
		uint64_t one = 1;
		if (write(u->rxefd, &one, sizeof(one)) == sizeof(one))
			u->rx_signalled = true;
	}
	return 0;
}

size_t usernet_rx_pop(struct usernet *u, uint8_t *buf, size_t cap)
{
	if (u->rx_was_full && u->rx_count < USERNET_RXQ_FRAMES / 2) {
		/* Connections whose segments found the queue full wait for a
		 * timer otherwise; room again, so send now. */
		u->rx_was_full = false;
		un_tcp_kick_all(u);
	}
	if (!u->rx_count) {
		uint64_t v;
		if (u->rx_signalled && read(u->rxefd, &v, sizeof(v)) == sizeof(v))
			u->rx_signalled = false;
		return 0;
	}
	struct un_frame *f = &u->rxq[u->rx_head];
	size_t len = f->len <= cap ? f->len : 0;
	memcpy(buf, f->data, len);
	u->rx_head = (u->rx_head + 1) % USERNET_RXQ_FRAMES;
	u->rx_count--;
	return len;
}

/* lwip's frames: NAT-translated back where they belong, then queued. */
static err_t netif_linkoutput(struct netif *n, struct pbuf *p)
{
	struct usernet *u = n->state;
	uint8_t f[USERNET_FRAME_MAX];
	if (p->tot_len > sizeof(f)) {
		u->stats.frames_dropped++;
		return ERR_OK;
	}
	size_t len = pbuf_copy_partial(p, f, p->tot_len, 0);
	if (len >= ETH_HLEN && un_get16(f + 12) == 0x0800 && un_tcp_output_fix(u, f, len) != ERR_OK) {
		u->stats.frames_dropped++;
		return ERR_OK; /* for a connection that is gone */
	}
	/* Full: TCP keeps the segment and sends it again later. */
	return un_rx_push(u, f, len) == -ENOBUFS ? ERR_MEM : ERR_OK;
}

static err_t netif_setup(struct netif *n)
{
	n->name[0] = 'u';
	n->name[1] = 'n';
	n->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(n->hwaddr, usernet_gateway_mac, 6);
	n->mtu = 1500;
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	n->output = etharp_output;
	n->output_ip6 = ethip6_output;
	n->linkoutput = netif_linkoutput;
	return ERR_OK;
}

void un_lwip_input(struct usernet *u, const uint8_t *frame, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	if (!p) {
		u->stats.frames_dropped++;
		return;
	}
	pbuf_take(p, frame, (u16_t)len);
	if (u->netif.input(p, &u->netif) != ERR_OK)
		pbuf_free(p);
}

/* --- frames from the guest --- */

/* ARP for the DNS address: lwip answers only for its own (the gateway). */
static bool arp_input(struct usernet *u, const uint8_t *f, size_t len)
{
	if (len < ETH_HLEN + 28)
		return false;
	const uint8_t *a = f + ETH_HLEN;
	if (un_get16(a) != 1 || un_get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 || un_get16(a + 6) != 1)
		return false;
	if (un_get32(a + 24) != u->cfg.dns)
		return false;
	uint8_t r[60] = { 0 };
	memcpy(r, a + 8, 6);
	memcpy(r + 6, usernet_gateway_mac, 6);
	un_put16(r + 12, 0x0806);
	uint8_t *ra = r + ETH_HLEN;
	memcpy(ra, a, 6);
	un_put16(ra + 6, 2); /* reply */
	memcpy(ra + 8, usernet_gateway_mac, 6);
	un_put32(ra + 14, u->cfg.dns);
	memcpy(ra + 18, a + 8, 10); /* the asker's MAC and IP */
	un_rx_push(u, r, sizeof(r));
	return true;
}

static void ip_input(struct usernet *u, uint8_t *f, size_t len)
{
	struct un_ip p;
	if (un_parse_ip(f, len, &p) < 0) {
		u->stats.frames_dropped++;
		return;
	}
	if (p.proto == 17 && p.l4_len >= 8 && !p.fragment && un_get16(p.l4 + 2) == 67) {
		un_dhcp_input(u, &p);
		return;
	}
	bool to_gw = p.dst == u->cfg.host;
	if (p.fragment) {
		/* lwip reassembles pings of the gateway. TCP and UDP fragments
		 * are dropped: the NAT needs the ports of every packet, and a
		 * reassembled segment would reach lwip's NAT listener without
		 * the NAT. */
		if (to_gw && p.proto == 1)
			un_lwip_input(u, f, len);
		else
			u->stats.frames_dropped++;
		return;
	}
	/* lwip's own connections (hostfwd) and the UDP forwards' ports are
	 * the gateway's; everything else to it is for the appliance. */
	if (to_gw && p.l4_len >= 4) {
		uint16_t sport = un_get16(p.l4), dport = un_get16(p.l4 + 2);
		if (p.proto == 6 && un_tcp_lwip_owns(sport, dport)) {
			un_lwip_input(u, f, len);
			return;
		}
		if (p.proto == 17 && un_fwd_udp_owns(u, sport, dport)) {
			un_fwd_udp_input(u, &p);
			return;
		}
	}
	switch (p.proto) {
	case 1:
		if (to_gw)
			un_lwip_input(u, f, len); /* ping the gateway */
		else
			un_icmp_input(u, &p);
		return;
	case 6:
		un_tcp_input(u, f, len, &p);
		return;
	case 17:
		un_udp_input(u, &p);
		return;
	default:
		u->stats.frames_dropped++;
	}
}

void usernet_input(struct usernet *u, const uint8_t *frame, size_t len)
{
	/* Our own copy: the guest may change its buffer while we look. */
	uint8_t f[USERNET_FRAME_MAX];
	u->now = un_now_ms();
	u->stats.frames_in++;
	if (len < ETH_HLEN || len > sizeof(f)) {
		u->stats.frames_dropped++;
		return;
	}
	memcpy(f, frame, len);
	if (!(f[6] & 1)) { /* a unicast source: the guest's MAC */
		memcpy(u->guest_mac, f + 6, 6);
		u->guest_mac_known = true;
	}
	switch (un_get16(f + 12)) {
	case 0x0806:
		if (!arp_input(u, f, len))
			un_lwip_input(u, f, len);
		break;
	case 0x0800:
		ip_input(u, f, len);
		break;
	default: /* IPv6 and the rest: not served */
		u->stats.frames_dropped++;
	}
}

/* --- the loop --- */

int usernet_poll_fd(const struct usernet *u)
{
	return u->epfd;
}

int usernet_rx_fd(const struct usernet *u)
{
	return u->rxefd;
}

void usernet_poll(struct usernet *u)
{
	struct epoll_event ev[32];
	int n = epoll_wait(u->epfd, ev, 32, 0);
	u->now = un_now_ms();
	for (int i = 0; i < n; i++) {
		unsigned kind = (unsigned)(ev[i].data.u64 >> 32), idx = (unsigned)ev[i].data.u64;
		switch (kind) {
		case EV_TIMER: {
			uint64_t ticks;
			if (read(u->timerfd, &ticks, sizeof(ticks)) < 0)
				break;
			break;
		}
		case EV_TCP: un_tcp_event(u, idx, ev[i].events); break;
		case EV_UDP: un_udp_event(u, idx); break;
		case EV_FWD_LISTEN: un_fwd_event(u, idx); break;
		case EV_ICMP: un_icmp_event(u, idx); break;
		case EV_WORK: break; /* below */
		}
	}
	if (u->work_signalled) {
		uint64_t v;
		if (read(u->workefd, &v, sizeof(v)) == sizeof(v) || errno == EAGAIN)
			u->work_signalled = false;
	}
	/* The guest's batch is in (virtio-net hands over every frame of a kick
	 * before its loop comes back here): its bytes leave, and its ACKs. */
	un_tcp_flush_due(u);
	sys_check_timeouts();
	if (u->now >= u->next_sweep) {
		u->next_sweep = u->now + SWEEP_MS;
		un_tcp_sweep(u);
		un_udp_sweep(u);
		un_icmp_sweep(u);
	}
}

void usernet_get_stats(const struct usernet *u, struct usernet_stats *s)
{
	*s = u->stats;
	s->tcp_now = s->fwd_now = s->udp_now = 0;
	for (unsigned i = 0; i < USERNET_MAX_TCP + USERNET_MAX_FWD_CONNS; i++)
		if (u->tcp[i].state != UT_FREE)
			*(u->tcp[i].fwd ? &s->fwd_now : &s->tcp_now) += 1;
	for (unsigned i = 0; i < USERNET_MAX_UDP; i++)
		s->udp_now += u->udp[i].used;
}

void usernet_free(struct usernet *u)
{
	if (!u)
		return;
	un_fwd_close_all(u);
	un_tcp_close_all(u);
	un_udp_close_all(u);
	un_icmp_close_all(u);
	if (u->netif_added)
		netif_remove(&u->netif);
	if (u->epfd >= 0)
		close(u->epfd);
	if (u->timerfd >= 0)
		close(u->timerfd);
	if (u->rxefd >= 0)
		close(u->rxefd);
	if (u->workefd >= 0)
		close(u->workefd);
	free(u->rxq);
	if (the_usernet == u)
		the_usernet = NULL;
	free(u);
}

struct usernet *usernet_new(const struct usernet_config *cfg, char *err, size_t errlen)
{
	if (usernet_config_check(cfg, err, errlen) < 0)
		return NULL;
	if (the_usernet) {
		snprintf(err, errlen, "only one user-mode network per VM");
		return NULL;
	}
	struct usernet *u = calloc(1, sizeof(*u));
	if (!u || !(u->rxq = calloc(USERNET_RXQ_FRAMES, sizeof(*u->rxq)))) {
		free(u);
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	the_usernet = u;
	u->cfg = *cfg;
	u->timerfd = u->rxefd = u->workefd = -1;
	for (unsigned i = 0; i < USERNET_MAX_TCP + USERNET_MAX_FWD_CONNS; i++)
		u->tcp[i].fd = -1;
	for (unsigned i = 0; i < USERNET_MAX_UDP; i++)
		u->udp[i].fd = -1;
	for (unsigned i = 0; i < USERNET_MAX_ICMP; i++)
		u->icmp[i].fd = -1;
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	u->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	u->rxefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	u->workefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->epfd < 0 || u->timerfd < 0 || u->rxefd < 0 || u->workefd < 0) {
		snprintf(err, errlen, "epoll, timerfd or eventfd: %s", strerror(errno));
		usernet_free(u);
		return NULL;
	}
	struct itimerspec its = { .it_interval = { 0, TICK_MS * 1000000L }, .it_value = { 0, TICK_MS * 1000000L } };
	timerfd_settime(u->timerfd, 0, &its, NULL);
	un_watch(u, u->timerfd, EPOLLIN, EV_TIMER, 0);
	un_watch(u, u->workefd, EPOLLIN, EV_WORK, 0);
	u->resolver = un_dns_resolver("/etc/resolv.conf");

	if (!lwip_ready) {
		lwip_init();
		lwip_ready = true;
	}
	ip4_addr_t ip, mask, gw;
	ip4_addr_set_u32(&ip, lwip_htonl(cfg->host));
	ip4_addr_set_u32(&mask, lwip_htonl(cfg->mask));
	ip4_addr_set_zero(&gw);
	if (!netif_add(&u->netif, &ip, &mask, &gw, u, netif_setup, ethernet_input)) {
		snprintf(err, errlen, "lwip refused the network interface");
		usernet_free(u);
		return NULL;
	}
	u->netif_added = true;
	netif_set_default(&u->netif);
	netif_set_up(&u->netif);
	netif_set_link_up(&u->netif);
	if (un_tcp_init(u) < 0) {
		snprintf(err, errlen, "lwip: no listener for the TCP NAT");
		usernet_free(u);
		return NULL;
	}
	if (un_fwd_open(u, err, errlen) < 0) {
		usernet_free(u);
		return NULL;
	}
	return u;
}
