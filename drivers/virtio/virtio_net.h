/* virtio-net (virtio 1.2, 5.1) on a tap backend: the pieces the unit test and
 * the fuzz target reach besides the device itself. */
#ifndef KVMBOX_VIRTIO_NET_H
#define KVMBOX_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>

#include "net/tap.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_HDR_LEN 12        /* struct virtio_net_hdr_v1: VERSION_1 always has num_buffers */
#define VIRTIO_NET_MAX_FRAME 65550   /* frame bytes after the header: 64 KiB GSO + Ethernet and VLAN */
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_MAX_PAIRS 7       /* 2 * 7 queues + the control queue fill VIRTIO_PCI_MAX_QUEUES */
#define VIRTIO_NET_CFG_SIZE 10       /* mac, status, max_virtqueue_pairs */
#define VIRTIO_NET_CTRL_MAX 4096     /* the longest control command taken (a MAC table of ~680 entries) */

#define VIRTIO_NET_BIT(f) (1ull << (f))

/* Whether a transmitted frame's header is one the driver may send with the
 * negotiated features: known gso_type, GSO and checksum offload only if
 * negotiated, the checksum field inside the frame, frame_len (the bytes after
 * the header) at most VIRTIO_NET_MAX_FRAME. 0, or -EINVAL with why. Pure. */
int virtio_net_hdr_check(const struct virtio_net_hdr_v1 *h, size_t frame_len, uint64_t features, char *why,
			 size_t whylen);

/* A control queue command (class, command, data, without the ack byte):
 * VIRTIO_NET_OK or VIRTIO_NET_ERR. max_pairs is 0 unless MQ was negotiated;
 * VQ_PAIRS_SET within [1, max_pairs] stores the count in *pairs. Pure. */
uint8_t virtio_net_ctrl_parse(const uint8_t *req, size_t len, unsigned max_pairs, unsigned *pairs);

/* The MAC of NIC index of VM name when none is configured: 02:6b:62 (locally
 * administered, unicast, "kb") and three bytes of an FNV-1a hash of both, so
 * a VM keeps its MACs across restarts. */
void virtio_net_default_mac(const char *vm_name, unsigned index, uint8_t mac[6]);

struct vm;
struct guest_mem;
struct virtio_net;
struct virtio_pci;

/* A device on tap t (one queue pair per fd; the fds become the device's).
 * vm may be NULL (tests): no thread, the caller drives the queues and calls
 * virtio_net_tap_readable. NULL with err set on failure. */
struct virtio_net *virtio_net_new(struct vm *vm, const struct guest_mem *gm, const char *name, const uint8_t mac[6],
				  const struct tap *t, char *err, size_t errlen);
/* A device on usernet u (one queue pair, no offloads); u stays the
 * caller's. vm may be NULL (tests): the caller then calls usernet_poll and
 * virtio_net_tap_readable(n, 0) itself. */
struct usernet;
struct virtio_net *virtio_net_new_user(struct vm *vm, const struct guest_mem *gm, const char *name,
				       const uint8_t mac[6], struct usernet *u, char *err, size_t errlen);
struct virtio_pci *virtio_net_pci(struct virtio_net *n);
/* What the device thread does when tap queue pair's fd is readable. */
void virtio_net_tap_readable(struct virtio_net *n, unsigned pair);
/* Tests only: free a device made with vm == NULL (the tap fds stay open). */
void virtio_net_free(struct virtio_net *n);

/* Counters, for tests and logs. */
struct virtio_net_stats {
	uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped;
};
void virtio_net_get_stats(const struct virtio_net *n, struct virtio_net_stats *s);

#endif
