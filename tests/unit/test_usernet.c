/* The usernet backend on the host, as the virtio-net device thread drives
 * it: frames in (usernet_input), host sockets and timers (usernet_poll),
 * frames out (usernet_rx_pop). The "guest" is this test, building frames
 * with usernet_frames.h; the "outside world" is sockets on 127.0.0.1, which
 * the gateway address stands for. ARP, DHCP, ping of the gateway, TCP both
 * ways through the NAT with a clean close, a refused connect, UDP, a port
 * forward into the guest, a SYN flood held to USERNET_MAX_TCP, and
 * restrict=on. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "usernet/usernet.h"
#include "usernet_frames.h"

#define GW UF_IP(10, 0, 2, 2)
#define DNS UF_IP(10, 0, 2, 3)
#define GUEST UF_IP(10, 0, 2, 15)

static struct usernet *u;
static uint8_t out[64][1600];
static size_t out_len[64];
static unsigned nout;
static uint8_t gw_mac[6];

/* Run the backend for up to ms and collect the frames it sends, until one
 * matches want (NULL: just run). The index of the match, or -1. */
static int run_until(int ms, int (*want)(const uint8_t *f, size_t len, void *arg), void *arg)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	nout = 0;
	for (;;) {
		usernet_poll(u);
		size_t l;
		uint8_t f[1600];
		while ((l = usernet_rx_pop(u, f, sizeof(f)))) {
			unsigned k = nout < 64 ? nout++ : 63;
			memcpy(out[k], f, l);
			out_len[k] = l;
			if (want && want(f, l, arg))
				return (int)k;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > ms)
			return -1;
		usleep(500);
	}
}

static void input(const uint8_t *f, size_t len)
{
	usernet_input(u, f, len);
}

/* --- matchers --- */

static int is_arp_reply(const uint8_t *f, size_t len, void *arg)
{
	return len >= 42 && uf_get16(f + 12) == 0x0806 && uf_get16(f + 20) == 2 && uf_get32(f + 28) == *(uint32_t *)arg;
}

struct tcp_want {
	uint16_t sport, dport;
	uint8_t flags_set;
	size_t min_data;
};

static int is_tcp(const uint8_t *f, size_t len, void *arg)
{
	struct tcp_want *w = arg;
	if (len < 54 || uf_get16(f + 12) != 0x0800 || f[23] != 6)
		return 0;
	const uint8_t *t = f + 34;
	size_t data = uf_get16(f + 16) - 20 - (size_t)(t[12] >> 4) * 4;
	return uf_get16(t) == w->sport && uf_get16(t + 2) == w->dport && (t[13] & w->flags_set) == w->flags_set &&
	       data >= w->min_data;
}

static int is_udp_to(const uint8_t *f, size_t len, void *arg)
{
	return len >= 42 && uf_get16(f + 12) == 0x0800 && f[23] == 17 && uf_get16(f + 36) == *(uint16_t *)arg;
}

static int is_icmp_reply(const uint8_t *f, size_t len, void *arg)
{
	(void)arg;
	return len >= 42 && uf_get16(f + 12) == 0x0800 && f[23] == 1 && f[34] == 0;
}

/* --- helpers --- */

