/* virtio-net (virtio 1.2, 5.1) on a tap or on usernet (user-mode
 * networking, drivers/usernet/): one device per configured NIC.
 *
 * Queues: receiveq/transmitq pairs (2p, 2p + 1), then the control queue when
 * there are several pairs. Each pair has its own fd of a multi-queue tap; all
 * run on the device's one thread, under vp->lock.
 *
 * TX: a chain is the 12-byte header and the frame. The header is checked
 * (virtio_net_hdr_check), copied, and the copy written to the tap in front of
 * the frame's guest buffers, so what the kernel sees is what was checked even
 * if the guest rewrites its buffer meanwhile.
 * RX: a frame read from the tap (header included) is copied into as many
 * receive chains as it needs (MRG_RXBUF), and they are published at once.
 * When the ring has no buffers the pair's tap fd is no longer watched, so a
 * guest that stops reading costs nothing; its next RX kick resumes it. Before
 * VQ_PAIRS_SET only pair 0 is used (5.1.6.5.5); frames a tap queue of an
 * unused pair receives go to the used pairs' rings.
 *
 * Offloads: offered only if the tap accepts them. What the tap may hand us is
 * set from the guest's features once they are known, and is off after a
 * reset; frames are still checked against the features on the way in.
 *
 * usernet: one queue pair and no offloads. TX frames go to usernet_input;
 * usernet's frames for the guest wait in its queue, whose eventfd stands in
 * for the tap fd (readable while frames wait), so the RX path is the tap's.
 * Its host sockets and timers are one more fd of the device thread. */
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "usernet/usernet.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_pci.h"
#include "vm.h"
#include "vmm/config.h"

#define PCI_CLASS_ETHERNET 0x020000
#define ETH_HLEN 14
#define RX_BUF (VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1) /* a read that fills it was truncated */
#define RX_BUDGET 256  /* frames per wakeup and pair, so the other queues get their turn */
#define TX_BUDGET 256
#define IOV_LIMIT 1024 /* what writev takes */
/* Newer than some hosts' headers (the unit tests build against those). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_F_HOST_USO 56
#endif

/* Complaints logged once per device. */
enum { LOG_TX_ERR = 1u << 0, LOG_RX_ERR = 1u << 1, LOG_OFFLOAD = 1u << 2, LOG_RX_DROP = 1u << 3 };

struct net_pair {
	int fd;           /* this pair's tap queue */
	bool watching;    /* the device thread waits for the fd to be readable */
	size_t len;       /* bytes of the frame in buf not yet delivered, header included */
	uint8_t *buf;     /* RX_BUF */
};

struct virtio_net {
	struct virtio_pci vp;
	char name[24];
	uint8_t mac[6];
	unsigned pairs;      /* queue pairs offered */
	unsigned curr_pairs; /* in use: 1 until the driver sets more */
	struct tap tap;
	struct usernet *user; /* instead of the tap when set (tap.fds[0] is its RX eventfd) */
	unsigned offloads;   /* TUN_F_* now set on the tap */
	unsigned logged;
	struct virtio_net_stats stats;
	struct net_pair pair[VIRTIO_NET_MAX_PAIRS];
	/* Scratch of the device thread, not on its stack. */
	struct virtq_chain chain;
	struct iovec tx_iov[VIRTQ_MAX_CHAIN + 1];
	uint16_t rx_heads[VIRTIO_NET_QUEUE_SIZE];
	uint32_t rx_lens[VIRTIO_NET_QUEUE_SIZE];
	uint8_t ctrl[VIRTIO_NET_CTRL_MAX];
	uint8_t user_frame[USERNET_FRAME_MAX];
};

