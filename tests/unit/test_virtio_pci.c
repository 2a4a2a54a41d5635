/* The modern virtio-pci transport, driven the way Linux's virtio_pci_modern
 * driver drives it, through the PCI bus: identity and capabilities, feature
 * negotiation (VERSION_1 required), queue setup, a request end to end with
 * INTx and with MSI-X (masking, pending bit), and the garbage a hostile
 * driver may write. No KVM: the transport runs with vm == NULL, kicks are
 * handled synchronously and interrupts are counted. */
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pci/pci.h"
#include "virtio/virtio_pci.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"
#include "bus_io.h"

#define RAM_SIZE (4u << 20)
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA 0x12000ULL
#define BUF_GPA 0x20000ULL

static struct bus pio = { .name = "pio" }, mmio = { .name = "mmio" };
static struct pci_bus pbus;
static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_pci vp;
static struct virtq_chain chain;
static int irq_level = -1, requests;
static uint64_t bar;
static int slot;

static int set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	irq_level = level;
	return 0;
}

/* A device that fills every writable buffer with 0xab. */
static void fill_notify(struct virtio_pci *p, unsigned q)
{
	struct virtqueue *vq = &p->q[q].vq;
	int rc;
	for (;;) {
		virtq_disable_notify(vq, p->gm);
		while ((rc = virtq_pop(vq, p->gm, &chain)) > 0) {
			uint32_t n = 0;
			for (unsigned i = 0; i < chain.in_num; i++) {
				memset(chain.in_iov[i].iov_base, 0xab, chain.in_iov[i].iov_len);
				n += (uint32_t)chain.in_iov[i].iov_len;
			}
			virtq_push(vq, p->gm, chain.head, n);
			requests++;
		}
		if (virtq_should_notify(vq, p->gm))
			virtio_pci_notify_queue(p, q);
		if (rc < 0 || virtq_enable_notify(vq, p->gm) <= 0)
			break;
	}
}
static const struct virtio_pci_ops ops = { .queue_notify = fill_notify };

static uint64_t mrd(uint64_t addr, unsigned size) { return bus_rd(&mmio, addr, size); }
static void mwr(uint64_t addr, unsigned size, uint64_t v) { bus_wr(&mmio, addr, size, v); }
static uint64_t ecam(unsigned off)
{
	return X86_ECAM_BASE + ((uint64_t)slot << 15 | off);
}
static uint64_t common(unsigned off)
{
	return bar + VIRTIO_PCI_COMMON_OFF + off;
}
static uint8_t status(void)
{
	return (uint8_t)mrd(common(0x14), 1);
}
static void set_features(uint64_t f)
{
	mwr(common(0x08), 4, 0);
	mwr(common(0x0c), 4, (uint32_t)f);
	mwr(common(0x08), 4, 1);
	mwr(common(0x0c), 4, (uint32_t)(f >> 32));
}
static void negotiate(void)
{
	mwr(common(0x14), 1, 0);
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE);
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_features(VIRTIO_FEATURE_VERSION_1 | VIRTIO_FEATURE_RING_EVENT_IDX);
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}
static void queue_setup(unsigned size, uint64_t desc)
{
	mwr(common(0x16), 2, 0);
	mwr(common(0x18), 2, size);
	mwr(common(0x20), 8, desc); /* one 64-bit access */
	mwr(common(0x28), 4, (uint32_t)AVAIL_GPA);
	mwr(common(0x2c), 4, 0);
	mwr(common(0x30), 4, (uint32_t)USED_GPA);
	mwr(common(0x34), 4, 0);
	mwr(common(0x1c), 2, 1);
}
static void notify(unsigned q)
{
	mwr(bar + VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, 2, q);
}

/* One writable 16-byte buffer on the avail ring. */
static uint16_t avail_idx;
static void post_request(void)
{
	struct vring_desc *d = (struct vring_desc *)(ram + DESC_GPA);
	d[0] = (struct vring_desc){ .addr = BUF_GPA, .len = 16, .flags = VRING_DESC_F_WRITE };
	struct vring_avail *a = (struct vring_avail *)(ram + AVAIL_GPA);
	a->ring[avail_idx % 8] = 0;
	avail_idx++;
	__atomic_store_n(&a->idx, avail_idx, __ATOMIC_RELEASE);
	/* used_event: interrupt for every buffer */
	*(uint16_t *)(ram + AVAIL_GPA + 4 + 2 * 8) = (uint16_t)(avail_idx - 1);
}

