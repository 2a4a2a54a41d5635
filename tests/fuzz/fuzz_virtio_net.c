/* libFuzzer target: virtio-net (drivers/virtio/virtio_net.c) against a
 * hostile driver and a hostile network.
 *
 * The input first goes whole through the two request parsers: as a
 * transmit header (bytes 0..11, the frame length from bytes 12..15, the
 * features from 16..23) and as a control queue command. Then, read as a list
 * of operations of 8 bytes (an opcode and a0..a6), it drives a two-pair
 * device over 4 MiB of guest RAM (its own heap block, so ASan sees any access
 * outside it), no KVM, with AF_UNIX datagram sockets standing in for the tap:
 *   op % 8 == 0  common config write: offset a0 % 0x40, size a1, value a2..a5
 *   op % 8 == 1  guest RAM write: 4 bytes a2..a5 at 4 * (a0..a1) % RAM_FUZZ
 *   op % 8 == 2  notify queue a0 % 5
 *   op % 8 == 3  the Linux sequence up to DRIVER_OK: features a0..a3 (low
 *                word, device bits; VERSION_1 always), a4 bit 0 EVENT_IDX,
 *                bit 1 INDIRECT_DESC; every queue of size 1 << (a5 % 4)
 *   op % 8 == 4  a frame from the network on pair a6 % 2: (a0..a1) bytes
 *                after the header, header flags a2, gso_type a3, csum_start
 *                a4, csum_offset a5; then the device reads it
 *   op % 8 == 5  a descriptor and an avail entry: queue a0 % 5, id a1, buffer
 *                at BUF + a2 * 256, length a3..a4, flags a5 % 8, next a6; the
 *                entry is published only if a5 & 8 (so chains can be built)
 *   op % 8 == 6  the tap of pair a0 % 2 is readable; a device config read at
 *                a1 % 12, size a2 (a write too if a3 & 1)
 *   op % 8 == 7  reset (status 0)
 * Beyond "no crash": every frame the device writes to the tap carries a
 * header that virtio_net_hdr_check accepts, and the status never has
 * DRIVER_OK without FEATURES_OK.
 */
#include <linux/if_tun.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pci/pci.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_pci.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"
#include "../unit/bus_io.h"

#define MAX_OPS 2048
#define RAM (4u << 20)
#define RAM_FUZZ 0x40000u /* where op 1 writes: rings and buffers */
#define BUF 0x20000u
#define RING(q) (0x4000ull * (q))
#define NQ 5

static struct bus pio, mmio;
static struct pci_bus pbus;
static struct guest_mem gm;
static uint8_t *ram;
static struct virtio_net *net;
static struct virtio_pci *vp;
static struct tap tap;
static int peer[2];
static uint64_t bar;
static uint8_t frame[VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 64];

static int set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque, (void)level;
	if (gsi < 16 || gsi > 23)
		abort();
	return 0;
}

