/* The appliance's network settings and its DHCP client's messages
 * (initramfs/net_cfg.c, initramfs/net_dhcp.c): what the kernel command line
 * and a DHCP server send, including what they should not. */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "net.h"

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* A server's reply: BOOTP header, magic, then opts (len bytes). */
static size_t reply(uint8_t *b, uint32_t xid, const char *yiaddr, const uint8_t *opts, size_t len)
{
	memset(b, 0, 600);
	b[0] = 2, b[1] = 1, b[2] = 6;
	b[4] = (uint8_t)(xid >> 24), b[5] = (uint8_t)(xid >> 16), b[6] = (uint8_t)(xid >> 8), b[7] = (uint8_t)xid;
	inet_pton(AF_INET, yiaddr, b + 16);
	memcpy(b + 28, mac, 6);
	b[236] = 0x63, b[237] = 0x82, b[238] = 0x53, b[239] = 0x63;
	memcpy(b + 240, opts, len);
	return 240 + len;
}

static uint32_t ip(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

int main(void)
{
	struct net_config c;
	char err[200];
	CHECK("default dhcp on kvbr0", net_config_parse("console=ttyS0", &c, err, sizeof(err)) == 0 &&
					       c.mode == NET_DHCP && !strcmp(c.bridge, "kvbr0") && !c.iface[0]);
	CHECK("ip=off", net_config_parse("ip=off", &c, err, sizeof(err)) == 0 && c.mode == NET_OFF);
	CHECK("ip=dhcp", net_config_parse("quiet ip=dhcp", &c, err, sizeof(err)) == 0 && c.mode == NET_DHCP);
	CHECK("ip static full",
	      net_config_parse("ip=192.168.1.50::192.168.1.1:255.255.255.0:box1:eth1:none:1.1.1.1:9.9.9.9", &c, err,
			       sizeof(err)) == 0 &&
		      c.mode == NET_STATIC && c.addr == ip("192.168.1.50") && c.gw == ip("192.168.1.1") && c.prefix == 24 &&
		      !strcmp(c.iface, "eth1") && !strcmp(c.hostname, "box1") && c.dns[0] == ip("1.1.1.1") &&
		      c.dns[1] == ip("9.9.9.9"));
	CHECK("ip static short", net_config_parse("ip=10.1.2.3", &c, err, sizeof(err)) == 0 && c.mode == NET_STATIC &&
					 c.prefix == 24 && !c.gw);
	CHECK("ip dhcp on a device", net_config_parse("ip=:::::eth2:dhcp", &c, err, sizeof(err)) == 0 &&
					     c.mode == NET_DHCP && !strcmp(c.iface, "eth2"));
	CHECK("ip bad address", net_config_parse("ip=10.1.2.300", &c, err, sizeof(err)) < 0 && strstr(err, "10.1.2.300"));
	CHECK("ip bad mask", net_config_parse("ip=10.1.2.3:::255.0.255.0", &c, err, sizeof(err)) < 0 &&
				     strstr(err, "netmask"));
	CHECK("ip bad device", net_config_parse("ip=10.1.2.3:::::../x", &c, err, sizeof(err)) < 0 &&
				       strstr(err, "interface name"));
	CHECK("ip bad autoconf", net_config_parse("ip=:::::eth0:maybe", &c, err, sizeof(err)) < 0);
	CHECK("bridge none", net_config_parse("kvmbox.bridge=none", &c, err, sizeof(err)) == 0 && !c.bridge[0]);
	CHECK("bridge named", net_config_parse("kvmbox.bridge=vmbr0", &c, err, sizeof(err)) == 0 &&
				      !strcmp(c.bridge, "vmbr0"));
	CHECK("bridge name too long", net_config_parse("kvmbox.bridge=abcdefghijklmnopq", &c, err, sizeof(err)) < 0);

	/* Requests. */
	uint8_t b[600];
	size_t n = dhcp_build(b, sizeof(b), DHCP_DISCOVER, 0x11223344, mac, 0, 0, "kvmbox");
	CHECK("discover", n >= 300 && b[0] == 1 && b[4] == 0x11 && b[7] == 0x44 && !memcmp(b + 28, mac, 6) &&
				  b[10] == 0x80 && b[240] == 53 && b[242] == DHCP_DISCOVER);
	n = dhcp_build(b, sizeof(b), DHCP_REQUEST, 1, mac, ip("10.0.2.15"), ip("10.0.2.2"), NULL);
	int has50 = 0, has54 = 0;
	for (size_t i = 240; i + 1 < n && b[i] != 255; i += 2u + b[i + 1])
		has50 |= b[i] == 50 && !memcmp(b + i + 2, "\x0a\x00\x02\x0f", 4), has54 |= b[i] == 54;
	CHECK("request names address and server", has50 && has54);
	n = dhcp_build(b, sizeof(b), DHCP_REQUEST, 1, mac, ip("10.0.2.15"), 0, NULL);
	CHECK("renewal from ciaddr", !memcmp(b + 12, "\x0a\x00\x02\x0f", 4) && b[10] == 0);
	CHECK("too small a buffer", dhcp_build(b, 100, DHCP_DISCOVER, 1, mac, 0, 0, NULL) == 0);

	/* Replies. */
	struct dhcp_lease l;
	const uint8_t ack[] = { 53, 1, 5, 54, 4, 10, 0, 2, 2, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 2, 2,
				6, 8, 10, 0, 2, 3, 8, 8, 8, 8, 51, 4, 0, 1, 0x51, 0x80, 255 };
	n = reply(b, 7, "10.0.2.15", ack, sizeof(ack));
	CHECK("ack parsed", dhcp_parse(b, n, 7, mac, &l) == 0 && l.type == DHCP_ACK && l.addr == ip("10.0.2.15") &&
				    l.server == ip("10.0.2.2") && l.mask == ip("255.255.255.0") &&
				    l.router == ip("10.0.2.2") && l.dns[0] == ip("10.0.2.3") &&
				    l.dns[1] == ip("8.8.8.8") && l.lease_s == 86400 && l.t1_s == 43200 &&
				    l.t2_s == 75600);
	CHECK("wrong xid", dhcp_parse(b, n, 8, mac, &l) < 0);
	uint8_t other[6] = { 2, 0, 0, 0, 0, 1 };
	CHECK("wrong mac", dhcp_parse(b, n, 7, other, &l) < 0);
	CHECK("truncated", dhcp_parse(b, 200, 7, mac, &l) < 0);
	const uint8_t overrun[] = { 53, 1, 5, 6, 200, 10 };
	n = reply(b, 7, "10.0.2.15", overrun, sizeof(overrun));
	CHECK("option past the end", dhcp_parse(b, n, 7, mac, &l) < 0);
	const uint8_t notype[] = { 54, 4, 10, 0, 2, 2, 255 };
	n = reply(b, 7, "10.0.2.15", notype, sizeof(notype));
	CHECK("no message type", dhcp_parse(b, n, 7, mac, &l) < 0);
	const uint8_t offer[] = { 53, 1, 2, 255 };
	n = reply(b, 7, "255.255.255.255", offer, sizeof(offer));
	CHECK("broadcast address refused", dhcp_parse(b, n, 7, mac, &l) < 0);
	n = reply(b, 7, "127.0.0.1", offer, sizeof(offer));
	CHECK("loopback address refused", dhcp_parse(b, n, 7, mac, &l) < 0);
	const uint8_t badmask[] = { 53, 1, 2, 1, 4, 255, 0, 255, 0, 3, 4, 224, 0, 0, 1, 255 };
	n = reply(b, 7, "192.168.7.9", badmask, sizeof(badmask));
	CHECK("bad mask and router replaced", dhcp_parse(b, n, 7, mac, &l) == 0 && l.mask == ip("255.255.255.0") &&
						      !l.router && l.lease_s == 3600);
	const uint8_t nak[] = { 53, 1, 6, 255 };
	n = reply(b, 7, "0.0.0.0", nak, sizeof(nak));
	CHECK("nak", dhcp_parse(b, n, 7, mac, &l) == 0 && l.type == DHCP_NAK);
	/* Option overload: the type sits in the file field. */
	const uint8_t ovl[] = { 52, 1, 1, 255 };
	n = reply(b, 7, "10.0.2.16", ovl, sizeof(ovl));
	b[108] = 53, b[109] = 1, b[110] = 2, b[111] = 255;
	CHECK("overloaded file field", dhcp_parse(b, n, 7, mac, &l) == 0 && l.type == DHCP_OFFER);

	const uint8_t hdr[] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
				0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	CHECK("ipv4 checksum", net_csum(hdr, sizeof(hdr), 0) == 0xb861);
	return CHECK_DONE();
}
