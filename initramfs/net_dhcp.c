/* DHCP messages, the client side (RFC 2131, options from RFC 2132).
 *
 * Replies come from whatever answers on the wire, so dhcp_parse() trusts
 * nothing: every option is bounds-checked against the packet, a reply must
 * match our transaction id and hardware address and carry a message type,
 * and an address that cannot be a host's (0, broadcast, multicast, loopback)
 * is refused. tests/unit/test_net.c and tests/fuzz/fuzz_dhcp.c run it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "net.h"

#define BOOTP_REQUEST 1
#define BOOTP_REPLY 2
#define BOOTP_FIXED 236      /* op .. file: the fixed BOOTP header */
#define DHCP_MAGIC 0x63825363
#define OPT_PAD 0
#define OPT_MASK 1
#define OPT_ROUTER 3
#define OPT_DNS 6
#define OPT_HOSTNAME 12
#define OPT_REQ_ADDR 50
#define OPT_LEASE 51
#define OPT_OVERLOAD 52
#define OPT_TYPE 53
#define OPT_SERVER 54
#define OPT_PARAMS 55
#define OPT_MAX_SIZE 57
#define OPT_T1 58
#define OPT_T2 59
#define OPT_CLIENT_ID 61
#define OPT_END 255

static void put32(uint8_t *p, uint32_t v) /* v in host order, written big-endian */
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t dhcp_build(uint8_t *buf, size_t size, int type, uint32_t xid, const uint8_t mac[6], uint32_t want,
		  uint32_t server, const char *hostname)
{
	if (size < 300)
		return 0;
	memset(buf, 0, size);
	buf[0] = BOOTP_REQUEST;
	buf[1] = 1; /* Ethernet */
	buf[2] = 6;
	put32(buf + 4, xid);
	/* A renewal (REQUEST without a server id) is sent from the address
	 * being renewed; the others from 0.0.0.0, with the broadcast flag so
	 * that servers answer to the broadcast address we can receive. */
	if (type == DHCP_REQUEST && !server && want)
		memcpy(buf + 12, &want, 4); /* ciaddr */
	else
		buf[10] = 0x80;
	memcpy(buf + 28, mac, 6);
	uint8_t *o = buf + BOOTP_FIXED;
	put32(o, DHCP_MAGIC);
	o += 4;
	*o++ = OPT_TYPE, *o++ = 1, *o++ = (uint8_t)type;
	*o++ = OPT_CLIENT_ID, *o++ = 7, *o++ = 1;
	memcpy(o, mac, 6), o += 6;
	if (type == DHCP_REQUEST && server) {
		*o++ = OPT_REQ_ADDR, *o++ = 4;
		memcpy(o, &want, 4), o += 4;
		*o++ = OPT_SERVER, *o++ = 4;
		memcpy(o, &server, 4), o += 4;
	}
	*o++ = OPT_MAX_SIZE, *o++ = 2, *o++ = DHCP_MSG_MAX >> 8, *o++ = DHCP_MSG_MAX & 0xff;
	*o++ = OPT_PARAMS, *o++ = 6, *o++ = OPT_MASK, *o++ = OPT_ROUTER, *o++ = OPT_DNS, *o++ = OPT_LEASE,
	*o++ = OPT_T1, *o++ = OPT_T2;
	size_t hl = hostname ? strnlen(hostname, 63) : 0;
	if (hl) {
		*o++ = OPT_HOSTNAME, *o++ = (uint8_t)hl;
		memcpy(o, hostname, hl), o += hl;
	}
	*o++ = OPT_END;
	size_t len = (size_t)(o - buf);
	return len < 300 ? 300 : len; /* BOOTP's minimum; some relays drop less */
}

/* An address a server may hand to a host. */
static int host_addr(uint32_t a_be)
{
	uint32_t a = ntohl(a_be);
	return a && a != 0xffffffffu && (a >> 28) != 0xe && (a >> 24) != 127 && (a >> 24) != 0;
}

/* Options in [p, end): fills l; *overload gets option 52. -1 on a bad length. */
static int parse_options(const uint8_t *p, const uint8_t *end, struct dhcp_lease *l, int *overload)
{
	while (p < end) {
		uint8_t code = *p++;
		if (code == OPT_PAD)
			continue;
		if (code == OPT_END)
			return 0;
		if (p >= end || *p > end - p - 1)
			return -1;
		uint8_t len = *p++;
		const uint8_t *v = p;
		p += len;
		switch (code) {
		case OPT_TYPE:
			if (len == 1)
				l->type = v[0];
			break;
		case OPT_MASK:
			if (len == 4)
				memcpy(&l->mask, v, 4);
			break;
		case OPT_ROUTER:
			if (len >= 4)
				memcpy(&l->router, v, 4);
			break;
		case OPT_DNS:
			for (int i = 0; i < 2 && len >= 4 * (i + 1); i++)
				memcpy(&l->dns[i], v + 4 * i, 4);
			break;
		case OPT_SERVER:
			if (len == 4)
				memcpy(&l->server, v, 4);
			break;
		case OPT_LEASE:
			if (len == 4)
				l->lease_s = get32(v);
			break;
		case OPT_T1:
			if (len == 4)
				l->t1_s = get32(v);
			break;
		case OPT_T2:
			if (len == 4)
				l->t2_s = get32(v);
			break;
		case OPT_OVERLOAD:
			if (len == 1)
				*overload = v[0];
			break;
		default:
			break;
		}
	}
	return 0; /* no END: tolerated, as many servers pad to the end */
}

int dhcp_parse(const uint8_t *buf, size_t len, uint32_t xid, const uint8_t mac[6], struct dhcp_lease *l)
{
	memset(l, 0, sizeof(*l));
	if (len < BOOTP_FIXED + 4 || buf[0] != BOOTP_REPLY || buf[1] != 1 || buf[2] != 6 || get32(buf + 4) != xid ||
	    memcmp(buf + 28, mac, 6) || get32(buf + BOOTP_FIXED) != DHCP_MAGIC)
		return -EINVAL;
	l->xid = xid;
	memcpy(&l->addr, buf + 16, 4);
	int overload = 0;
	if (parse_options(buf + BOOTP_FIXED + 4, buf + len, l, &overload) < 0)
		return -EINVAL;
	/* Option overload: more options in the file (128 bytes at 108) and
	 * sname (64 bytes at 44) fields. */
	if (overload & 1 && parse_options(buf + 108, buf + 236, l, &overload) < 0)
		return -EINVAL;
	if (overload & 2 && parse_options(buf + 44, buf + 108, l, &overload) < 0)
		return -EINVAL;
	if (l->type == DHCP_NAK)
		return 0;
	if ((l->type != DHCP_OFFER && l->type != DHCP_ACK) || !host_addr(l->addr))
		return -EINVAL;
	if (!l->lease_s)
		l->lease_s = 3600;
	if (!l->t1_s || l->t1_s > l->lease_s)
		l->t1_s = l->lease_s / 2;
	if (!l->t2_s || l->t2_s > l->lease_s || l->t2_s < l->t1_s)
		l->t2_s = l->lease_s / 8 * 7;
	/* A mask must be contiguous ones; a server's nonsense gets the
	 * classful default rather than a broken route. */
	uint32_t m = ntohl(l->mask);
	if (!m || (~m & (~m + 1)))
		l->mask = htonl(0xffffff00u);
	if (l->router && !host_addr(l->router))
		l->router = 0;
	return 0;
}

uint16_t net_csum(const void *data, size_t len, uint32_t start)
{
	const uint8_t *p = data;
	uint32_t sum = start;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}
