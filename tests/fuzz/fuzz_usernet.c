/* libFuzzer target: the usernet backend (drivers/usernet/) fed raw Ethernet
 * frames, as a hostile guest sends them.
 *
 * The input is a list of records: an opcode byte, a 2-byte length and that
 * many bytes of frame (shorter if the input ends):
 *   op % 4 == 0  the frame as is
 *   op % 4 == 1  the frame made plausible first: an IPv4 header and TCP,
 *                UDP or ICMP checksums fixed, so it gets past the checks into
 *                the NAT, DHCP, ARP and lwip proper
 *   op % 4 == 2  the backend's loop runs once (host sockets, lwip's timers)
 *   op % 4 == 3  the guest takes every frame waiting for it
 * Nothing leaves this machine: before a frame goes in, its TCP and UDP
 * destinations become the gateway and a port of this harness (the gateway
 * stands for 127.0.0.1), ICMP goes to the gateway, which lwip answers. The
 * harness accepts and closes the NAT's connections, so both ends of a
 * connection's life are reached. One backend lives for the whole run (lwip
 * is one stack per process), so state carries from input to input, as in a
 * long-lived VM.
 * Beyond "no crash": every frame the backend queues for the guest fits
 * USERNET_FRAME_MAX, and the connections open never pass the limits. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usernet/usernet.h"
#include "../unit/usernet_frames.h"

#define GW UF_IP(10, 0, 2, 2)

static struct usernet *u;
static int tcp_lfd = -1, udp_fd = -1;
static uint16_t tcp_port, udp_port;

static int local_socket(int type, uint16_t *port)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (type == SOCK_STREAM && listen(fd, 4096) < 0) ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		abort();
	*port = ntohs(a.sin_port);
	return fd;
}

static void setup(void)
{
	struct usernet_config c;
	char err[256];
	usernet_config_defaults(&c);
	u = usernet_new(&c, err, sizeof(err));
	if (!u)
		abort();
	tcp_lfd = local_socket(SOCK_STREAM, &tcp_port);
	udp_fd = local_socket(SOCK_DGRAM, &udp_port);
}

/* Keep the frame's traffic on this machine, then fix what `fix` asks. */
static void confine(uint8_t *f, size_t len, int fix)
{
	if (len < 34 || uf_get16(f + 12) != 0x0800)
		return;
	uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	if (fix) {
		ip[0] = 0x45;
		ihl = 20;
		uf_put16(ip + 2, (uint16_t)(len - 14));
		uf_put16(ip + 6, uf_get16(ip + 6) & 0x4000); /* no fragments: they would need the rest */
	}
	if (ihl < 20 || 14 + ihl > len)
		return;
	uint8_t *l4 = ip + ihl;
	size_t l4len = len - 14 - ihl;
	uint32_t dst = uf_get32(ip + 16);
	/* DHCP and the broadcasts stay as they are: they never leave. */
	int bcast = dst == 0xffffffff;
	if (!bcast && (ip[9] == 6 || ip[9] == 17 || ip[9] == 1)) {
		uf_put32(ip + 16, GW);
		if (ip[9] == 6 && l4len >= 4 && uf_get16(l4 + 2) != tcp_port)
			uf_put16(l4 + 2, tcp_port);
		if (ip[9] == 17 && l4len >= 4)
			uf_put16(l4 + 2, udp_port);
	}
	uf_put16(ip + 10, 0);
	uf_put16(ip + 10, uf_csum(ip, ihl, 0));
	if (!fix)
		return; /* the L4 checksum is now wrong for anything rewritten: dropped, as it should be */
	size_t at = ip[9] == 6 ? 16 : ip[9] == 17 ? 6 : ip[9] == 1 ? 2 : 0;
	if (!at || l4len < at + 2)
		return;
	if (ip[9] == 17 && l4len >= 8)
		uf_put16(l4 + 4, (uint16_t)l4len);
	uf_put16(l4 + at, 0);
	uint16_t s = ip[9] == 1 ? uf_csum(l4, l4len, 0) : uf_csum(l4, l4len, uf_sum(ip + 12, 8, ip[9] + (uint32_t)l4len));
	uf_put16(l4 + at, s);
}

/* The appliance's side: take the NAT's connections, answer, hang up. */
static void harness_serve(void)
{
	int c;
	static const char reply[200] = "the appliance answers";
	while ((c = accept4(tcp_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (send(c, reply, sizeof(reply), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* nothing: the guest's side may have gone already */
		}
		close(c);
	}
	uint8_t buf[2048];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	while ((n = recvfrom(udp_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) >= 0)
		sendto(udp_fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
}

static void drain(void)
{
	uint8_t f[USERNET_FRAME_MAX + 64];
	size_t l;
	while ((l = usernet_rx_pop(u, f, sizeof(f))))
		if (l > USERNET_FRAME_MAX || l < 14)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t f[USERNET_FRAME_MAX + 64];
	if (!u)
		setup();
	size_t i = 0;
	while (i < size) {
		uint8_t op = data[i++];
		if (op % 4 == 2) {
			harness_serve();
			usernet_poll(u);
			continue;
		}
		if (op % 4 == 3) {
			drain();
			continue;
		}
		size_t len = 0;
		if (i + 2 <= size) {
			len = (size_t)(data[i] << 8 | data[i + 1]) % (USERNET_FRAME_MAX + 32);
			i += 2;
		}
		if (len > size - i)
			len = size - i;
		memcpy(f, data + i, len);
		i += len;
		confine(f, len, op % 4 == 1);
		usernet_input(u, f, len);
	}
	drain();
	struct usernet_stats s;
	usernet_get_stats(u, &s);
	if (s.tcp_now > USERNET_MAX_TCP || s.fwd_now > USERNET_MAX_FWD_CONNS || s.udp_now > USERNET_MAX_UDP)
		abort();
	return 0;
}
