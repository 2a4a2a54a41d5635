/* Guest side of the usernet test (tests/vm/usernet_test.c), run by the test
 * guest's /init with kvmbox.exec=/bin/guest_usernet. The guest kernel has no
 * DHCP client (no IP_PNP), so this is one: DISCOVER/REQUEST over an
 * AF_PACKET socket, then eth0 and the default route set with ioctls from
 * what the server said. Then, through usernet to the appliance (the gateway,
 * 10.0.2.2, stands for the appliance's loopback):
 *   fetch  connect to port 5101, read to EOF, print the byte count and an
 *          FNV-1a hash (the appliance compares with what it sent)
 *   bulk   port 5102: send kvmbox.un.bulk bytes of a pattern, half-close,
 *          read as many of another pattern back, both checked
 *   dns    ask 10.0.2.3 for kvmbox.test (A); the appliance's resolver answers
 *   ping   an echo to kvmbox.un.ping (an address of the appliance's), which
 *          usernet sends through an ICMP socket
 *   fwd    listen on 8080, print "listening", answer kvmbox.un.fwds
 *          connections (default 1) one after the other: "pong " + what it
 *          got (the appliance's own, then one from outside the appliance)
 *   flood  kvmbox.un.conns connections to port 5103 at once (the appliance
 *          accepts and holds them): how many connected and how many were
 *          refused; then kvmbox.un.syns raw SYNs from made-up ports; then
 *          a fetch again, which must still work
 * With kvmbox.un.restricted=1 (restrict=on): DHCP, a fetch that must fail,
 * and the forward.
 * One line each, "GUEST-UN: ..."; exits 0 when all went well. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/route.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GUEST_SAY_PREFIX "GUEST-UN: "
#include "stream_pattern.h"
#include "guest_util.h"

#define GW "10.0.2.2"
#define SEED_UP 0x75706c64u
#define SEED_DOWN 0x646f776eu

static char cmdline[4096];
static uint8_t mac[6];
static int ifindex;

static int connect_tries = 30;

static const char *param(const char *key, char *out, size_t size)
{
	return boot_param(cmdline, key, out, size);
}


static uint16_t csum(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* --- eth0 --- */

static int ifr_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int r = s >= 0 && ioctl(s, req, ifr) == 0 ? 0 : -errno;
	if (s >= 0)
		close(s);
	return r;
}

static int link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ifr_ioctl(SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ifr_ioctl(SIOCSIFFLAGS, &ifr);
}

static int set_addr(unsigned long req, uint32_t a)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(a);
	return ifr_ioctl(req, &ifr);
}

static int default_route(uint32_t gw)
{
	struct rtentry rt;
	memset(&rt, 0, sizeof(rt));
	struct sockaddr_in *d = (void *)&rt.rt_dst, *m = (void *)&rt.rt_genmask, *g = (void *)&rt.rt_gateway;
	d->sin_family = m->sin_family = g->sin_family = AF_INET;
	g->sin_addr.s_addr = htonl(gw);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = "eth0";
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int r = s >= 0 && ioctl(s, SIOCADDRT, &rt) == 0 ? 0 : -errno;
	if (s >= 0)
		close(s);
	return r;
}

/* --- DHCP --- */

struct lease {
	uint32_t ip, mask, router, dns, server;
};

static int dhcp_send(int ps, int type, uint32_t xid, const struct lease *l)
{
	uint8_t p[20 + 8 + 300];
	memset(p, 0, sizeof(p));
	uint8_t *ip = p, *udp = p + 20, *m = p + 28;
	m[0] = 1, m[1] = 1, m[2] = 6;
	put32(m + 4, xid);
	memcpy(m + 28, mac, 6);
	put32(m + 236, 0x63825363);
	uint8_t *o = m + 240;
	*o++ = 53, *o++ = 1, *o++ = (uint8_t)type;
	if (l) {
		*o++ = 50, *o++ = 4, put32(o, l->ip), o += 4;
		*o++ = 54, *o++ = 4, put32(o, l->server), o += 4;
	}
	*o++ = 255;
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, 8 + 300);
	ip[0] = 0x45;
	put16(ip + 2, sizeof(p));
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 16, 0xffffffff);
	put16(ip + 10, csum(ip, 20, 0));
	/* UDP checksum over the pseudo-header (0.0.0.0 -> 255.255.255.255). */
	put16(udp + 6, csum(udp, 308, (uint16_t)~csum(ip + 12, 8, 17 + 308)));
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = ifindex,
				 .sll_halen = 6 };
	memset(a.sll_addr, 0xff, 6);
	return sendto(ps, p, sizeof(p), 0, (struct sockaddr *)&a, sizeof(a)) == (ssize_t)sizeof(p) ? 0 : -1;
}