static bool once(struct virtio_net *n, unsigned bit)
{
	if (n->logged & bit)
		return false;
	n->logged |= bit;
	return true;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* --- pure parts: header check, control commands, MAC --- */

int virtio_net_hdr_check(const struct virtio_net_hdr_v1 *h, size_t frame_len, uint64_t features, char *why,
			 size_t whylen)
{
	uint8_t flags = h->flags, gso = h->gso_type;
	uint16_t start = le16toh(h->csum_start), offset = le16toh(h->csum_offset), gso_size = le16toh(h->gso_size);
	if (frame_len > VIRTIO_NET_MAX_FRAME) {
		snprintf(why, whylen, "frame of %zu bytes, above %d", frame_len, VIRTIO_NET_MAX_FRAME);
		return -EINVAL;
	}
	if (frame_len < ETH_HLEN) {
		snprintf(why, whylen, "frame of %zu bytes, shorter than an Ethernet header", frame_len);
		return -EINVAL;
	}
	if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		snprintf(why, whylen, "header flags 0x%x: only NEEDS_CSUM is for the device", flags);
		return -EINVAL;
	}
	if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(features & VIRTIO_NET_BIT(VIRTIO_NET_F_CSUM))) {
			snprintf(why, whylen, "NEEDS_CSUM without the CSUM feature");
			return -EINVAL;
		}
		if ((size_t)start + offset + 2 > frame_len) {
			snprintf(why, whylen, "checksum at %u + %u outside the %zu-byte frame", start, offset, frame_len);
			return -EINVAL;
		}
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	unsigned feature;
	switch (gso & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4: feature = VIRTIO_NET_F_HOST_TSO4; break;
	case VIRTIO_NET_HDR_GSO_TCPV6: feature = VIRTIO_NET_F_HOST_TSO6; break;
	case VIRTIO_NET_HDR_GSO_UDP: feature = VIRTIO_NET_F_HOST_UFO; break;
	case VIRTIO_NET_HDR_GSO_UDP_L4: feature = VIRTIO_NET_F_HOST_USO; break;
	default:
		snprintf(why, whylen, "unknown gso_type 0x%x", gso);
		return -EINVAL;
	}
	if (!(features & VIRTIO_NET_BIT(feature))) {
		snprintf(why, whylen, "gso_type 0x%x, which was not negotiated", gso);
		return -EINVAL;
	}
	if ((gso & VIRTIO_NET_HDR_GSO_ECN) && !(features & VIRTIO_NET_BIT(VIRTIO_NET_F_HOST_ECN))) {
		snprintf(why, whylen, "GSO with ECN, which was not negotiated");
		return -EINVAL;
	}
	if (!(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || !gso_size) {
		snprintf(why, whylen, "GSO without NEEDS_CSUM or gso_size");
		return -EINVAL;
	}
	return 0;
}

/* The MAC table (5.1.6.5.2): two lists, each a le32 count and 6-byte entries,
 * filling the data exactly. */
static bool mac_table_ok(const uint8_t *d, size_t len)
{
	for (int list = 0; list < 2; list++) {
		if (len < 4)
			return false;
		uint32_t count = (uint32_t)d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
		d += 4;
		len -= 4;
		if (count > len / 6)
			return false;
		d += 6ull * count;
		len -= 6ull * count;
	}
	return len == 0;
}