static int listen_local(uint16_t *port, int type)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (type == SOCK_STREAM && listen(fd, 1024) < 0) ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static unsigned open_fds(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* --- tests --- */

static void test_arp(void)
{
	uint8_t f[60];
	uint32_t gw = GW, dns = DNS;
	input(f, uf_arp_request(f, GUEST, GW));
	int k = run_until(500, is_arp_reply, &gw);
	CHECK("usernet arp gateway", k >= 0 && !memcmp(out[k], uf_guest_mac, 6));
	if (k >= 0)
		memcpy(gw_mac, out[k] + 22, 6);
	CHECK("usernet arp gateway mac", !memcmp(gw_mac, usernet_gateway_mac, 6));
	input(f, uf_arp_request(f, GUEST, DNS));
	k = run_until(500, is_arp_reply, &dns);
	CHECK("usernet arp dns", k >= 0 && !memcmp(out[k] + 22, usernet_gateway_mac, 6));
	input(f, uf_arp_request(f, GUEST, UF_IP(10, 0, 2, 77)));
	run_until(50, NULL, NULL);
	CHECK("usernet arp other address unanswered", nout == 0);
}

static const uint8_t *dhcp_option(const uint8_t *m, size_t len, uint8_t code)
{
	for (size_t i = 240; i + 1 < len && m[i] != 255;) {
		if (m[i] == 0) {
			i++;
			continue;
		}
		if (m[i] == code)
			return m + i;
		i += 2 + (size_t)m[i + 1];
	}
	return NULL;
}

static void test_dhcp(void)
{
	uint8_t f[600];
	uint16_t port = 68;
	input(f, uf_dhcp(f, 1, 0x1234, 0));
	int k = run_until(500, is_udp_to, &port);
	const uint8_t *m = k >= 0 ? out[k] + 42 : NULL;
	size_t mlen = k >= 0 ? out_len[k] - 42 : 0;
	CHECK("usernet dhcp offer", m && m[0] == 2 && uf_get32(m + 4) == 0x1234 && uf_get32(m + 16) == GUEST);
	const uint8_t *t = m ? dhcp_option(m, mlen, 53) : NULL, *r = m ? dhcp_option(m, mlen, 3) : NULL,
		      *d = m ? dhcp_option(m, mlen, 6) : NULL, *mask = m ? dhcp_option(m, mlen, 1) : NULL;
	CHECK("usernet dhcp offer options", t && t[2] == 2 && r && uf_get32(r + 2) == GW && d && uf_get32(d + 2) == DNS &&
						    mask && uf_get32(mask + 2) == 0xffffff00);
	input(f, uf_dhcp(f, 3, 0x1235, GUEST));
	k = run_until(500, is_udp_to, &port);
	m = k >= 0 ? out[k] + 42 : NULL;
	t = m ? dhcp_option(m, out_len[k] - 42, 53) : NULL;
	CHECK("usernet dhcp ack", t && t[2] == 5 && uf_get32(m + 16) == GUEST);
	input(f, uf_dhcp(f, 3, 0x1236, UF_IP(10, 0, 2, 99)));
	k = run_until(500, is_udp_to, &port);
	m = k >= 0 ? out[k] + 42 : NULL;
	t = m ? dhcp_option(m, out_len[k] - 42, 53) : NULL;
	CHECK("usernet dhcp nak for another address", t && t[2] == 6);
}

static void test_ping_gateway(void)
{
	uint8_t f[100];
	uint8_t *icmp = f + 34;
	memset(icmp, 0, 16);
	icmp[0] = 8;
	uf_put16(icmp + 4, 77);
	memcpy(icmp + 8, "kvmbox!!", 8);
	input(f, uf_ip(f, usernet_gateway_mac, GUEST, GW, 1, 16));
	int k = run_until(500, is_icmp_reply, NULL);
	CHECK("usernet ping gateway", k >= 0 && uf_get32(out[k] + 26) == GW && uf_get16(out[k] + 38) == 77 &&
					     !memcmp(out[k] + 42, "kvmbox!!", 8) && uf_csum(out[k] + 34, 16, 0) == 0);
}

/* A guest connection to 10.0.2.2:port, which is the appliance's 127.0.0.1:port. */
static void test_tcp(void)
{
	uint16_t port;
	int lfd = listen_local(&port, SOCK_STREAM);
	uint8_t f[1600];
	const uint16_t gport = 40001;
	uint32_t iss = 1000;
	input(f, uf_tcp(f, gw_mac, GUEST, gport, GW, port, iss, 0, 0x02, NULL, 0));
	struct tcp_want w = { .sport = port, .dport = gport, .flags_set = 0x12 };
	int k = run_until(2000, is_tcp, &w);
	CHECK("usernet tcp syn-ack", k >= 0 && uf_get32(out[k] + 26) == GW && uf_get32(out[k] + 30) == GUEST &&
					    uf_get32(out[k] + 42) == iss + 1 && uf_l4_check(out[k] + 14) == 0 &&
					    uf_csum(out[k] + 14, 20, 0) == 0);
	if (k < 0) {
		close(lfd);
		return;
	}
	uint32_t their = uf_get32(out[k] + 38) + 1;
	int c = accept(lfd, NULL, NULL);
	CHECK("usernet tcp host accepted", c >= 0);
	input(f, uf_tcp(f, gw_mac, GUEST, gport, GW, port, iss + 1, their, 0x18, "hello", 5));
	run_until(100, NULL, NULL);
	char buf[64] = { 0 };
	ssize_t n = c >= 0 ? recv(c, buf, sizeof(buf), MSG_DONTWAIT) : -1;
	CHECK("usernet tcp guest to host", n == 5 && !memcmp(buf, "hello", 5));
	if (c >= 0 && write(c, "world!", 6) != 6)
		CHECK("usernet tcp host write", 0);
	w = (struct tcp_want){ .sport = port, .dport = gport, .flags_set = 0x10, .min_data = 6 };
	k = run_until(1000, is_tcp, &w);
	CHECK("usernet tcp host to guest", k >= 0 && !memcmp(out[k] + 54, "world!", 6) && uf_l4_check(out[k] + 14) == 0);
	/* The guest closes; the host sees EOF, closes too; the guest gets a FIN. */
	input(f, uf_tcp(f, gw_mac, GUEST, gport, GW, port, iss + 6, their + 6, 0x11, NULL, 0));
	run_until(100, NULL, NULL);
	n = c >= 0 ? recv(c, buf, sizeof(buf), MSG_DONTWAIT) : -1;
	CHECK("usernet tcp guest fin reaches host", n == 0);
	if (c >= 0)
		close(c);
	w = (struct tcp_want){ .sport = port, .dport = gport, .flags_set = 0x01 };
	k = run_until(1000, is_tcp, &w);
	CHECK("usernet tcp host close reaches guest", k >= 0);
	if (k >= 0)
		input(f, uf_tcp(f, gw_mac, GUEST, gport, GW, port, iss + 7, uf_get32(out[k] + 38) + 1, 0x10, NULL, 0));
	run_until(50, NULL, NULL);
	struct usernet_stats s;
	usernet_get_stats(u, &s);
	CHECK("usernet tcp connection gone", s.tcp_now == 0);
	close(lfd);

	/* A closed port: the host's refusal becomes the guest's RST. */
	int tmp = listen_local(&port, SOCK_STREAM);
	close(tmp);
	input(f, uf_tcp(f, gw_mac, GUEST, 40002, GW, port, 5000, 0, 0x02, NULL, 0));
	w = (struct tcp_want){ .sport = port, .dport = 40002, .flags_set = 0x04 };
	k = run_until(1000, is_tcp, &w);
	CHECK("usernet tcp refused is rst", k >= 0 && uf_get32(out[k] + 42) == 5001 && uf_l4_check(out[k] + 14) == 0);
}

static void test_udp(void)
{
	uint16_t port, gport = 5353;
	int s = listen_local(&port, SOCK_DGRAM);
	uint8_t f[600];
	input(f, uf_udp(f, gw_mac, GUEST, gport, GW, port, "query", 5));
	run_until(50, NULL, NULL);
	char buf[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	CHECK("usernet udp guest to host", n == 5 && !memcmp(buf, "query", 5));
	if (n > 0)
		sendto(s, "answer", 6, 0, (struct sockaddr *)&from, fl);
	int k = run_until(1000, is_udp_to, &gport);
	CHECK("usernet udp host to guest", k >= 0 && uf_get32(out[k] + 26) == GW && uf_get16(out[k] + 34) == port &&
						  !memcmp(out[k] + 42, "answer", 6) && uf_l4_check(out[k] + 14) == 0);
	/* Replies longer than a frame arrive as IPv4 fragments. */
	static char big[4000];
	memset(big, 'x', sizeof(big));
	if (n > 0)
		sendto(s, big, sizeof(big), 0, (struct sockaddr *)&from, fl);
	run_until(200, NULL, NULL);
	unsigned frags = 0;
	for (unsigned i = 0; i < nout; i++)
		frags += out_len[i] > 34 && out[i][23] == 17 && (uf_get16(out[i] + 20) & 0x3fff);
	CHECK("usernet udp large reply fragmented", frags == 3);
	close(s);
}

/* hostfwd=tcp:HP:80: a client of the appliance reaches the guest's port 80. */
static void test_hostfwd(uint16_t hp)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(hp), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK("usernet hostfwd connect", connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	/* lwip ARPs for the guest first. */
	uint32_t guest = GUEST;
	(void)guest;
	int k = -1;
	struct tcp_want w = { .dport = 80, .flags_set = 0x02 };
	for (int round = 0; round < 3 && k < 0; round++) {
		run_until(300, NULL, NULL);
		for (unsigned i = 0; i < nout; i++) {
			const uint8_t *fr = out[i];
			if (uf_get16(fr + 12) == 0x0806 && uf_get16(fr + 20) == 1 && uf_get32(fr + 38) == GUEST) {
				uint8_t r[60] = { 0 };
				memcpy(r, usernet_gateway_mac, 6);
				memcpy(r + 6, uf_guest_mac, 6);
				uf_put16(r + 12, 0x0806);
				memcpy(r + 14, fr + 14, 6);
				uf_put16(r + 20, 2);
				memcpy(r + 22, uf_guest_mac, 6);
				uf_put32(r + 28, GUEST);
				memcpy(r + 32, fr + 22, 10);
				input(r, 60);
			}
			if (uf_get16(fr + 12) == 0x0800 && fr[23] == 6 && uf_get16(fr + 36) == 80 && (fr[47] & 0x02)) {
				w.sport = uf_get16(fr + 34);
				k = (int)i;
			}
		}
	}
	CHECK("usernet hostfwd syn into guest", k >= 0 && uf_get32(out[k] + 30) == GUEST && w.sport >= 0xc000);
	if (k < 0) {
		close(c);
		return;
	}
	uint8_t f[200];
	uint32_t their = uf_get32(out[k] + 38) + 1;
	input(f, uf_tcp(f, gw_mac, GUEST, 80, GW, w.sport, 9000, their, 0x12, NULL, 0));
	if (write(c, "GET /", 5) != 5)
		CHECK("usernet hostfwd write", 0);
	struct tcp_want d = { .sport = w.sport, .dport = 80, .flags_set = 0x10, .min_data = 5 };
	k = run_until(1000, is_tcp, &d);
	CHECK("usernet hostfwd data into guest", k >= 0 && !memcmp(out[k] + 54, "GET /", 5));
	input(f, uf_tcp(f, gw_mac, GUEST, 80, GW, w.sport, 9001, their + 5, 0x18, "200 OK", 6));
	run_until(100, NULL, NULL);
	char buf[16] = { 0 };
	CHECK("usernet hostfwd data from guest", recv(c, buf, sizeof(buf), MSG_DONTWAIT) == 6 && !memcmp(buf, "200 OK", 6));
	close(c);
	run_until(100, NULL, NULL);
}

/* hostfwd=udp:HP:53: a datagram to the appliance's HP reaches the guest's
 * port 53 from a gateway port, and the guest's answer goes back. */
static void test_hostfwd_udp(uint16_t hp)
{
	int c = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(hp), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK("usernet hostfwd udp send", sendto(c, "question", 8, 0, (struct sockaddr *)&a, sizeof(a)) == 8);
	uint16_t gp = 53;
	int k = run_until(1000, is_udp_to, &gp);
	CHECK("usernet hostfwd udp into guest", k >= 0 && uf_get32(out[k] + 26) == GW && uf_get32(out[k] + 30) == GUEST &&
							!memcmp(out[k] + 42, "question", 8) && uf_l4_check(out[k] + 14) == 0);
	if (k < 0) {
		close(c);
		return;
	}
	uint16_t from_port = uf_get16(out[k] + 34);
	uint8_t f[200];
	input(f, uf_udp(f, gw_mac, GUEST, 53, GW, from_port, "answer", 6));
	run_until(50, NULL, NULL);
	char buf[16] = { 0 };
	CHECK("usernet hostfwd udp answer back", recv(c, buf, sizeof(buf), MSG_DONTWAIT) == 6 && !memcmp(buf, "answer", 6));
	close(c);
}

/* Ping of an outside address: through an unprivileged ICMP socket where the
 * host allows them (net.ipv4.ping_group_range), else dropped. */
static void test_ping_outside(void)
{
	int probe = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (probe >= 0)
		close(probe);
	struct usernet_stats s0, s;
	usernet_get_stats(u, &s0);
	uint8_t f[100];
	uint8_t *icmp = f + 34;
	memset(icmp, 0, 16);
	icmp[0] = 8;
	uf_put16(icmp + 4, 4242);
	uf_put16(icmp + 6, 1);
	memcpy(icmp + 8, "outside!", 8);
	input(f, uf_ip(f, gw_mac, GUEST, UF_IP(127, 0, 0, 1), 1, 16));
	int k = run_until(probe >= 0 ? 1000 : 100, is_icmp_reply, NULL);
	usernet_get_stats(u, &s);
	if (probe >= 0)
		CHECK("usernet ping outside replied", k >= 0 && uf_get32(out[k] + 26) == UF_IP(127, 0, 0, 1) &&
							       uf_get16(out[k] + 38) == 4242 && !memcmp(out[k] + 42, "outside!", 8) &&
							       uf_csum(out[k] + 34, 16, 0) == 0);
	else
		CHECK("usernet ping outside dropped where ICMP sockets are not allowed",
		      k < 0 && s.frames_dropped == s0.frames_dropped + 1);
}

/* More SYNs than USERNET_MAX_TCP to a listener that never accepts: the
 * first USERNET_MAX_TCP get host sockets, the rest a RST at once. */
static void test_syn_flood(void)
{
	uint16_t port;
	int lfd = listen_local(&port, SOCK_STREAM);
	unsigned fds_before = open_fds();
	uint8_t f[100];
	unsigned extra = 100, rsts = 0;
	struct usernet_stats s0, s;
	usernet_get_stats(u, &s0);
	for (unsigned i = 0; i < USERNET_MAX_TCP + extra; i++) {
		input(f, uf_tcp(f, gw_mac, GUEST, (uint16_t)(20000 + i), GW, port, i * 7777, 0, 0x02, NULL, 0));
		while (usernet_rx_pop(u, f, sizeof(f)) > 0)
			rsts += f[23] == 6 && (f[47] & 0x04);
	}
	usernet_get_stats(u, &s);
	printf("# syn flood: %u open, %llu refused (%llu before), %u RSTs seen, %llu opened\n", s.tcp_now,
	       (unsigned long long)s.tcp_refused, (unsigned long long)s0.tcp_refused, rsts, (unsigned long long)s.tcp_opened);
	CHECK("usernet syn flood held to the limit", s.tcp_now == USERNET_MAX_TCP);
	CHECK("usernet syn flood rest refused", s.tcp_refused - s0.tcp_refused == extra && rsts >= extra);
	CHECK("usernet syn flood fds bounded", open_fds() <= fds_before + USERNET_MAX_TCP);
	close(lfd);
}

static void test_restrict(void)
{
	struct usernet_config c;
	char err[256];
	usernet_config_defaults(&c);
	c.restricted = 1;
	u = usernet_new(&c, err, sizeof(err));
	CHECK("usernet restricted new", u != NULL);
	if (!u)
		return;
	uint16_t port;
	int lfd = listen_local(&port, SOCK_STREAM);
	uint8_t f[100];
	input(f, uf_tcp(f, usernet_gateway_mac, GUEST, 41000, GW, port, 1, 0, 0x02, NULL, 0));
	struct tcp_want w = { .sport = port, .dport = 41000, .flags_set = 0x04 };
	CHECK("usernet restricted tcp refused", run_until(500, is_tcp, &w) >= 0);
	uint8_t dh[600];
	uint16_t p68 = 68;
	input(dh, uf_dhcp(dh, 1, 1, 0));
	CHECK("usernet restricted dhcp still served", run_until(500, is_udp_to, &p68) >= 0);
	close(lfd);
	usernet_free(u);
	u = NULL;
}

static void test_resolver(void)
{
	char path[] = "/tmp/usernet-resolv-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# comment\nsearch example\nnameserver 192.0.2.53\nnameserver 198.51.100.1\n";
	CHECK("usernet resolv.conf written", fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	extern uint32_t un_dns_resolver(const char *);
	CHECK("usernet resolver first nameserver", un_dns_resolver(path) == UF_IP(192, 0, 2, 53));
	unlink(path);
	CHECK("usernet resolver missing file", un_dns_resolver(path) == 0);
}

int main(void)
{
	struct usernet_config c;
	char err[256];
	usernet_config_defaults(&c);
	/* A free port for the forward. */
	uint16_t hp;
	int tmp = listen_local(&hp, SOCK_STREAM);
	close(tmp);
	CHECK("usernet hostfwd rule", usernet_config_set(&c, "hostfwd", (snprintf(err, sizeof(err), "tcp:%u:80", hp), err),
						       err, sizeof(err)) == 0);
	uint16_t uhp;
	tmp = listen_local(&uhp, SOCK_DGRAM);
	close(tmp);
	CHECK("usernet hostfwd udp rule", usernet_config_set(&c, "hostfwd", (snprintf(err, sizeof(err), "udp:%u:53", uhp), err),
							   err, sizeof(err)) == 0);
	u = usernet_new(&c, err, sizeof(err));
	CHECK("usernet new", u != NULL);
	if (!u) {
		printf("# %s\n", err);
		return CHECK_DONE();
	}
	struct usernet *second = usernet_new(&c, err, sizeof(err));
	CHECK("usernet one per process", !second && strstr(err, "only one"));
	test_arp();
	test_dhcp();
	test_ping_gateway();
	test_tcp();
	test_udp();
	test_hostfwd(hp);
	test_hostfwd_udp(uhp);
	test_ping_outside();
	test_syn_flood();
	usernet_free(u);
	u = NULL;
	test_restrict();
	test_resolver();
	return CHECK_DONE();
}