/* The server's answer of type want to xid within ms: 0 and *l, or -1. */
static int dhcp_wait(int ps, uint32_t xid, int want, struct lease *l, int ms)
{
	uint8_t p[1600];
	for (int waited = 0; waited < ms; waited += 100) {
		struct pollfd pf = { .fd = ps, .events = POLLIN };
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t n = recv(ps, p, sizeof(p), 0);
		if (n < 28 + 240 || p[9] != 17 || (p[0] & 15) != 5 || p[22] != 0 || p[23] != 68)
			continue;
		const uint8_t *m = p + 28;
		size_t mlen = (size_t)n - 28;
		if (m[0] != 2 || get32(m + 4) != xid)
			continue;
		int type = 0;
		memset(l, 0, sizeof(*l));
		l->ip = get32(m + 16);
		for (size_t i = 240; i + 1 < mlen && m[i] != 255;) {
			if (!m[i]) {
				i++;
				continue;
			}
			uint8_t code = m[i], len = m[i + 1];
			if (i + 2 + len > mlen)
				break;
			const uint8_t *v = m + i + 2;
			if (code == 53 && len == 1)
				type = v[0];
			else if (len >= 4 && code == 1)
				l->mask = get32(v);
			else if (len >= 4 && code == 3)
				l->router = get32(v);
			else if (len >= 4 && code == 6)
				l->dns = get32(v);
			else if (len >= 4 && code == 54)
				l->server = get32(v);
			i += 2 + (size_t)len;
		}
		if (type == want)
			return 0;
	}
	return -1;
}

static int dhcp(struct lease *l)
{
	int ps = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	struct sockaddr_ll b = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = ifindex };
	if (ps < 0 || bind(ps, (struct sockaddr *)&b, sizeof(b)) < 0) {
		say("error packet socket: %s", strerror(errno));
		return -1;
	}
	uint32_t xid = (uint32_t)time(NULL) ^ 0x6b76;
	int r = -1;
	for (int tries = 0; tries < 5 && r < 0; tries++)
		if (dhcp_send(ps, 1, xid, NULL) == 0)
			r = dhcp_wait(ps, xid, 2, l, 3000);
	if (r < 0) {
		say("error no DHCPOFFER");
		close(ps);
		return -1;
	}
	struct lease offer = *l;
	r = -1;
	for (int tries = 0; tries < 5 && r < 0; tries++)
		if (dhcp_send(ps, 3, xid, &offer) == 0)
			r = dhcp_wait(ps, xid, 5, l, 3000);
	close(ps);
	if (r < 0) {
		say("error no DHCPACK");
		return -1;
	}
	return 0;
}

static const char *ipstr(uint32_t a, char *buf)
{
	sprintf(buf, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
	return buf;
}

/* --- TCP --- */

static int connect_to(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	for (int i = 0; i < connect_tries; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		sleep(1);
	}
	return -1;
}

static int fetch(const char *tag)
{
	int fd = connect_to(GW, 5101);
	if (fd < 0) {
		say("error %s connect: %s", tag, strerror(errno));
		return -1;
	}
	static uint8_t buf[65536];
	uint64_t h = 14695981039346656037ull, total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
		total += (uint64_t)n;
	}
	close(fd);
	say("%s bytes=%llu fnv=%016llx", tag, (unsigned long long)total, (unsigned long long)h);
	return n < 0 ? -1 : 0;
}

