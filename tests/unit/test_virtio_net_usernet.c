/* virtio-net on usernet (virtio_net_new_user) without KVM: the device driven
 * through the PCI bus as Linux drives it, its frames going to and coming
 * from a real usernet backend. Checks the features (one pair, no offloads),
 * that a transmitted ARP request and DHCP DISCOVER reach usernet and that
 * its answers land in the receive ring behind a header the guest takes,
 * and that a ring without buffers holds usernet's frames until the guest
 * posts some. */
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pci/pci.h"
#include "usernet/usernet.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_pci.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"
#include "bus_io.h"
#include "usernet_frames.h"

#define RAM_SIZE (4u << 20)
#define QSIZE 8
#define RING_GPA(q) (0x10000ULL + 0x4000ULL * (q))
#define BUF_GPA 0x100000ULL
#define RX_GPA 0x200000ULL
#define F(b) VIRTIO_NET_BIT(b)

static struct bus pio = { .name = "pio" }, mmio = { .name = "mmio" };
static struct pci_bus pbus;
static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_net *net;
static struct virtio_pci *vp;
static struct usernet *un;
static uint64_t bar;
static uint16_t avail_idx[2], next_desc[2], rx_seen;

static int set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque, (void)gsi, (void)level;
	return 0;
}
static uint64_t mrd(uint64_t addr, unsigned size) { return bus_rd(&mmio, addr, size); }
static void mwr(uint64_t addr, unsigned size, uint64_t v) { bus_wr(&mmio, addr, size, v); }

static void queue_setup(unsigned q)
{
	mwr(bar + 0x16, 2, q);
	mwr(bar + 0x18, 2, QSIZE);
	mwr(bar + 0x20, 8, RING_GPA(q));
	mwr(bar + 0x28, 8, RING_GPA(q) + 0x1000);
	mwr(bar + 0x30, 8, RING_GPA(q) + 0x2000);
	mwr(bar + 0x1c, 2, 1);
}

static void post(unsigned q, uint64_t gpa, uint32_t len, int writable)
{
	struct vring_desc *d = (struct vring_desc *)(ram + RING_GPA(q));
	uint16_t id = next_desc[q];
	d[id] = (struct vring_desc){ .addr = gpa, .len = len, .flags = writable ? VRING_DESC_F_WRITE : 0 };
	next_desc[q] = (uint16_t)((id + 1) % QSIZE);
	struct vring_avail *a = (struct vring_avail *)(ram + RING_GPA(q) + 0x1000);
	a->ring[avail_idx[q] % QSIZE] = id;
	avail_idx[q]++;
	__atomic_store_n(&a->idx, avail_idx[q], __ATOMIC_RELEASE);
}

static struct vring_used *used(unsigned q)
{
	return (struct vring_used *)(ram + RING_GPA(q) + 0x2000);
}

static void kick(unsigned q)
{
	mwr(bar + VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, 2, q);
}

/* Transmit one frame: the 12-byte header and the frame in one buffer. */
static void tx(const uint8_t *frame, size_t len)
{
	static unsigned slot;
	uint8_t *b = ram + BUF_GPA + 0x1000 * (slot % QSIZE);
	memset(b, 0, VIRTIO_NET_HDR_LEN);
	memcpy(b + VIRTIO_NET_HDR_LEN, frame, len);
	post(1, BUF_GPA + 0x1000 * (slot % QSIZE), (uint32_t)(VIRTIO_NET_HDR_LEN + len), 0);
	slot++;
	kick(1);
}

/* The next received frame (header checked), or NULL. */
static const uint8_t *rx_next(uint32_t *len)
{
	struct vring_used *u = used(0);
	if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) == rx_seen)
		return NULL;
	struct vring_used_elem e = u->ring[rx_seen % QSIZE];
	rx_seen++;
	const uint8_t *b = ram + RX_GPA + 0x1000 * e.id;
	static const uint8_t want_hdr[VIRTIO_NET_HDR_LEN] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	if (e.len < VIRTIO_NET_HDR_LEN + 14 || memcmp(b, want_hdr, VIRTIO_NET_HDR_LEN))
		return NULL;
	*len = e.len - VIRTIO_NET_HDR_LEN;
	return b + VIRTIO_NET_HDR_LEN;
}

