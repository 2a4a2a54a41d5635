/* Guest-side frames for the usernet unit test and fuzz target: what a guest
 * on the usernet link sends (Ethernet, ARP, IPv4, UDP, TCP, ICMP), with good
 * checksums, and readers for what it gets back. Test-only, header-only. */
#ifndef KVMBOX_USERNET_FRAMES_H
#define KVMBOX_USERNET_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static const uint8_t uf_guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t uf_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

#define UF_IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static inline void uf_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void uf_put32(uint8_t *p, uint32_t v) { uf_put16(p, (uint16_t)(v >> 16)); uf_put16(p + 2, (uint16_t)v); }
static inline uint16_t uf_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t uf_get32(const uint8_t *p) { return (uint32_t)uf_get16(p) << 16 | uf_get16(p + 2); }

static inline uint32_t uf_sum(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static inline uint16_t uf_csum(const uint8_t *b, size_t len, uint32_t sum)
{
	return (uint16_t)~uf_sum(b, len, sum);
}

/* The L4 checksum of the IPv4 packet at ip (pseudo-header included): 0 when right. */
static inline uint16_t uf_l4_check(const uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 15) * 4, len = uf_get16(ip + 2) - ihl;
	return uf_csum(ip + ihl, len, uf_sum(ip + 12, 8, ip[9] + (uint32_t)len));
}

static inline size_t uf_eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, uf_guest_mac, 6);
	uf_put16(f + 12, type);
	return 14;
}

static inline size_t uf_arp_request(uint8_t *f, uint32_t sender, uint32_t target)
{
	memset(f, 0, 60);
	uint8_t *a = f + uf_eth(f, uf_bcast, 0x0806);
	uf_put16(a, 1);
	uf_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	uf_put16(a + 6, 1);
	memcpy(a + 8, uf_guest_mac, 6);
	uf_put32(a + 14, sender);
	uf_put32(a + 24, target);
	return 60;
}

/* An IPv4 frame with l4 (len bytes) already at f + 34; fills the headers
 * and the L4 checksum (TCP, UDP or ICMP). */
static inline size_t uf_ip(uint8_t *f, const uint8_t *dst_mac, uint32_t src, uint32_t dst, uint8_t proto, size_t len)
{
	uf_eth(f, dst_mac, 0x0800);
	uint8_t *ip = f + 14, *l4 = ip + 20;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	uf_put16(ip + 2, (uint16_t)(20 + len));
	ip[8] = 64;
	ip[9] = proto;
	uf_put32(ip + 12, src);
	uf_put32(ip + 16, dst);
	uf_put16(ip + 10, uf_csum(ip, 20, 0));
	size_t at = proto == 6 ? 16 : proto == 17 ? 6 : 2;
	uf_put16(l4 + at, 0);
	uint16_t s = proto == 1 ? uf_csum(l4, len, 0) : uf_csum(l4, len, uf_sum(ip + 12, 8, proto + (uint32_t)len));
	if (proto == 17 && !s)
		s = 0xffff;
	uf_put16(l4 + at, s);
	size_t total = 34 + len;
	if (total < 60) {
		memset(f + total, 0, 60 - total);
		total = 60;
	}
	return total;
}

static inline size_t uf_tcp(uint8_t *f, const uint8_t *dst_mac, uint32_t src, uint16_t sport, uint32_t dst,
			    uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t len)
{
	uint8_t *t = f + 34;
	memset(t, 0, 20);
	uf_put16(t, sport);
	uf_put16(t + 2, dport);
	uf_put32(t + 4, seq);
	uf_put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	uf_put16(t + 14, 65535);
	if (len)
		memcpy(t + 20, data, len);
	return uf_ip(f, dst_mac, src, dst, 6, 20 + len);
}

static inline size_t uf_udp(uint8_t *f, const uint8_t *dst_mac, uint32_t src, uint16_t sport, uint32_t dst,
			    uint16_t dport, const void *data, size_t len)
{
	uint8_t *u = f + 34;
	uf_put16(u, sport);
	uf_put16(u + 2, dport);
	uf_put16(u + 4, (uint16_t)(8 + len));
	memcpy(u + 8, data, len);
	return uf_ip(f, dst_mac, src, dst, 17, 8 + len);
}

/* A DHCP message of type (1 DISCOVER, 3 REQUEST) asking for requested (0: none). */
static inline size_t uf_dhcp(uint8_t *f, int type, uint32_t xid, uint32_t requested)
{
	uint8_t m[300];
	memset(m, 0, sizeof(m));
	m[0] = 1;
	m[1] = 1;
	m[2] = 6;
	uf_put32(m + 4, xid);
	memcpy(m + 28, uf_guest_mac, 6);
	uf_put32(m + 236, 0x63825363);
	uint8_t *o = m + 240;
	*o++ = 53, *o++ = 1, *o++ = (uint8_t)type;
	if (requested) {
		*o++ = 50, *o++ = 4;
		uf_put32(o, requested);
		o += 4;
	}
	*o++ = 255;
	return uf_udp(f, uf_bcast, 0, 68, 0xffffffff, 67, m, sizeof(m));
}

#endif
