/* The appliance's own network: its address (DHCP or static), the management
 * bridge the NIC joins and guests' taps can join too, and the link watch.
 *
 *   net_cfg.c   what the kernel command line asks for (ip=, kvmbox.bridge=)
 *   net_dhcp.c  DHCP messages: building requests, parsing replies (outside
 *               input: bounds-checked, fuzzed by tests/fuzz/fuzz_dhcp.c)
 *   net_up.c    doing it: ioctls, a raw socket for DHCP, netlink for links
 */
#ifndef KVMBOX_NET_H
#define KVMBOX_NET_H

#include <stddef.h>
#include <stdint.h>

#define NET_BRIDGE_DEFAULT "kvbr0"
#define NET_IFNAME_MAX 16

enum net_mode { NET_DHCP, NET_STATIC, NET_OFF };

struct net_config {
	enum net_mode mode;
	char iface[NET_IFNAME_MAX];  /* "" = the first wired NIC with a driver */
	char bridge[NET_IFNAME_MAX]; /* "" = none: the address goes on the NIC itself */
	uint32_t addr, gw, dns[2];   /* static: network byte order; 0 = unset */
	int prefix;                  /* static: 0..32 */
	char hostname[64];
};

/* From the kernel command line: ip= in the kernel's own syntax
 * (ip=dhcp, ip=off|none, ip=ADDR::GW:MASK:HOST:DEV:none:DNS0:DNS1, fields may
 * be empty) and kvmbox.bridge=NAME|none. 0, or -EINVAL with err set; cfg is
 * then the default (DHCP on the bridge). */
int net_config_parse(const char *cmdline, struct net_config *cfg, char *err, size_t errlen);

/* --- DHCP (RFC 2131/2132), the client side --- */
#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_DECLINE 4
#define DHCP_ACK 5
#define DHCP_NAK 6
#define DHCP_MSG_MAX 576 /* what a client must accept without asking for more */

struct dhcp_lease {
	int type;            /* DHCP_OFFER, DHCP_ACK, DHCP_NAK */
	uint32_t xid;
	uint32_t addr;       /* yiaddr; network byte order, as all below */
	uint32_t server;     /* option 54 */
	uint32_t mask, router, dns[2];
	uint32_t lease_s, t1_s, t2_s; /* T1/T2 from the server, else 1/2 and 7/8 of the lease */
};

/* A DISCOVER (server 0, want 0) or REQUEST (the offered address and its
 * server, or with server 0 a renewal of want) from mac with transaction xid,
 * as a BOOTP payload (no IP/UDP header). Returns its length. */
size_t dhcp_build(uint8_t *buf, size_t size, int type, uint32_t xid, const uint8_t mac[6], uint32_t want,
		  uint32_t server, const char *hostname);
/* A server's BOOTP payload: 0 and the lease when it is a reply to xid for
 * mac that we can use, -EINVAL otherwise. */
int dhcp_parse(const uint8_t *buf, size_t len, uint32_t xid, const uint8_t mac[6], struct dhcp_lease *l);

/* IPv4 header checksum (and the UDP pseudo-header sum, via start). */
uint16_t net_csum(const void *data, size_t len, uint32_t start);

/* --- net_up.c --- */
/* Brings the network up as cfg says: the bridge, the NIC in it, an address
 * (DHCP waits up to wait_s for a lease, then goes on in the background).
 * Adds its fds to epfd. Never fails the boot: problems are logged. */
void net_start(const struct net_config *cfg, double wait_s, int epfd);
/* Run the DHCP client for up to wait_s seconds or until it has a lease,
 * outside init's event loop: for boot steps that need the network before
 * that loop runs (fetching the seed). Returns at once without DHCP. */
void net_wait_lease(double wait_s);
/* An epoll event on fd: 1 when it was the network's (link change, DHCP
 * timer or reply), else 0. */
int net_event(int fd);
/* "10.0.2.15/24 on kvbr0" or "none (why)", for the ready line and console. */
void net_describe(char *buf, size_t size);
/* The address, or 0. */
uint32_t net_addr(void);

#endif
