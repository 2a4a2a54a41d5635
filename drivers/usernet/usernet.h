/* User-mode networking for a virtio-net NIC ("usernet"): the guest's
 * Ethernet frames go into an lwip netif inside the VMM process, and its
 * connections leave through ordinary host sockets, so the VM is online with
 * no privileges, tap or host configuration (QEMU's -netdev user, done anew).
 *
 * What the guest sees: a gateway (cfg.host) that answers ARP and ping, a
 * DHCP server handing out cfg.guest, a DNS server (cfg.dns) that relays to
 * the appliance's /etc/resolv.conf, and the rest of the world through NAT:
 *  - TCP: lwip terminates the guest's connection (its destination rewritten
 *    to a listener of ours, see usernet_tcp.c) and a host socket makes the
 *    real one; the guest's SYN is answered only once the host connect
 *    succeeded, else it gets a RST.
 *  - UDP: each flow is a connected host socket; replies are framed here.
 *  - ICMP echo: unprivileged ICMP sockets, where the host allows them.
 *  - cfg.host stands for the appliance's loopback (as in QEMU), cfg.dns:53
 *    for its first resolver.
 * Port forwards (hostfwd) listen on the appliance and connect into the guest.
 * restrict=on refuses everything outbound; forwards still work.
 *
 * Threads: none of its own. One thread (the virtio-net device thread) calls
 * everything here; lwip is NO_SYS and global, so there is one usernet per
 * process (usernet_new refuses a second).
 *
 * Limits (below): connection and flow counts are fixed and every buffer is
 * bounded, so a guest that floods exhausts only its own quotas; what is over
 * a limit is refused (RST) and counted, never queued without bound. */
#ifndef KVMBOX_USERNET_H
#define KVMBOX_USERNET_H

#include <stddef.h>
#include <stdint.h>

#include "usernet/usernet_config.h"

#define USERNET_MAX_TCP 192          /* guest-initiated TCP connections at once, connecting ones included */
#define USERNET_MAX_FWD_CONNS 32     /* TCP connections through hostfwd listeners at once */
#define USERNET_MAX_UDP 64           /* UDP flows (host sockets) at once; the idlest is recycled */
#define USERNET_MAX_ICMP 8           /* ICMP echo flows at once */
#define USERNET_TCP_BUF (44 * 1460)  /* guest->host bytes held per connection (= lwip's TCP_WND) */
#define USERNET_RXQ_FRAMES 256       /* frames waiting for the guest's receive ring */
#define USERNET_FRAME_MAX 1518       /* Ethernet header + 1500 + a VLAN tag; longer frames are dropped */
#define USERNET_CONNECT_TIMEOUT_MS 20000 /* a host connect (or the guest's handshake) that takes longer fails */
#define USERNET_UDP_IDLE_MS 60000    /* a UDP flow quiet this long is closed */
#define USERNET_LISTEN_BACKLOG 16    /* per hostfwd listener */

struct usernet;

struct usernet_stats {
	uint64_t frames_in, frames_out, frames_dropped;  /* from the guest / to it / refused or lost */
	uint64_t rxq_full;                               /* frames for the guest lost to a full queue */
	uint64_t tcp_opened, tcp_refused;                /* refused: over a limit, restricted or host failure */
	uint64_t udp_flows, udp_recycled, udp_refused;
	uint64_t fwd_accepted, fwd_refused;
	uint64_t dhcp_replies, icmp_echoes;
	unsigned tcp_now, fwd_now, udp_now;              /* connections and flows open now */
};

/* A backend with cfg (checked with usernet_config_check), our MAC mac
 * (the gateway's; the guest's is learnt from its frames). Opens the hostfwd
 * listeners: a port already in use fails here, with err saying which. NULL
 * with err set on failure. */
struct usernet *usernet_new(const struct usernet_config *cfg, char *err, size_t errlen);
void usernet_free(struct usernet *u);

/* One frame from the guest (without the virtio-net header). Any bytes. */
void usernet_input(struct usernet *u, const uint8_t *frame, size_t len);

/* Readable (epoll, level) while host sockets or timers have work: then call
 * usernet_poll, which does all of it without blocking. */
int usernet_poll_fd(const struct usernet *u);
void usernet_poll(struct usernet *u);

/* Readable while frames wait for the guest. usernet_rx_pop copies the next
 * into buf (cap bytes, at least USERNET_FRAME_MAX) and returns its length,
 * or 0 when none waits. */
int usernet_rx_fd(const struct usernet *u);
size_t usernet_rx_pop(struct usernet *u, uint8_t *buf, size_t cap);

void usernet_get_stats(const struct usernet *u, struct usernet_stats *s);

/* The gateway's MAC: locally administered, fixed ("kb" and "un"). */
extern const uint8_t usernet_gateway_mac[6];

#endif