static int bulk(size_t bytes)
{
	int fd = connect_to(GW, 5102);
	if (fd < 0) {
		say("error bulk connect: %s", strerror(errno));
		return -1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t done, bad;
	if (stream_send(fd, bytes, SEED_UP, &done) < 0) {
		say("error bulk send at %zu: %s", done, strerror(errno));
		return -1;
	}
	shutdown(fd, SHUT_WR);
	if (stream_receive(fd, bytes, SEED_DOWN, &done, &bad) == -2) {
		say("bulk down bad at %zu", bad);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	say("bulk down %s %zu in %.1f s", done == bytes ? "ok" : "short", done, s);
	return done == bytes ? 0 : -1;
}

/* --- DNS --- */

static int dns(uint32_t server)
{
	uint8_t q[64] = { 0x6b, 0x62, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t name[] = "\x06kvmbox\x04test";
	memcpy(q + 12, name, sizeof(name)); /* with the root's 0 */
	size_t ql = 12 + sizeof(name);
	put16(q + ql, 1);
	put16(q + ql + 2, 1);
	ql += 4;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(server) };
	uint8_t r[512];
	for (int tries = 0; tries < 5; tries++) {
		sendto(fd, q, ql, 0, (struct sockaddr *)&a, sizeof(a));
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, 2000) <= 0)
			continue;
		ssize_t n = recv(fd, r, sizeof(r), 0);
		/* The question echoed, then one answer: a name pointer, A, IN, TTL, 4 bytes. */
		size_t at = ql;
		if (n < (ssize_t)(ql + 16) || r[0] != 0x6b || r[1] != 0x62 || !(r[2] & 0x80) || r[7] != 1)
			continue;
		if (r[at + 2] != 0 || r[at + 3] != 1 || r[at + 10] != 0 || r[at + 11] != 4)
			continue;
		char buf[20];
		say("dns kvmbox.test=%s", ipstr(get32(r + at + 12), buf));
		close(fd);
		return 0;
	}
	close(fd);
	say("error no DNS answer");
	return -1;
}

/* --- ping --- */

/* An echo to dst through a raw socket (root in the guest); the reply must
 * carry our identifier and data back. */
static int ping(uint32_t dst)
{
	char ipb[20];
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(dst) };
	for (int tries = 0; fd >= 0 && tries < 3; tries++) {
		uint8_t m[8 + 12] = { 8, 0, 0, 0, 0x4b, 0x42, 0, (uint8_t)(tries + 1) };
		memcpy(m + 8, "kvmbox-ping!", 12);
		put16(m + 2, csum(m, sizeof(m), 0));
		sendto(fd, m, sizeof(m), 0, (struct sockaddr *)&a, sizeof(a));
		for (int waited = 0; waited < 2000; waited += 100) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			if (poll(&pf, 1, 100) <= 0)
				continue;
			uint8_t r[256];
			ssize_t n = recv(fd, r, sizeof(r), 0);
			size_t ihl = n > 0 ? (size_t)(r[0] & 15) * 4 : 0;
			if (n >= (ssize_t)(ihl + sizeof(m)) && r[ihl] == 0 && r[ihl + 4] == 0x4b && r[ihl + 5] == 0x42 &&
			    get32(r + 12) == dst && !memcmp(r + ihl + 8, "kvmbox-ping!", 12)) {
				say("ping %s ok", ipstr(dst, ipb));
				close(fd);
				return 0;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	say("error ping %s: no reply", ipstr(dst, ipb));
	return -1;
}

/* --- the port forward --- */

static int serve_fwd(int count)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0) {
		say("error listen 8080: %s", strerror(errno));
		return -1;
	}
	say("listening");
	for (int i = 0; i < count; i++) {
		struct pollfd pf = { .fd = l, .events = POLLIN };
		if (poll(&pf, 1, 120000) <= 0) {
			say("error nobody came to 8080 (connection %d)", i + 1);
			return -1;
		}
		int c = accept(l, NULL, NULL);
		char buf[256], reply[300];
		ssize_t n = c >= 0 ? read(c, buf, sizeof(buf) - 1) : -1;
		if (n <= 0) {
			say("error fwd read");
			return -1;
		}
		buf[n] = '\0';
		int m = snprintf(reply, sizeof(reply), "pong %s", buf);
		if (write(c, reply, (size_t)m) != m)
			return -1;
		close(c);
		say("fwd served %d", i + 1);
	}
	close(l);
	return 0;
}

/* --- floods --- */

static void conn_flood(int n)
{
	static int fds[2048];
	if (n > 2048)
		n = 2048;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5103) };
	inet_pton(AF_INET, GW, &a.sin_addr);
	int opened = 0;
	for (int i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fds[i] >= 0) {
			connect(fds[i], (struct sockaddr *)&a, sizeof(a));
			opened++;
		}
	}
	int connected = 0, refused = 0, other = 0;
	/* Wait for each to settle: connected or reset. */
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		struct pollfd pf = { .fd = fds[i], .events = POLLOUT };
		poll(&pf, 1, 30000);
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &l);
		if (!err && (pf.revents & POLLOUT))
			connected++;
		else if (err == ECONNREFUSED || err == ECONNRESET)
			refused++;
		else
			other++;
	}
	say("conn flood tried=%d connected=%d refused=%d other=%d", n, connected, refused, other);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* SYNs from made-up ports, through a packet socket: nothing in the guest
 * remembers them, so only usernet's limits hold them back. */
