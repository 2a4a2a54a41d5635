/* A tap interface as the backend of a virtio-net device.
 *
 * The tap is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, so every frame
 * read or written carries a 12-byte struct virtio_net_hdr_v1 in front: the
 * device passes the guest's header through and the kernel does the GSO and
 * checksum work the header asks for. With more than one queue pair the tap is
 * IFF_MULTI_QUEUE, one fd per pair. The tap is not persistent: when the VMM
 * exits and its fds close, the interface goes away. */
#ifndef KVMBOX_NET_TAP_H
#define KVMBOX_NET_TAP_H

#include <stddef.h>

#define TAP_IFNAME_MAX 16 /* IFNAMSIZ */
#define TAP_VNET_HDR_LEN 12
#define TAP_MAX_QUEUES 8

struct tap {
	char ifname[TAP_IFNAME_MAX]; /* as the kernel named it */
	unsigned nfds;
	int fds[TAP_MAX_QUEUES];     /* non-blocking, close-on-exec */
	unsigned offloads;           /* TUN_F_* bits the tap accepted when probed */
};

/* Create the tap (name "" lets the kernel pick kvmboxN) with queues fds, bring
 * it up and, when bridge is not "", add it to that bridge. The offloads it
 * accepts are probed and left off (TUNSETOFFLOAD 0) until tap_set_offloads.
 * 0 or -errno with err saying why (no /dev/net/tun, no such bridge, not a
 * bridge, permission); on failure nothing is left behind. */
int tap_open(struct tap *t, const char *name, const char *bridge, unsigned queues, char *err, size_t errlen);
void tap_close(struct tap *t);

/* TUNSETOFFLOAD: what the tap may hand us (partial checksums, TSO frames).
 * 0 or -errno. */
int tap_set_offloads(const struct tap *t, unsigned tun_f);

#endif