static unsigned find_vndr(uint8_t type)
{
	unsigned off = pci_cfg_read8(&vp.pci, PCI_CAPABILITY_LIST);
	for (int n = 0; off && n < 48; n++, off = pci_cfg_read8(&vp.pci, off + 1))
		if (pci_cfg_read8(&vp.pci, off) == PCI_CAP_ID_VNDR && pci_cfg_read8(&vp.pci, off + 3) == type)
			return off;
	return 0;
}

static void test_identity(void)
{
	CHECK("vendor", mrd(ecam(PCI_VENDOR_ID), 2) == 0x1af4);
	CHECK("device 0x1040 + id", mrd(ecam(PCI_DEVICE_ID), 2) == 0x1044);
	CHECK("revision 1", mrd(ecam(PCI_REVISION_ID), 1) == 1);
	CHECK("subsystem vendor", mrd(ecam(PCI_SUBSYSTEM_VENDOR_ID), 2) == 0x1af4);
	unsigned c = find_vndr(1), n = find_vndr(2), i = find_vndr(3);
	CHECK("common cap", c && pci_cfg_read8(&vp.pci, c + 4) == VIRTIO_PCI_BAR &&
				    pci_cfg_read32(&vp.pci, c + 8) == VIRTIO_PCI_COMMON_OFF &&
				    pci_cfg_read32(&vp.pci, c + 12) >= 0x38);
	CHECK("notify cap with multiplier", n && pci_cfg_read8(&vp.pci, n + 2) == 20 &&
						    pci_cfg_read32(&vp.pci, n + 8) == VIRTIO_PCI_NOTIFY_OFF &&
						    pci_cfg_read32(&vp.pci, n + 16) == VIRTIO_PCI_NOTIFY_MULT);
	CHECK("ISR cap", i && pci_cfg_read32(&vp.pci, i + 8) == VIRTIO_PCI_ISR_OFF);
	CHECK("no device cfg cap without config", !find_vndr(4));
	unsigned w = find_vndr(5);
	CHECK("PCI cfg access cap", w && pci_cfg_read8(&vp.pci, w + 2) == 20);
	mwr(ecam(w + 4), 1, VIRTIO_PCI_BAR);
	mwr(ecam(w + 8), 4, 0x12); /* num_queues */
	mwr(ecam(w + 12), 4, 2);
	CHECK("PCI cfg window reads the BAR", mrd(ecam(w + 16), 4) == 1);
	mwr(ecam(w + 8), 4, 0x13); /* misaligned */
	CHECK("misaligned window reads 0", mrd(ecam(w + 16), 4) == 0);
	mwr(ecam(w + 8), 4, 0x00); /* device_feature_select */
	mwr(ecam(w + 12), 4, 4);
	mwr(ecam(w + 16), 4, 1);
	CHECK("PCI cfg window writes the BAR", mrd(common(0x00), 4) == 1);
	mwr(ecam(w + 16), 4, 0);
	unsigned m = pci_cap_find(&vp.pci, PCI_CAP_ID_MSIX);
	CHECK("MSI-X cap: 2 vectors, table and PBA in the BAR",
	      m && (pci_cfg_read16(&vp.pci, m + 2) & 0x7ff) == 1 &&
		      pci_cfg_read32(&vp.pci, m + 4) == (VIRTIO_PCI_MSIX_TABLE_OFF | VIRTIO_PCI_BAR) &&
		      pci_cfg_read32(&vp.pci, m + 8) == (VIRTIO_PCI_MSIX_PBA_OFF | VIRTIO_PCI_BAR));
}