static void syn_flood(int n, uint32_t src, const uint8_t gw_mac[6])
{
	int ps = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = ifindex,
				 .sll_halen = 6 };
	memcpy(a.sll_addr, gw_mac, 6);
	int sent = 0;
	for (int i = 0; i < n && ps >= 0; i++) {
		uint8_t p[40] = { 0 };
		uint8_t *ip = p, *t = p + 20;
		ip[0] = 0x45;
		put16(ip + 2, 40);
		ip[8] = 64;
		ip[9] = 6;
		put32(ip + 12, src);
		put32(ip + 16, 0x0a000202);
		put16(ip + 10, csum(ip, 20, 0));
		put16(t, (uint16_t)(30000 + i % 30000));
		put16(t + 2, 5103);
		put32(t + 4, (uint32_t)i * 2654435761u);
		t[12] = 5 << 4;
		t[13] = 0x02;
		put16(t + 14, 65535);
		uint8_t ph[12];
		memcpy(ph, ip + 12, 8);
		ph[8] = 0, ph[9] = 6;
		put16(ph + 10, 20);
		uint32_t s = (uint16_t)~csum(ph, 12, 0);
		put16(t + 16, csum(t, 20, s));
		sent += sendto(ps, p, sizeof(p), 0, (struct sockaddr *)&a, sizeof(a)) == (ssize_t)sizeof(p);
	}
	if (ps >= 0)
		close(ps);
	say("syn flood sent=%d", sent);
}

/* The gateway's MAC, from the kernel's ARP cache (filled by the fetch). */
static int gateway_mac(uint8_t out[6])
{
	char buf[4096];
	if (read_file("/proc/net/arp", buf, sizeof(buf)) < 0)
		return -1;
	char *p = strstr(buf, "\n" GW " ");
	unsigned m[6];
	if (!p || sscanf(p + 1, "%*s %*s %*s %x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)m[i];
	return 0;
}

int main(void)
{
	char num[32], buf[4][20], macs[64] = "";
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	mkdir("/sys", 0555);
	read_file("/sys/class/net/eth0/address", macs, sizeof(macs));
	unsigned m[6];
	if (sscanf(macs, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
		say("error no eth0");
		return 1;
	}
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	ifindex = (int)if_nametoindex("eth0");
	if (link_up("lo") < 0 || link_up("eth0") < 0) {
		say("error link up: %s", strerror(errno));
		return 1;
	}
	struct lease l;
	if (dhcp(&l) < 0)
		return 1;
	say("dhcp ip=%s mask=%s router=%s dns=%s", ipstr(l.ip, buf[0]), ipstr(l.mask, buf[1]), ipstr(l.router, buf[2]),
	    ipstr(l.dns, buf[3]));
	if (set_addr(SIOCSIFADDR, l.ip) < 0 || set_addr(SIOCSIFNETMASK, l.mask) < 0 || default_route(l.router) < 0) {
		say("error configuring eth0: %s", strerror(errno));
		return 1;
	}
	if (param("kvmbox.un.restricted=", num, sizeof(num))) {
		/* restrict=on: the outside must stay shut, the forward open. */
		connect_tries = 3;
		int fetched = fetch("fetch") == 0;
		return fetched | (serve_fwd(1) < 0);
	}
	int bad = 0;
	bad |= fetch("fetch") < 0;
	size_t bytes = param("kvmbox.un.bulk=", num, sizeof(num)) ? (size_t)atol(num) : 10 << 20;
	bad |= bulk(bytes) < 0;
	bad |= dns(l.dns) < 0;
	if (param("kvmbox.un.ping=", num, sizeof(num))) {
		struct in_addr pa;
		bad |= inet_pton(AF_INET, num, &pa) != 1 || ping(ntohl(pa.s_addr)) < 0;
	}
	int fwds = param("kvmbox.un.fwds=", num, sizeof(num)) ? atoi(num) : 1;
	bad |= serve_fwd(fwds) < 0;
	int conns = param("kvmbox.un.conns=", num, sizeof(num)) ? atoi(num) : 0;
	int syns = param("kvmbox.un.syns=", num, sizeof(num)) ? atoi(num) : 0;
	if (conns)
		conn_flood(conns);
	uint8_t gw_mac[6];
	if (syns && gateway_mac(gw_mac) == 0)
		syn_flood(syns, l.ip, gw_mac);
	else if (syns)
		say("error no gateway MAC in /proc/net/arp");
	if (conns || syns) {
		say("flood done");
		/* The appliance lets go of the held connections when it reads
		 * that; the limits free up again as they close. */
		sleep(3);
		bad |= fetch("after-flood") < 0;
	}
	return bad;
}