uint8_t virtio_net_ctrl_parse(const uint8_t *req, size_t len, unsigned max_pairs, unsigned *pairs)
{
	if (len < 2)
		return VIRTIO_NET_ERR;
	const uint8_t *d = req + 2;
	size_t dlen = len - 2;
	switch (req[0]) {
	case VIRTIO_NET_CTRL_RX:
		if (req[1] > VIRTIO_NET_CTRL_RX_NOBCAST || dlen != 1)
			return VIRTIO_NET_ERR;
		/* The tap gets what the bridge sends it and all of it reaches the
		 * guest: promiscuous and all-multicast hold whether asked or not,
		 * but dropping classes of frames is not something we do. */
		if (req[1] >= VIRTIO_NET_CTRL_RX_NOMULTI && d[0])
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC:
		if (req[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET)
			return mac_table_ok(d, dlen) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
		/* Nothing filters on the MAC, so the guest may take another. */
		if (req[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET)
			return dlen == 6 && !(d[0] & 1) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
		return VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		return req[1] == VIRTIO_NET_CTRL_ANNOUNCE_ACK && !dlen ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MQ:
		if (req[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || dlen != 2)
			return VIRTIO_NET_ERR;
		unsigned n = le16(d);
		if (n < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || n > max_pairs)
			return VIRTIO_NET_ERR;
		*pairs = n;
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR; /* VLAN, guest offloads, coalescing...: not offered */
	}
}

void virtio_net_default_mac(const char *vm_name, unsigned index, uint8_t mac[6])
{
	uint32_t h = 2166136261u;
	for (const char *p = vm_name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	/* A separator, so "vm1" NIC 0 and "vm" NIC 10... never collide by text. */
	h = (h ^ 0) * 16777619u;
	for (int i = 0; i < 4; i++)
		h = (h ^ (uint8_t)(index >> (8 * i))) * 16777619u;
	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = 0x6b;
	mac[2] = 0x62;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* --- helpers over iovecs --- */

static size_t iov_read(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t l = iov[i].iov_len - off;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)dst + done, (const uint8_t *)iov[i].iov_base + off, l);
		done += l;
		off = 0;
	}
	return done;
}

static size_t iov_write(const struct iovec *iov, unsigned n, const void *src, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		memcpy(iov[i].iov_base, (const uint8_t *)src + done, l);
		done += l;
	}
	return done;
}

/* Where byte off of the buffers is (the caller knows it exists). */
static uint8_t *iov_at(const struct iovec *iov, unsigned n, size_t off)
{
	for (unsigned i = 0; i < n; i++) {
		if (off < iov[i].iov_len)
			return (uint8_t *)iov[i].iov_base + off;
		off -= iov[i].iov_len;
	}
	return NULL;
}

/* --- transmit --- */

static void tx_one(struct virtio_net *n, struct virtqueue *vq, unsigned pair)
{
	struct virtq_chain *c = &n->chain;
	struct virtio_net_hdr_v1 hdr;
	char why[160];
	if (c->in_num) {
		virtq_mark_broken(vq, "transmit chain with a device-writable buffer");
		return;
	}
	if (c->out_len < VIRTIO_NET_HDR_LEN) {
		virtq_mark_broken(vq, "transmit chain of %u bytes, shorter than the %d-byte header", c->out_len,
				  VIRTIO_NET_HDR_LEN);
		return;
	}
	iov_read(c->out_iov, c->out_num, 0, &hdr, sizeof(hdr));
	if (virtio_net_hdr_check(&hdr, c->out_len - VIRTIO_NET_HDR_LEN, n->vp.guest_features, why, sizeof(why)) < 0) {
		virtq_mark_broken(vq, "transmit: %s", why);
		return;
	}
	if (n->user) {
		/* No offloads are offered, so the frame is complete as it is. */
		size_t len = c->out_len - VIRTIO_NET_HDR_LEN;
		if (len > sizeof(n->user_frame)) {
			n->stats.tx_dropped++;
			return;
		}
		iov_read(c->out_iov, c->out_num, VIRTIO_NET_HDR_LEN, n->user_frame, len);
		usernet_input(n->user, n->user_frame, len);
		n->stats.tx_frames++;
		return;
	}
	/* Our copy of the header, then the frame, skipping the guest's header. */
	unsigned k = 0;
	n->tx_iov[k++] = (struct iovec){ .iov_base = &hdr, .iov_len = sizeof(hdr) };
	size_t skip = VIRTIO_NET_HDR_LEN;
	for (unsigned i = 0; i < c->out_num; i++) {
		size_t l = c->out_iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		n->tx_iov[k++] = (struct iovec){ .iov_base = (uint8_t *)c->out_iov[i].iov_base + skip, .iov_len = l - skip };
		skip = 0;
	}
	if (k > IOV_LIMIT) {
		virtq_mark_broken(vq, "transmit chain of %u buffers, more than %d", c->out_num, IOV_LIMIT);
		return;
	}
	ssize_t w;
	do
		w = writev(n->pair[pair].fd, n->tx_iov, (int)k);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		/* A full tap queue or a frame the kernel refuses: the frame is lost, as
		 * on a wire; the queue goes on. */
		n->stats.tx_dropped++;
		if (errno != EAGAIN && once(n, LOG_TX_ERR))
			log_warn("%s: writing to tap %s: %s; frame dropped", n->name, n->tap.ifname, strerror(errno));
	} else {
		n->stats.tx_frames++;
	}
}

