/*
 * Link test: the sysroot's lwip (NO_SYS=1, kvmbox's lwipopts.h), built with
 * musl, runs as the user-mode network backend will run it: one ethernet
 * netif whose linkoutput captures frames, fed frames by hand. It answers
 * ARP for its address (and only its own), ping, and a TCP SYN to a
 * listening port.
 *
 * Prints "ok NAME" or "not ok NAME: reason" per check; exits 1 on a failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
static const uint8_t our_ip[4] = { 10, 0, 2, 2 };
static const uint8_t peer_ip[4] = { 10, 0, 2, 15 };

static struct netif nif;
static uint8_t sent[1600];
static size_t sent_len;
static int nsent;
static int failures;

/* lwip's clock; the backend's event loop provides the same. */
u32_t sys_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Keeps the last frame lwip sends; the virtio-net side would queue it. */
static err_t capture(struct netif *n, struct pbuf *p)
{
	(void)n;
	sent_len = pbuf_copy_partial(p, sent, sizeof(sent), 0);
	nsent++;
	return ERR_OK;
}

static err_t nif_init(struct netif *n)
{
	n->name[0] = 'k';
	n->name[1] = 'b';
	n->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(n->hwaddr, our_mac, sizeof(our_mac));
	n->mtu = 1500;
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	n->output = etharp_output;
	n->output_ip6 = ethip6_output;
	n->linkoutput = capture;
	return ERR_OK;
}

static void result(const char *name, const char *err)
{
	if (err) {
		printf("not ok %s: %s\n", name, err);
		failures++;
	} else {
		printf("ok %s\n", name);
	}
}

#define EXPECT(cond) do { if (!(cond)) return "expected " #cond; } while (0)

/* Hands one frame to lwip as the backend would, and clears the capture. */
static const char *feed(const uint8_t *frame, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	if (!p)
		return "pbuf_alloc failed";
	pbuf_take(p, frame, (u16_t)len);
	nsent = 0;
	if (nif.input(p, &nif) != ERR_OK) {
		pbuf_free(p);
		return "netif input refused the frame";
	}
	return NULL;
}

static size_t eth_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	return 14;
}

/* The internet checksum over len bytes, starting from sum. */
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

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static const char *arp_request(const uint8_t *target_ip)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t f[60] = { 0 };      /* the minimum frame, padded */
	uint8_t *a = f + eth_header(f, bcast, 0x0806);
	put16(a, 1);                /* ethernet */
	put16(a + 2, 0x0800);       /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);            /* request */
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, peer_ip, 4);
	memcpy(a + 24, target_ip, 4);
	return feed(f, sizeof(f));
}

static const char *check_arp_reply(void)
{
	const char *err = arp_request(our_ip);
	const uint8_t *a = sent + 14;
	if (err)
		return err;
	EXPECT(nsent == 1);
	EXPECT(sent_len >= 42);
	EXPECT(memcmp(sent, peer_mac, 6) == 0 && memcmp(sent + 6, our_mac, 6) == 0);
	EXPECT(get16(sent + 12) == 0x0806);
	EXPECT(get16(a + 6) == 2);  /* reply */
	EXPECT(memcmp(a + 8, our_mac, 6) == 0 && memcmp(a + 14, our_ip, 4) == 0);
	EXPECT(memcmp(a + 18, peer_mac, 6) == 0 && memcmp(a + 24, peer_ip, 4) == 0);
	return NULL;
}

static const char *check_arp_other_ip(void)
{
	static const uint8_t other[4] = { 10, 0, 2, 3 };
	const char *err = arp_request(other);
	if (err)
		return err;
	EXPECT(nsent == 0);
	return NULL;
}

/* An IPv4 header from the peer to us; the caller fills in the payload. */
static uint8_t *ip_header(uint8_t *f, uint8_t proto, size_t payload)
{
	uint8_t *ip = f + eth_header(f, our_mac, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + payload));
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, peer_ip, 4);
	memcpy(ip + 16, our_ip, 4);
	put16(ip + 10, csum(ip, 20, 0));
	return ip;
}