static void post_rx(unsigned n)
{
	static unsigned next;
	for (unsigned i = 0; i < n; i++, next++)
		post(0, RX_GPA + 0x1000 * (next % QSIZE), 0x1000, 1);
	kick(0);
}

int main(void)
{
	char err[256];
	ram = calloc(1, RAM_SIZE);
	if (!ram || guest_mem_init(&gm, ram, RAM_SIZE, err, sizeof(err))) {
		printf("not ok guest memory\n");
		return 1;
	}
	struct pci_bus_config c = pci_bus_config_x86(set_irq, NULL);
	CHECK("bus init", pci_bus_init(&pbus, &pio, &mmio, &c) == 0);
	struct usernet_config uc;
	usernet_config_defaults(&uc);
	un = usernet_new(&uc, err, sizeof(err));
	CHECK("usernet", un != NULL);
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	net = un ? virtio_net_new_user(NULL, &gm, "virtio-net0", mac, un, err, sizeof(err)) : NULL;
	CHECK("device", net != NULL);
	if (!net)
		return 1;
	vp = virtio_net_pci(net);
	CHECK("register", virtio_pci_register(vp, &pbus) == 0);
	uint64_t ecam = X86_ECAM_BASE + ((uint64_t)vp->pci.slot << 15);
	mwr(ecam + PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	bar = mrd(ecam + PCI_BAR0, 4) & ~0xfull;
	uint64_t offloads = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
			    F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_MQ);
	CHECK("features: no offloads, one pair", !(vp->host_features & offloads) && vp->num_queues == 2 &&
							 (vp->host_features & F(VIRTIO_NET_F_MRG_RXBUF)));
	/* Linux's bring-up, with MRG_RXBUF. */
	mwr(bar + 0x14, 1, 0);
	mwr(bar + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mwr(bar + 0x08, 4, 0);
	mwr(bar + 0x0c, 4, (uint32_t)(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF)));
	mwr(bar + 0x08, 4, 1);
	mwr(bar + 0x0c, 4, (uint32_t)(VIRTIO_FEATURE_VERSION_1 >> 32));
	mwr(bar + 0x14, 1, 0x0b);
	queue_setup(0);
	queue_setup(1);
	mwr(bar + 0x14, 1, 0x0f);
	CHECK("driver ok", mrd(bar + 0x14, 1) == 0x0f);

	/* ARP for the gateway before any receive buffer: the answer waits. */
	uint8_t f[600];
	tx(f, uf_arp_request(f, UF_IP(10, 0, 2, 15), UF_IP(10, 0, 2, 2)));
	CHECK("tx: chain used", used(1)->idx == 1);
	struct virtio_net_stats st;
	virtio_net_get_stats(net, &st);
	CHECK("tx: frame to usernet", st.tx_frames == 1 && st.tx_dropped == 0);
	uint32_t len = 0;
	CHECK("rx: nothing without buffers", rx_next(&len) == NULL);
	post_rx(4);
	const uint8_t *r = rx_next(&len);
	CHECK("rx: arp reply after the buffers came", r && len >= 42 && uf_get16(r + 12) == 0x0806 &&
							      uf_get16(r + 20) == 2 && !memcmp(r, mac, 6) &&
							      !memcmp(r + 6, usernet_gateway_mac, 6));
	/* DHCP: the offer comes back through the ring as the device thread
	 * would deliver it (usernet's RX eventfd readable). */
	tx(f, uf_dhcp(f, 1, 0xabcd, 0));
	virtio_net_tap_readable(net, 0);
	r = rx_next(&len);
	CHECK("rx: dhcp offer", r && len > 42 + 240 && r[23] == 17 && uf_get16(r + 36) == 68 &&
					uf_get32(r + 42 + 4) == 0xabcd && uf_get32(r + 42 + 16) == UF_IP(10, 0, 2, 15));
	/* A frame longer than usernet takes is dropped, not truncated. */
	static uint8_t big[2000];
	memcpy(big, f, 14);
	tx(big, sizeof(big));
	virtio_net_get_stats(net, &st);
	CHECK("tx: oversized frame dropped", st.tx_dropped == 1);
	virtio_net_free(net);
	usernet_free(un);
	free(ram);
	return CHECK_DONE();
}