static void tx_notify(struct virtio_net *n, unsigned q)
{
	struct virtio_pci *vp = &n->vp;
	struct virtqueue *vq = &vp->q[q].vq;
	unsigned frames = 0;
	int rc = 0;
	for (;;) {
		virtq_disable_notify(vq, vp->gm);
		while (frames < TX_BUDGET && (rc = virtq_pop(vq, vp->gm, &n->chain)) > 0) {
			frames++;
			tx_one(n, vq, q / 2);
			if (vq->broken || virtq_push(vq, vp->gm, n->chain.head, 0) < 0) {
				rc = -EIO;
				break;
			}
		}
		if (virtq_should_notify(vq, vp->gm))
			virtio_pci_notify_queue(vp, q);
		if (rc < 0)
			break;
		if (frames >= TX_BUDGET && vp->q[q].kick_efd >= 0) {
			/* A guest that keeps the ring full must not starve the
			 * other queues: come back after them, through our own kick. */
			uint64_t one = 1;
			if (write(vp->q[q].kick_efd, &one, sizeof(one)) == sizeof(one))
				break;
		}
		frames = 0;
		if (virtq_enable_notify(vq, vp->gm) <= 0)
			break;
	}
}

/* --- receive --- */

static void rx_watch(struct virtio_net *n, unsigned p, bool on)
{
	if (n->pair[p].watching == on)
		return;
	n->pair[p].watching = on;
	/* Off is edge-triggered with nothing asked: epoll reports errors and
	 * hang-ups whatever we ask, and a tap deleted under us would otherwise
	 * report them for ever. */
	virtio_pci_source_events(&n->vp, n->pair[p].fd, on ? EPOLLIN : EPOLLET);
}

/* What the tap may hand us, from what the guest takes. */
static unsigned wanted_offloads(uint64_t f)
{
	if (!(f & VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	return TUN_F_CSUM | (f & VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_TSO4) ? TUN_F_TSO4 : 0) |
	       (f & VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_TSO6) ? TUN_F_TSO6 : 0);
}

static void offloads_sync(struct virtio_net *n)
{
	if (!(n->vp.status & VIRTIO_STATUS_FEATURES_OK))
		return;
	unsigned want = wanted_offloads(n->vp.guest_features) & n->tap.offloads;
	if (want == n->offloads)
		return;
	int r = tap_set_offloads(&n->tap, want);
	if (r < 0 && once(n, LOG_OFFLOAD))
		log_warn("%s: tap %s: TUNSETOFFLOAD 0x%x: %s", n->name, n->tap.ifname, want, strerror(-r));
	n->offloads = want; /* tried once per change either way; frames are checked below */
}

/* Make the tap's header one the guest may receive; false: drop the frame. */
static bool rx_header_fix(uint8_t *h, uint64_t f)
{
	bool csum = f & VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_CSUM);
	uint8_t gso = h[1];
	if (!csum) {
		if (h[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h[0] = 0; /* flags must be 0 without GUEST_CSUM */
	}
	h[0] &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE: break;
	case VIRTIO_NET_HDR_GSO_TCPV4: if (!(f & VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_TSO4))) return false; break;
	case VIRTIO_NET_HDR_GSO_TCPV6: if (!(f & VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_TSO6))) return false; break;
	default: return false;
	}
	h[10] = 1; /* num_buffers, le16: set for real when the frame is placed */
	h[11] = 0;
	return true;
}

static int rx_publish(struct virtio_net *n, struct virtqueue *vq, unsigned k)
{
	return virtq_push_n(vq, n->vp.gm, n->rx_heads, n->rx_lens, k);
}

/* Place the frame of pair p into vq. 1: placed or dropped; 0: not enough
 * buffers yet (nothing taken); -EIO: the queue broke. */
