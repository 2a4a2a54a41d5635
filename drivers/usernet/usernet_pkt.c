/* usernet: parsing guest IPv4 frames and building frames for the guest.
 * Everything a guest sends is checked here before any field is trusted. */
#include <errno.h>
#include <string.h>

#include "usernet/usernet_int.h"

#define ETH_HLEN 14
#define IP_HLEN 20
#define UDP_HLEN 8

uint32_t un_csum_add(const uint8_t *b, size_t len, uint32_t sum)
{
	size_t i;
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	/* Fold often enough that 64 KiB of 0xffff cannot overflow. */
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

uint16_t un_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t un_pseudo_sum(const uint8_t *ip, uint8_t proto, size_t len)
{
	return un_csum_add(ip + 12, 8, (uint32_t)proto + (uint32_t)len);
}

void un_csum_replace16(uint8_t *csum, uint16_t old, uint16_t new_)
{
	/* RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'). */
	uint32_t s = (uint16_t)~un_get16(csum) + (uint32_t)(uint16_t)~old + new_;
	un_put16(csum, un_csum_fold(s));
}

void un_csum_replace32(uint8_t *csum, uint32_t old, uint32_t new_)
{
	un_csum_replace16(csum, (uint16_t)(old >> 16), (uint16_t)(new_ >> 16));
	un_csum_replace16(csum, (uint16_t)old, (uint16_t)new_);
}

int un_parse_ip(uint8_t *frame, size_t len, struct un_ip *p)
{
	if (len < ETH_HLEN + IP_HLEN)
		return -1;
	uint8_t *ip = frame + ETH_HLEN;
	size_t ihl = (size_t)(ip[0] & 15) * 4, total = un_get16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < IP_HLEN || total < ihl || total > len - ETH_HLEN)
		return -1;
	if (un_csum_fold(un_csum_add(ip, ihl, 0)) != 0)
		return -1;
	p->ip = ip;
	p->l4 = ip + ihl;
	p->l4_len = total - ihl;
	p->proto = ip[9];
	p->src = un_get32(ip + 12);
	p->dst = un_get32(ip + 16);
	p->fragment = (un_get16(ip + 6) & 0x3fff) != 0;
	return 0;
}

/* One IPv4 frame to the guest; l4 is the payload of this fragment. */
static int send_frame(struct usernet *u, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4, size_t len,
		      uint16_t id, uint16_t frag, const uint8_t *dst_mac)
{
	uint8_t f[USERNET_FRAME_MAX];
	if (ETH_HLEN + IP_HLEN + len > sizeof(f))
		return -EMSGSIZE;
	memcpy(f, dst_mac ? dst_mac : u->guest_mac, 6);
	memcpy(f + 6, usernet_gateway_mac, 6);
	un_put16(f + 12, 0x0800);
	uint8_t *ip = f + ETH_HLEN;
	memset(ip, 0, IP_HLEN);
	ip[0] = 0x45;
	un_put16(ip + 2, (uint16_t)(IP_HLEN + len));
	un_put16(ip + 4, id);
	un_put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	un_put32(ip + 12, src);
	un_put32(ip + 16, dst);
	un_put16(ip + 10, un_csum_fold(un_csum_add(ip, IP_HLEN, 0)));
	memcpy(ip + IP_HLEN, l4, len);
	size_t flen = ETH_HLEN + IP_HLEN + len;
	if (flen < 60) { /* the Ethernet minimum */
		memset(f + flen, 0, 60 - flen);
		flen = 60;
	}
	return un_rx_push(u, f, flen);
}

int un_send_ip(struct usernet *u, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4, size_t len,
	       const uint8_t *dst_mac)
{
	static uint16_t ip_id;
	return send_frame(u, src, dst, proto, l4, len, ++ip_id, 0x4000 /* DF */, dst_mac);
}

int un_send_udp(struct usernet *u, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const uint8_t *data,
		size_t len)
{
	static uint16_t frag_id;
	/* Reassembled in one buffer: a UDP datagram is at most 65535 bytes. */
	static uint8_t dgram[65536];
	if (len > 65535 - IP_HLEN - UDP_HLEN)
		return -EMSGSIZE;
	size_t total = UDP_HLEN + len;
	un_put16(dgram, sport);
	un_put16(dgram + 2, dport);
	un_put16(dgram + 4, (uint16_t)total);
	un_put16(dgram + 6, 0);
	memcpy(dgram + UDP_HLEN, data, len);
	uint8_t pseudo[8];
	un_put32(pseudo, src);
	un_put32(pseudo + 4, dst);
	uint16_t sum = un_csum_fold(un_csum_add(dgram, total, un_csum_add(pseudo, 8, 17 + (uint32_t)total)));
	un_put16(dgram + 6, sum ? sum : 0xffff);
	size_t mtu_payload = USERNET_FRAME_MAX - 4 - ETH_HLEN - IP_HLEN; /* 1500 - 20 */
	if (total <= mtu_payload)
		return un_send_ip(u, src, dst, 17, dgram, total, NULL);
	/* Fragments of 1480 bytes (a multiple of 8), the last one shorter. */
	uint16_t id = ++frag_id;
	size_t step = mtu_payload & ~(size_t)7;
	for (size_t off = 0; off < total; off += step) {
		size_t l = total - off < step ? total - off : step;
		uint16_t frag = (uint16_t)(off / 8) | (off + l < total ? 0x2000 : 0);
		int r = send_frame(u, src, dst, 17, dgram + off, l, id, frag, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}