static void test_features(void)
{
	mwr(common(0x00), 4, 0);
	uint32_t lo = (uint32_t)mrd(common(0x04), 4);
	mwr(common(0x00), 4, 1);
	uint32_t hi = (uint32_t)mrd(common(0x04), 4);
	mwr(common(0x00), 4, 2);
	uint32_t beyond = (uint32_t)mrd(common(0x04), 4);
	CHECK("offers VERSION_1", hi & 1);
	CHECK("offers EVENT_IDX and INDIRECT_DESC", (lo & (3u << 28)) == (3u << 28));
	CHECK("feature select 2 reads 0", beyond == 0);
	CHECK("num_queues", mrd(common(0x12), 2) == 1);

	mwr(common(0x14), 1, 0);
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_features(VIRTIO_FEATURE_RING_EVENT_IDX); /* a legacy driver's set */
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK("FEATURES_OK refused without VERSION_1", !(status() & VIRTIO_STATUS_FEATURES_OK));
	mwr(common(0x14), 1, 0);
	CHECK("reset reads 0", status() == 0);
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_features(VIRTIO_FEATURE_VERSION_1 | (1ull << 40));
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK("FEATURES_OK refused with bits not offered", !(status() & VIRTIO_STATUS_FEATURES_OK));
	negotiate();
	CHECK("FEATURES_OK accepted", status() & VIRTIO_STATUS_FEATURES_OK);
	mwr(common(0x08), 4, 0);
	mwr(common(0x0c), 4, 0);
	CHECK("features frozen after FEATURES_OK", (uint32_t)mrd(common(0x0c), 4) == (1u << 29));
}