static int rx_place(struct virtio_net *n, struct virtqueue *vq, struct net_pair *pp)
{
	struct virtq_chain *c = &n->chain;
	bool mrg = n->vp.guest_features & VIRTIO_NET_BIT(VIRTIO_NET_F_MRG_RXBUF);
	unsigned max = vq->size < VIRTIO_NET_QUEUE_SIZE ? vq->size : VIRTIO_NET_QUEUE_SIZE;
	uint8_t *nb[2] = { NULL, NULL };
	size_t off = 0;
	unsigned k = 0, tries = 0;
	while (off < pp->len) {
		if (k == max) {
			/* The whole ring is too small for it: it never will fit. */
			virtq_unpop(vq, k);
			return -ENOSPC;
		}
		int rc = virtq_pop(vq, n->vp.gm, c);
		if (rc < 0)
			return -EIO;
		if (rc == 0) {
			/* Ask for a kick while the chains are still taken, so the
			 * kick comes for a buffer after them; then look once more
			 * (a few times at most: the guest may play with avail->idx). */
			int more = tries++ < 4 ? virtq_enable_notify(vq, n->vp.gm) : 0;
			if (more < 0)
				return -EIO;
			if (more) {
				virtq_disable_notify(vq, n->vp.gm);
				continue;
			}
			virtq_unpop(vq, k);
			return 0;
		}
		k++;
		if (c->out_num) {
			virtq_mark_broken(vq, "receive chain with a device-readable buffer");
			return -EIO;
		}
		if (k == 1) {
			if (c->in_len < VIRTIO_NET_HDR_LEN) {
				virtq_mark_broken(vq, "receive buffer of %u bytes, shorter than the %d-byte header",
						  c->in_len, VIRTIO_NET_HDR_LEN);
				return -EIO;
			}
			if (!mrg && c->in_len < pp->len) {
				virtq_unpop(vq, 1);
				return -ENOSPC;
			}
			nb[0] = iov_at(c->in_iov, c->in_num, 10);
			nb[1] = iov_at(c->in_iov, c->in_num, 11);
		}
		size_t l = iov_write(c->in_iov, c->in_num, pp->buf + off, pp->len - off);
		n->rx_heads[k - 1] = c->head;
		n->rx_lens[k - 1] = (uint32_t)l;
		off += l;
	}
	*nb[0] = (uint8_t)k;
	*nb[1] = (uint8_t)(k >> 8);
	return rx_publish(n, vq, k) < 0 ? -EIO : 1;
}

/* Which pair's ring a frame from tap queue p goes to. */
static unsigned rx_target(const struct virtio_net *n, unsigned p)
{
	return p < n->curr_pairs ? p : p % n->curr_pairs;
}

/* The next frame for the guest, header included, into pp->buf: what
 * read(2) on the tap returns. */
static ssize_t rx_fetch(struct virtio_net *n, struct net_pair *pp)
{
	if (!n->user)
		return read(pp->fd, pp->buf, RX_BUF);
	size_t len = usernet_rx_pop(n->user, pp->buf + VIRTIO_NET_HDR_LEN, RX_BUF - VIRTIO_NET_HDR_LEN);
	if (!len) {
		errno = EAGAIN;
		return -1;
	}
	memset(pp->buf, 0, VIRTIO_NET_HDR_LEN); /* complete frames: no flags, no GSO */
	return (ssize_t)(VIRTIO_NET_HDR_LEN + len);
}

void virtio_net_tap_readable(struct virtio_net *n, unsigned p)
{
	struct virtio_pci *vp = &n->vp;
	struct net_pair *pp = &n->pair[p];
	unsigned qi = 2 * rx_target(n, p);
	struct virtqueue *vq = &vp->q[qi].vq;
	if (!vp->q[qi].enabled || !vq->ready || vq->broken) {
		/* Not yet (or no longer) receiving: its RX kick resumes us. */
		rx_watch(n, p, false);
		return;
	}
	offloads_sync(n);
	virtq_disable_notify(vq, vp->gm);
	for (unsigned frames = 0; frames < RX_BUDGET; frames++) {
		if (!pp->len) {
			ssize_t got = rx_fetch(n, pp);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				if (errno == EAGAIN)
					break;
				/* The tap is gone or broken: wait for the guest's next kick. */
				if (once(n, LOG_RX_ERR))
					log_warn("%s: reading tap %s: %s", n->name, n->tap.ifname, strerror(errno));
				rx_watch(n, p, false);
				break;
			}
			if (got < VIRTIO_NET_HDR_LEN + ETH_HLEN || got == RX_BUF ||
			    !rx_header_fix(pp->buf, vp->guest_features)) {
				n->stats.rx_dropped++;
				continue;
			}
			pp->len = (size_t)got;
		}
		int rc = rx_place(n, vq, pp);
		if (rc == -EIO) {
			rx_watch(n, p, false);
			virtio_pci_queue_broken(vp, qi);
			return;
		}
		if (rc == 0) {
			/* Out of buffers, and a kick asked for: until then the tap
			 * is not watched, so a guest that stops reading costs
			 * nothing (the tap drops what overflows its queue). */
			rx_watch(n, p, false);
			break;
		}
		if (rc == -ENOSPC) {
			n->stats.rx_dropped++;
			if (once(n, LOG_RX_DROP))
				log_warn("%s: a %zu-byte frame does not fit the receive buffers; dropped", n->name,
					 pp->len - VIRTIO_NET_HDR_LEN);
		} else {
			n->stats.rx_frames++;
		}
		pp->len = 0;
	}
	if (virtq_should_notify(vq, vp->gm))
		virtio_pci_notify_queue(vp, qi);
}