static unsigned size_of(uint8_t b)
{
	static const unsigned sizes[] = { 1, 2, 4, 8, 3 };
	return sizes[b % 5];
}
static void mwr(uint64_t addr, unsigned size, uint64_t v) { bus_wr(&mmio, addr, size, v); }
static uint64_t mrd(uint64_t addr, unsigned size) { return bus_rd(&mmio, addr, size); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void once_init(void)
{
	if (ram)
		return;
	if (!(ram = malloc(RAM)))
		abort();
	tap = (struct tap){ .ifname = "fuzz0", .nfds = 2, .offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 };
	for (int i = 0; i < 2; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
			abort();
		int big = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		tap.fds[i] = sv[1];
		peer[i] = sv[0];
	}
}

/* Every frame the device sent must have passed the header check, with the
 * features of the moment (only a reset changes them, and it sends nothing). */
static void drain(void)
{
	for (int i = 0; i < 2; i++) {
		ssize_t n;
		while ((n = recv(peer[i], frame, sizeof(frame), MSG_DONTWAIT)) >= 0) {
			struct virtio_net_hdr_v1 h;
			char why[160];
			if (n < VIRTIO_NET_HDR_LEN)
				abort();
			memcpy(&h, frame, sizeof(h));
			if (virtio_net_hdr_check(&h, (size_t)n - VIRTIO_NET_HDR_LEN, vp->guest_features, why, sizeof(why)) < 0)
				abort();
		}
	}
}

/* Frames the last input's device did not read are stale for the next one. */
static void flush(void)
{
	for (int i = 0; i < 2; i++)
		while (recv(tap.fds[i], frame, sizeof(frame), MSG_DONTWAIT) >= 0)
			;
}

static void setup(void)
{
	once_init();
	flush();
	memset(&pio, 0, sizeof(pio));
	memset(&mmio, 0, sizeof(mmio));
	memset(&pbus, 0, sizeof(pbus));
	memset(ram, 0, RAM);
	struct pci_bus_config c = pci_bus_config_x86(set_irq, NULL);
	char err[128];
	static const uint8_t mac[6] = { 0x02, 0x6b, 0x62, 0, 0, 1 };
	if (guest_mem_init(&gm, ram, RAM, err, sizeof(err)) || pci_bus_init(&pbus, &pio, &mmio, &c) < 0 ||
	    !(net = virtio_net_new(NULL, &gm, "virtio-net-fuzz", mac, &tap, err, sizeof(err))))
		abort();
	vp = virtio_net_pci(net);
	if (virtio_pci_register(vp, &pbus) < 0)
		abort();
	uint64_t ecam = X86_ECAM_BASE + ((uint64_t)vp->pci.slot << 15);
	mwr(ecam + PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	bar = mrd(ecam + PCI_BAR0, 4) & ~0xfull;
}

static void linux_sequence(const uint8_t *x)
{
	uint64_t f = le32(x) | VIRTIO_FEATURE_VERSION_1 | (x[4] & 1 ? VIRTIO_FEATURE_RING_EVENT_IDX : 0) |
		     (x[4] & 2 ? VIRTIO_FEATURE_RING_INDIRECT_DESC : 0);
	f &= vp->host_features;
	mwr(bar + 0x14, 1, 0);
	mwr(bar + 0x14, 1, 3);
	mwr(bar + 0x08, 4, 0);
	mwr(bar + 0x0c, 4, (uint32_t)f);
	mwr(bar + 0x08, 4, 1);
	mwr(bar + 0x0c, 4, (uint32_t)(f >> 32));
	mwr(bar + 0x14, 1, 0x0b);
	for (unsigned q = 0; q < NQ; q++) {
		mwr(bar + 0x16, 2, q);
		mwr(bar + 0x18, 2, 1u << (x[5] % 4));
		mwr(bar + 0x20, 8, RING(q));
		mwr(bar + 0x28, 8, RING(q) + 0x1000);
		mwr(bar + 0x30, 8, RING(q) + 0x2000);
		mwr(bar + 0x1c, 2, 1);
	}
	mwr(bar + 0x14, 1, 0x0f);
}

static void network_frame(const uint8_t *x)
{
	size_t len = (size_t)(x[0] | x[1] << 8);
	memset(frame, 0, VIRTIO_NET_HDR_LEN);
	frame[0] = x[2];
	frame[1] = x[3];
	frame[6] = x[4];
	frame[8] = x[5];
	memset(frame + VIRTIO_NET_HDR_LEN, 0xa5, len);
	send(peer[x[6] % 2], frame, VIRTIO_NET_HDR_LEN + len, MSG_DONTWAIT);
	virtio_net_tap_readable(net, x[6] % 2);
}

static void descriptor(const uint8_t *x)
{
	unsigned q = x[0] % NQ;
	unsigned size = vp->q[q].vq.size ? vp->q[q].vq.size : 8;
	struct vring_desc *d = (struct vring_desc *)(ram + RING(q));
	d[x[1] % size] = (struct vring_desc){ .addr = BUF + x[2] * 256u, .len = (uint32_t)(x[3] | x[4] << 8),
					      .flags = x[5] % 8, .next = x[6] };
	if (!(x[5] & 8))
		return;
	struct vring_avail *a = (struct vring_avail *)(ram + RING(q) + 0x1000);
	uint16_t idx = a->idx;
	a->ring[idx % size] = x[1] % size;
	__atomic_store_n(&a->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len >= 24) {
		struct virtio_net_hdr_v1 h;
		char why[160];
		memcpy(&h, data, sizeof(h));
		virtio_net_hdr_check(&h, le32(data + 12), (uint64_t)le32(data + 16) | (uint64_t)le32(data + 20) << 32, why,
				     sizeof(why));
	}
	unsigned pairs = 1;
	if (virtio_net_ctrl_parse(data, len, 7, &pairs) == VIRTIO_NET_OK && (!pairs || pairs > 7))
		abort();

	setup();
	for (size_t n = 0, i = 0; i < len && n < MAX_OPS; i += 8, n++) {
		uint8_t a[8] = { 0 };
		memcpy(a, data + i, len - i < 8 ? len - i : 8);
		const uint8_t *x = a + 1;
		unsigned off16 = (unsigned)(x[0] | x[1] << 8);
		switch (a[0] % 8) {
		case 0: mwr(bar + x[0] % 0x40, size_of(x[1]), le32(x + 2)); break;
		case 1: memcpy(ram + 4 * off16 % RAM_FUZZ, x + 2, 4); break;
		case 2: mwr(bar + VIRTIO_PCI_NOTIFY_OFF + (x[0] % NQ) * VIRTIO_PCI_NOTIFY_MULT, 2, x[0] % NQ); break;
		case 3: linux_sequence(x); break;
		case 4: network_frame(x); break;
		case 5: descriptor(x); break;
		case 6:
			virtio_net_tap_readable(net, x[0] % 2);
			if (x[3] & 1)
				mwr(bar + VIRTIO_PCI_DEVCFG_OFF + x[1] % 12, size_of(x[2]), (uint32_t)(x[4] | x[5] << 8 | x[6] << 16));
			mrd(bar + VIRTIO_PCI_DEVCFG_OFF + x[1] % 12, size_of(x[2]));
			break;
		case 7: mwr(bar + 0x14, 1, 0); break;
		}
		drain();
		uint8_t st = (uint8_t)mrd(bar + 0x14, 1);
		if ((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_FEATURES_OK))
			abort();
	}
	virtio_net_free(net);
	return 0;
}