/* Needs the peer's MAC in lwip's ARP cache: check_arp_reply put it there. */
static const char *check_ping(void)
{
	uint8_t f[14 + 20 + 16] = { 0 };
	uint8_t *ip = ip_header(f, 1, 16), *icmp = ip + 20;
	const uint8_t *rip = sent + 14, *ricmp = rip + 20;
	const char *err;
	icmp[0] = 8;                /* echo request */
	put16(icmp + 4, 0x1234);    /* id */
	put16(icmp + 6, 7);         /* sequence */
	memcpy(icmp + 8, "kvmbox!!", 8);
	put16(icmp + 2, csum(icmp, 16, 0));
	if ((err = feed(f, sizeof(f))))
		return err;
	EXPECT(nsent == 1);
	EXPECT(sent_len >= sizeof(f));
	EXPECT(memcmp(sent, peer_mac, 6) == 0 && get16(sent + 12) == 0x0800);
	EXPECT(rip[9] == 1 && memcmp(rip + 12, our_ip, 4) == 0 && memcmp(rip + 16, peer_ip, 4) == 0);
	EXPECT(csum(rip, 20, 0) == 0);
	EXPECT(ricmp[0] == 0 && get16(ricmp + 4) == 0x1234 && get16(ricmp + 6) == 7);
	EXPECT(memcmp(ricmp + 8, "kvmbox!!", 8) == 0);
	EXPECT(csum(ricmp, 16, 0) == 0);
	return NULL;
}

static uint32_t tcp_pseudo_sum(const uint8_t *ip, size_t tcp_len)
{
	uint32_t sum = 6 + (uint32_t)tcp_len;
	for (int i = 12; i < 20; i += 2)
		sum += get16(ip + i);
	return sum;
}

static const char *check_tcp_syn(void)
{
	struct tcp_pcb *pcb = tcp_new();
	uint8_t f[14 + 20 + 20] = { 0 };
	uint8_t *ip = ip_header(f, 6, 20), *tcp = ip + 20;
	const uint8_t *rip = sent + 14, *rtcp = rip + 20;
	const char *err;
	EXPECT(pcb != NULL);
	EXPECT(tcp_bind(pcb, IP_ANY_TYPE, 8080) == ERR_OK);
	EXPECT((pcb = tcp_listen(pcb)) != NULL);
	put16(tcp, 40000);          /* source port */
	put16(tcp + 2, 8080);
	tcp[4] = 0x11;              /* sequence 0x11000000 */
	tcp[12] = 5 << 4;           /* header length: 5 words */
	tcp[13] = 0x02;             /* SYN */
	put16(tcp + 14, 8192);      /* window */
	put16(tcp + 16, csum(tcp, 20, tcp_pseudo_sum(ip, 20)));
	if ((err = feed(f, sizeof(f))))
		return err;
	EXPECT(nsent == 1);
	EXPECT(rip[9] == 6);
	EXPECT(get16(rtcp) == 8080 && get16(rtcp + 2) == 40000);
	EXPECT((rtcp[13] & 0x3f) == 0x12);  /* SYN+ACK */
	EXPECT(rtcp[8] == 0x11 && rtcp[9] == 0 && rtcp[10] == 0 && rtcp[11] == 1);
	EXPECT(csum(rtcp, (size_t)(get16(rip + 2) - 20), tcp_pseudo_sum(rip, (size_t)(get16(rip + 2) - 20))) == 0);
	tcp_close(pcb);
	return NULL;
}

int main(void)
{
	ip4_addr_t ip, mask, gw;

	lwip_init();
	IP4_ADDR(&ip, our_ip[0], our_ip[1], our_ip[2], our_ip[3]);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	ip4_addr_set_zero(&gw);
	result("netif_add", netif_add(&nif, &ip, &mask, &gw, NULL, nif_init, ethernet_input)
			    ? NULL : "netif_add returned NULL");
	netif_set_up(&nif);
	netif_set_link_up(&nif);
	result("arp_reply", check_arp_reply());
	result("arp_ignores_other_ip", check_arp_other_ip());
	result("icmp_echo_reply", check_ping());
	result("tcp_syn_ack", check_tcp_syn());
	/* The backend's loop runs lwip's timers; this links and runs them once
	 * (an lwip assertion would abort here). */
	sys_check_timeouts();
	return failures ? 1 : 0;
}
