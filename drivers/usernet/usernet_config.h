/* Settings of a user-mode network (`--net user,...`): addresses, restriction
 * and port forwards. Kept apart from usernet.h and free of lwip, so the VMM's
 * option parser and its tests need neither the stack nor its headers. */
#ifndef KVMBOX_USERNET_CONFIG_H
#define KVMBOX_USERNET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define USERNET_MAX_HOSTFWD 8 /* hostfwd= rules per NIC */

struct usernet_hostfwd {
	uint8_t proto;        /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t host_port;   /* where the appliance listens (all its addresses) */
	uint16_t guest_port;  /* where it goes in the guest */
};

/* Addresses in host byte order. The defaults are QEMU's: 10.0.2.0/24,
 * gateway 10.0.2.2, DNS 10.0.2.3, guest 10.0.2.15. */
struct usernet_config {
	uint32_t net, mask;
	uint32_t host;        /* the gateway: the backend itself */
	uint32_t dns;         /* relayed to the appliance's resolvers */
	uint32_t guest;       /* what DHCP gives the guest */
	unsigned set;         /* USERNET_SET_*: which of host/dns/guest were given */
	int restricted;       /* restrict=on: no outbound connections, forwards only */
	unsigned nfwd;
	struct usernet_hostfwd fwd[USERNET_MAX_HOSTFWD];
};

#define USERNET_SET_HOST 1u
#define USERNET_SET_DNS 2u
#define USERNET_SET_GUEST 4u

void usernet_config_defaults(struct usernet_config *c);
/* One key=value of a user NIC: net=A.B.C.D/N, host=, dns=, guest=,
 * restrict=on|off, hostfwd=tcp|udp:HOSTPORT:GUESTPORT (repeatable). A new
 * net= moves the addresses not given explicitly along (.2, .3, .15).
 * 0; -ENOENT for a key that is not ours (err untouched); -EINVAL or -E2BIG
 * with err saying why. */
int usernet_config_set(struct usernet_config *c, const char *key, const char *val, char *err, size_t errlen);
/* The whole: host, dns and guest inside net, distinct, neither its network
 * nor its broadcast address. 0 or -EINVAL with err. */
int usernet_config_check(const struct usernet_config *c, char *err, size_t errlen);

#endif