/* The guest added receive buffers: feed every pair that waits for some. */
static void rx_kick(struct virtio_net *n)
{
	for (unsigned p = 0; p < n->pairs; p++) {
		if (n->pair[p].watching)
			continue;
		rx_watch(n, p, true);
		virtio_net_tap_readable(n, p);
	}
}

static void source_readable(struct virtio_pci *vp, void *arg, uint32_t events)
{
	(void)events;
	struct virtio_net *n = vp->opaque;
	virtio_net_tap_readable(n, (unsigned)(uintptr_t)arg);
}

/* usernet's sockets or timers: its frames for the guest then come through
 * its RX eventfd, the pair's source. */
static void source_usernet(struct virtio_pci *vp, void *arg, uint32_t events)
{
	(void)arg, (void)events;
	struct virtio_net *n = vp->opaque;
	usernet_poll(n->user);
}

/* --- control queue --- */

static int64_t ctrl_request(struct virtio_pci *vp, struct virtqueue *vq, struct virtq_chain *c)
{
	struct virtio_net *n = vp->opaque;
	bool mq = vp->guest_features & VIRTIO_NET_BIT(VIRTIO_NET_F_MQ);
	if (!c->in_len) {
		virtq_mark_broken(vq, "control command without a writable ack byte");
		return -1;
	}
	uint8_t ack = VIRTIO_NET_ERR;
	if (c->out_len <= sizeof(n->ctrl)) {
		size_t len = iov_read(c->out_iov, c->out_num, 0, n->ctrl, c->out_len);
		ack = virtio_net_ctrl_parse(n->ctrl, len, mq ? n->pairs : 0, &n->curr_pairs);
	}
	iov_write(c->in_iov, c->in_num, &ack, 1);
	return 1;
}

static void ctrl_notify(struct virtio_net *n, unsigned q)
{
	unsigned before = n->curr_pairs;
	virtio_pci_drain(&n->vp, q, &n->chain, ctrl_request);
	if (n->curr_pairs != before)
		rx_kick(n); /* the tap queues now feed other rings */
}

/* --- virtio-pci glue --- */

static void net_queue_notify(struct virtio_pci *vp, unsigned q)
{
	struct virtio_net *n = vp->opaque;
	if (n->pairs > 1 && q == 2 * n->pairs)
		ctrl_notify(n, q);
	else if (q & 1)
		tx_notify(n, q);
	else
		rx_kick(n);
}

static void net_config_read(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned size)
{
	struct virtio_net *n = vp->opaque;
	uint8_t cfg[VIRTIO_NET_CFG_SIZE + 8] = { 0 };
	memcpy(cfg, n->mac, 6);
	cfg[6] = VIRTIO_NET_S_LINK_UP;
	cfg[8] = (uint8_t)n->pairs;
	memset(data, 0, size);
	if (off < VIRTIO_NET_CFG_SIZE && size <= 8)
		memcpy(data, cfg + off, size);
}

/* The MAC is read-only with VERSION_1 (5.1.4.2); writes are ignored. */
static void net_config_write(struct virtio_pci *vp, unsigned off, const uint8_t *data, unsigned size)
{
	(void)vp, (void)off, (void)data, (void)size;
}

