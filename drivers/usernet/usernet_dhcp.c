/* usernet: the guest's DHCP server (RFC 2131), one lease: cfg.guest for the
 * guest's MAC, with the gateway and the DNS address. Served here rather than
 * by lwip, whose IP layer drops the client's 0.0.0.0 source. */
#include <string.h>

#include "usernet/usernet_int.h"

#define BOOTP_FIXED 236           /* op .. file */
#define DHCP_MAGIC 0x63825363
#define LEASE_S 86400

enum { DHCPDISCOVER = 1, DHCPOFFER, DHCPREQUEST, DHCPDECLINE, DHCPACK, DHCPNAK, DHCPRELEASE, DHCPINFORM };

struct dhcp_req {
	int type;
	uint32_t requested, server; /* options 50 and 54, 0 if absent */
};

/* Walk the options; every length is checked against the end. */
static int dhcp_parse_options(const uint8_t *o, size_t len, struct dhcp_req *r)
{
	size_t i = 0;
	while (i < len) {
		uint8_t code = o[i++];
		if (code == 0)
			continue;
		if (code == 255)
			break;
		if (i >= len || o[i] > len - i - 1)
			return -1;
		uint8_t l = o[i++];
		const uint8_t *v = o + i;
		if (code == 53 && l == 1)
			r->type = v[0];
		else if (code == 50 && l == 4)
			r->requested = un_get32(v);
		else if (code == 54 && l == 4)
			r->server = un_get32(v);
		i += l;
	}
	return r->type ? 0 : -1;
}

static uint8_t *opt_u32(uint8_t *o, uint8_t code, uint32_t v)
{
	o[0] = code;
	o[1] = 4;
	un_put32(o + 2, v);
	return o + 6;
}

void un_dhcp_input(struct usernet *u, const struct un_ip *p)
{
	const uint8_t *udp = p->l4;
	size_t ulen = un_get16(udp + 4);
	if (ulen < 8 || ulen > p->l4_len || un_get16(udp) != 68)
		return;
	const uint8_t *b = udp + 8;
	size_t blen = ulen - 8;
	if (blen < BOOTP_FIXED + 4 || b[0] != 1 || b[1] != 1 || b[2] != 6 || un_get32(b + BOOTP_FIXED) != DHCP_MAGIC)
		return;
	struct dhcp_req r = { 0 };
	if (dhcp_parse_options(b + BOOTP_FIXED + 4, blen - BOOTP_FIXED - 4, &r) < 0)
		return;
	const struct usernet_config *c = &u->cfg;
	int reply;
	switch (r.type) {
	case DHCPDISCOVER:
		reply = DHCPOFFER;
		break;
	case DHCPREQUEST: {
		if (r.server && r.server != c->host)
			return; /* it chose another server */
		uint32_t want = r.requested ? r.requested : un_get32(b + 12); /* ciaddr when renewing */
		reply = want == c->guest ? DHCPACK : DHCPNAK;
		break;
	}
	case DHCPINFORM:
		reply = DHCPACK;
		break;
	default:
		return; /* RELEASE, DECLINE: nothing to do for a single fixed lease */
	}

	uint8_t m[BOOTP_FIXED + 4 + 64];
	memset(m, 0, sizeof(m));
	m[0] = 2; /* BOOTREPLY */
	m[1] = 1;
	m[2] = 6;
	memcpy(m + 4, b + 4, 4);    /* xid */
	memcpy(m + 10, b + 10, 2);  /* flags */
	if (r.type == DHCPINFORM)
		memcpy(m + 12, b + 12, 4); /* ciaddr */
	else if (reply != DHCPNAK)
		un_put32(m + 16, c->guest); /* yiaddr */
	if (reply != DHCPNAK)
		un_put32(m + 20, c->host);  /* siaddr */
	memcpy(m + 28, b + 28, 16); /* chaddr */
	un_put32(m + BOOTP_FIXED, DHCP_MAGIC);
	uint8_t *o = m + BOOTP_FIXED + 4;
	*o++ = 53;
	*o++ = 1;
	*o++ = (uint8_t)reply;
	o = opt_u32(o, 54, c->host);
	if (reply != DHCPNAK) {
		if (r.type != DHCPINFORM)
			o = opt_u32(o, 51, LEASE_S);
		o = opt_u32(o, 1, c->mask);
		o = opt_u32(o, 3, c->host);
		o = opt_u32(o, 6, c->dns);
	}
	*o++ = 255;
	/* The client has no address yet: broadcast, to its MAC's frame. */
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t udpm[8 + sizeof(m)];
	size_t mlen = (size_t)(o - m);
	if (mlen < 300)
		mlen = 300; /* BOOTP's minimum message, which some clients expect */
	un_put16(udpm, 67);
	un_put16(udpm + 2, 68);
	un_put16(udpm + 4, (uint16_t)(8 + mlen));
	un_put16(udpm + 6, 0); /* no checksum: allowed for UDP over IPv4 */
	memcpy(udpm + 8, m, mlen);
	if (un_send_ip(u, c->host, 0xffffffff, 17, udpm, 8 + mlen, bcast) == 0)
		u->stats.dhcp_replies++;
}