static void test_garbage(void)
{
	negotiate();
	mwr(common(0x16), 2, 7);
	CHECK("absent queue has size 0", mrd(common(0x18), 2) == 0);
	mwr(common(0x18), 2, 8);
	mwr(common(0x1c), 2, 1);
	CHECK("absent queue cannot be enabled", mrd(common(0x1c), 2) == 0 && status() != 0);
	mwr(common(0x16), 2, 0);
	CHECK("queue 0 max size", mrd(common(0x18), 2) == 64);
	mwr(common(0x10), 2, 0x1234);
	CHECK("bad config vector reads NO_VECTOR", mrd(common(0x10), 2) == 0xffff);
	mwr(common(0x1a), 2, 2);
	CHECK("bad queue vector reads NO_VECTOR", mrd(common(0x1a), 2) == 0xffff);

	queue_setup(3, DESC_GPA);
	CHECK("size 3 refused", mrd(common(0x1c), 2) == 0 && (status() & VIRTIO_STATUS_NEEDS_RESET));
	negotiate();
	CHECK("reset clears NEEDS_RESET", !(status() & VIRTIO_STATUS_NEEDS_RESET));
	queue_setup(128, DESC_GPA);
	CHECK("size above the maximum refused", mrd(common(0x1c), 2) == 0 && (status() & VIRTIO_STATUS_NEEDS_RESET));
	negotiate();
	queue_setup(8, RAM_SIZE - 16);
	CHECK("rings outside RAM refused", mrd(common(0x1c), 2) == 0 && (status() & VIRTIO_STATUS_NEEDS_RESET));
	negotiate();
	queue_setup(8, DESC_GPA);
	CHECK("good queue enabled", mrd(common(0x1c), 2) == 1 && !(status() & VIRTIO_STATUS_NEEDS_RESET));
	notify(0);
	CHECK("notify before DRIVER_OK breaks the device", status() & VIRTIO_STATUS_NEEDS_RESET);
	notify(9);
	mwr(bar + 0x7ff0, 8, ~0ull);
	mwr(bar + VIRTIO_PCI_COMMON_OFF + 0x37, 4, ~0ull);
	mrd(bar + 0x7ff8, 8);
	CHECK("stray accesses survive", 1);
	mwr(common(0x14), 1, 0);
	mwr(common(0x14), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	CHECK("DRIVER_OK refused without FEATURES_OK", !(status() & VIRTIO_STATUS_DRIVER_OK));
}

static void test_request(void)
{
	negotiate();
	queue_setup(8, DESC_GPA);
	mwr(common(0x14), 1, status() | VIRTIO_STATUS_DRIVER_OK);
	CHECK("DRIVER_OK", status() & VIRTIO_STATUS_DRIVER_OK);
	avail_idx = 0;
	memset(ram + USED_GPA, 0, 64);
	post_request();
	int before = requests;
	notify(0);
	struct vring_used *u = (struct vring_used *)(ram + USED_GPA);
	CHECK("request done", requests == before + 1 && u->idx == 1 && u->ring[0].id == 0 && u->ring[0].len == 16);
	CHECK("buffer filled", ram[BUF_GPA] == 0xab && ram[BUF_GPA + 15] == 0xab && ram[BUF_GPA + 16] == 0);
	CHECK("INTx raised with ISR bit 0", irq_level == 1);
	CHECK("ISR read", mrd(bar + VIRTIO_PCI_ISR_OFF, 1) == 1);
	CHECK("ISR read clears and lowers INTx", mrd(bar + VIRTIO_PCI_ISR_OFF, 1) == 0 && irq_level == 0);

	/* MSI-X: enable, vector 0 for the queue, masked at first. */
	unsigned m = pci_cap_find(&vp.pci, PCI_CAP_ID_MSIX);
	mwr(ecam(m + 2), 2, 0x8000);
	mwr(common(0x16), 2, 0);
	mwr(common(0x1a), 2, 0);
	CHECK("queue vector 0", mrd(common(0x1a), 2) == 0);
	uint64_t tbl = bar + VIRTIO_PCI_MSIX_TABLE_OFF;
	mwr(tbl, 4, 0xfee00000);
	mwr(tbl + 4, 4, 0);
	mwr(tbl + 8, 4, 0x4041);
	CHECK("table reads back", mrd(tbl, 4) == 0xfee00000 && mrd(tbl + 8, 4) == 0x4041 && mrd(tbl + 12, 4) == 1);
	uint64_t sent = vp.irqs_sent;
	post_request();
	notify(0);
	CHECK("masked vector: pending bit, no interrupt",
	      vp.irqs_sent == sent && (mrd(bar + VIRTIO_PCI_MSIX_PBA_OFF, 8) & 1));
	mwr(tbl + 12, 4, 0);
	CHECK("unmask delivers the pending interrupt",
	      vp.irqs_sent == sent + 1 && !(mrd(bar + VIRTIO_PCI_MSIX_PBA_OFF, 8) & 1));
	post_request();
	notify(0);
	CHECK("unmasked vector delivers", vp.irqs_sent == sent + 2 && u->idx == 3);
	CHECK("MSI-X on: no INTx", irq_level == 0 && mrd(bar + VIRTIO_PCI_ISR_OFF, 1) == 0);

	/* A descriptor loop breaks the queue and sets NEEDS_RESET. */
	struct vring_desc *d = (struct vring_desc *)(ram + DESC_GPA);
	d[0] = (struct vring_desc){ .addr = BUF_GPA, .len = 16, .flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, .next = 0 };
	struct vring_avail *a = (struct vring_avail *)(ram + AVAIL_GPA);
	a->ring[avail_idx % 8] = 0;
	a->idx = ++avail_idx;
	notify(0);
	CHECK("descriptor loop: NEEDS_RESET", status() & VIRTIO_STATUS_NEEDS_RESET);
	mwr(common(0x14), 1, 0);
	CHECK("reset after a broken queue", status() == 0 && mrd(common(0x1c), 2) == 0);
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
	CHECK("bad init refused", virtio_pci_init(&vp, NULL, &gm, "x", 4, 0, 1, 100, 0, 0, &ops, NULL) == -EINVAL);
	CHECK("init", virtio_pci_init(&vp, NULL, &gm, "virtio-test", 4, 0xff0000, 1, 64, 0, 0, &ops, NULL) == 0);
	CHECK("register", virtio_pci_register(&vp, &pbus) == 0);
	slot = vp.pci.slot;
	mwr(ecam(PCI_COMMAND), 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	bar = mrd(ecam(PCI_BAR0), 4) & ~0xfull;
	CHECK("BAR placed", bar >= X86_PCI_MEM32_BASE && bar < X86_PCI_MEM32_BASE + X86_PCI_MEM32_SIZE);
	test_identity();
	test_features();
	test_garbage();
	test_request();
	free(ram);
	return CHECK_DONE();
}