/* vp->lock held: back to the state before the driver came, for a reboot. */
static void net_reset(struct virtio_pci *vp)
{
	struct virtio_net *n = vp->opaque;
	if (!n)
		return;
	n->curr_pairs = 1;
	for (unsigned p = 0; p < n->pairs; p++) {
		n->pair[p].len = 0; /* a frame for the old driver */
		rx_watch(n, p, false);
	}
	if (n->offloads) {
		tap_set_offloads(&n->tap, 0);
		n->offloads = 0;
	}
}

static const struct virtio_pci_ops net_ops = {
	.queue_notify = net_queue_notify,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.reset = net_reset,
};

struct virtio_pci *virtio_net_pci(struct virtio_net *n)
{
	return &n->vp;
}

void virtio_net_get_stats(const struct virtio_net *n, struct virtio_net_stats *s)
{
	*s = n->stats;
}

void virtio_net_free(struct virtio_net *n)
{
	if (!n)
		return;
	for (unsigned p = 0; p < n->pairs; p++)
		free(n->pair[p].buf);
	pthread_mutex_destroy(&n->vp.lock);
	free(n);
}

struct virtio_net *virtio_net_new(struct vm *vm, const struct guest_mem *gm, const char *name, const uint8_t mac[6],
				  const struct tap *t, char *err, size_t errlen)
{
	if (!t->nfds || t->nfds > VIRTIO_NET_MAX_PAIRS) {
		snprintf(err, errlen, "%u queue pairs (1 to %d)", t->nfds, VIRTIO_NET_MAX_PAIRS);
		return NULL;
	}
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	snprintf(n->name, sizeof(n->name), "%s", name);
	memcpy(n->mac, mac, 6);
	n->tap = *t;
	n->pairs = t->nfds;
	n->curr_pairs = 1;
	for (unsigned p = 0; p < n->pairs; p++) {
		n->pair[p].fd = t->fds[p];
		if (!(n->pair[p].buf = malloc(RX_BUF))) {
			snprintf(err, errlen, "%s", strerror(ENOMEM));
			virtio_net_free(n);
			return NULL;
		}
	}
	uint64_t f = VIRTIO_NET_BIT(VIRTIO_NET_F_MAC) | VIRTIO_NET_BIT(VIRTIO_NET_F_STATUS) |
		     VIRTIO_NET_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (t->offloads & TUN_F_CSUM)
		f |= VIRTIO_NET_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_CSUM);
	if (t->offloads & TUN_F_TSO4)
		f |= VIRTIO_NET_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_TSO4);
	if (t->offloads & TUN_F_TSO6)
		f |= VIRTIO_NET_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_NET_BIT(VIRTIO_NET_F_GUEST_TSO6);
	unsigned nq = 2 * n->pairs;
	if (n->pairs > 1) {
		f |= VIRTIO_NET_BIT(VIRTIO_NET_F_MQ) | VIRTIO_NET_BIT(VIRTIO_NET_F_CTRL_VQ);
		nq++;
	}
	int r = virtio_pci_init(&n->vp, vm, gm, n->name, VIRTIO_ID_NET, PCI_CLASS_ETHERNET, nq, VIRTIO_NET_QUEUE_SIZE, f,
				VIRTIO_NET_CFG_SIZE, &net_ops, n);
	for (unsigned p = 0; p < n->pairs && r >= 0 && vm; p++) {
		/* Watched from the first RX kick on, when the driver has buffers
		 * (until then as rx_watch leaves an unwatched fd). */
		r = virtio_pci_add_source(&n->vp, n->pair[p].fd, EPOLLET, source_readable, (void *)(uintptr_t)p);
	}
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		virtio_net_free(n);
		return NULL;
	}
	return n;
}

struct virtio_net *virtio_net_new_user(struct vm *vm, const struct guest_mem *gm, const char *name,
				       const uint8_t mac[6], struct usernet *u, char *err, size_t errlen)
{
	struct tap t = { .nfds = 1, .fds = { usernet_rx_fd(u) }, .offloads = 0 };
	snprintf(t.ifname, sizeof(t.ifname), "usernet");
	struct virtio_net *n = virtio_net_new(vm, gm, name, mac, &t, err, errlen);
	if (!n)
		return NULL;
	n->user = u;
	int r = vm ? virtio_pci_add_source(&n->vp, usernet_poll_fd(u), EPOLLIN, source_usernet, NULL) : 0;
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		virtio_net_free(n);
		return NULL;
	}
	return n;
}

static int virtio_net_create_user(struct vm *vm, struct pci_bus *bus, const struct vmm_config *cfg, unsigned i)
{
	const struct vmm_nic *nic = &cfg->nics[i];
	char err[256], name[24];
	uint8_t mac[6];
	snprintf(name, sizeof(name), "virtio-net%u", i);
	if (nic->mac_set)
		memcpy(mac, nic->mac, 6);
	else
		virtio_net_default_mac(cfg->name, i, mac);
	struct usernet *u = usernet_new(&nic->unet, err, sizeof(err));
	if (!u) {
		log_error("nic %u: user network: %s", i, err);
		return -EINVAL;
	}
	struct virtio_net *n = virtio_net_new_user(vm, vm_mem(vm), name, mac, u, err, sizeof(err));
	if (!n) {
		log_error("%s: %s", name, err);
		usernet_free(u);
		return -ENOMEM;
	}
	int r = virtio_pci_register(&n->vp, bus);
	if (r < 0) {
		log_error("%s: %s", name, strerror(-r));
		return r;
	}
	const struct usernet_config *c = &nic->unet;
	log_info("%s: user network %u.%u.%u.%u/%d, guest %u.%u.%u.%u, %u forward%s%s, mac %02x:%02x:%02x:%02x:%02x:%02x",
		 name, c->net >> 24, c->net >> 16 & 255, c->net >> 8 & 255, c->net & 255, __builtin_popcount(c->mask),
		 c->guest >> 24, c->guest >> 16 & 255, c->guest >> 8 & 255, c->guest & 255, c->nfwd,
		 c->nfwd == 1 ? "" : "s", c->restricted ? ", restricted" : "", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return 0;
}

static int virtio_net_create(struct vm *vm)
{
	struct pci_bus *bus = vm_pci(vm);
	const struct vmm_config *cfg = vm_config(vm);
	if (!bus || !cfg)
		return 0;
	for (unsigned i = 0; i < cfg->nnics; i++) {
		const struct vmm_nic *nic = &cfg->nics[i];
		char err[256], name[24];
		uint8_t mac[6];
		struct tap t;
		if (nic->user) {
			int r = virtio_net_create_user(vm, bus, cfg, i);
			if (r < 0)
				return r;
			continue;
		}
		unsigned queues = nic->queues;
		if (queues > VIRTIO_NET_MAX_PAIRS) {
			log_warn("nic %u: %u queue pairs asked, %d is the most (the PCI transport's 16 queues)", i, queues,
				 VIRTIO_NET_MAX_PAIRS);
			queues = VIRTIO_NET_MAX_PAIRS;
		}
		int r = tap_open(&t, nic->tap, nic->bridge, queues ? queues : 1, err, sizeof(err));
		if (r < 0) {
			log_error("nic %u: %s", i, err);
			return r;
		}
		if (nic->mac_set)
			memcpy(mac, nic->mac, 6);
		else
			virtio_net_default_mac(cfg->name, i, mac);
		snprintf(name, sizeof(name), "virtio-net%u", i);
		struct virtio_net *n = virtio_net_new(vm, vm_mem(vm), name, mac, &t, err, sizeof(err));
		if (!n) {
			log_error("%s: %s", name, err);
			tap_close(&t);
			return -ENOMEM;
		}
		if ((r = virtio_pci_register(&n->vp, bus)) < 0) {
			/* Left allocated: the bus may point at it. The VM is not started. */
			log_error("%s: %s", name, strerror(-r));
			return r;
		}
		log_info("%s: tap %s%s%s, mac %02x:%02x:%02x:%02x:%02x:%02x, %u queue pair%s", name, t.ifname,
			 nic->bridge[0] ? " on bridge " : "", nic->bridge, mac[0], mac[1], mac[2], mac[3], mac[4],
			 mac[5], queues, queues > 1 ? "s" : "");
	}
	return 0;
}

DEVICE_REGISTER("virtio-net", virtio_net_create, 50);
