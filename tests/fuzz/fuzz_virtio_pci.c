/* libFuzzer target: a hostile driver against the modern virtio-pci transport
 * (drivers/virtio/virtio_pci.c) with a virtio-rng-like device behind it.
 *
 * A fresh bus, 4 MiB of guest RAM (its own heap block, so ASan sees any
 * access outside it) and one device per input; no KVM (vm == NULL), so
 * notifications are handled synchronously. The input is a list of
 * operations, an opcode byte and 7 argument bytes a0..a6 each:
 *   op % 8 == 0  common config write: offset a0 % 0x40, size a1, value a2..a5
 *   op % 8 == 1  common config read:  offset a0 % 0x40, size a1
 *   op % 8 == 2  notify queue a0 % 4 (size a1)
 *   op % 8 == 3  BAR access at 0x1000 + a0..a1 % 0x7000 (ISR, device config,
 *                notify, MSI-X table and PBA), size a2, write if a6 & 1
 *   op % 8 == 4  guest RAM write: 4 bytes a2..a5 at (a0..a1) % 64 KiB
 *   op % 8 == 5  config space write: offset a0..a1 % 4096, size a2, value a3..a6
 *   op % 8 == 6  the Linux sequence up to DRIVER_OK: features from a0
 *                (bit 0 VERSION_1, 1 EVENT_IDX, 2 INDIRECT_DESC), queue size
 *                1 << (a1 % 6), rings at 0 / 0x1000 / 0x2000, enable, DRIVER_OK
 *   op % 8 == 7  reset (status 0)
 * Sizes are {1, 2, 4, 8, 3}[x % 5]. Beyond "no crash": every iovec the device
 * sees lies inside guest RAM, and the status never has DRIVER_OK without
 * FEATURES_OK.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci.h"
#include "virtio/virtio_pci.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"
#include "../unit/bus_io.h"

#define MAX_OPS 4096
#define RAM (4u << 20)        /* the smallest guest_mem allows */
#define RAM_FUZZ 0x10000u     /* where op 4 writes: the rings and buffers */

static struct bus pio, mmio;
static struct pci_bus pbus;
static struct virtio_pci vp;
static struct guest_mem gm;
static uint8_t *ram;
static struct virtq_chain chain;
static uint64_t bar;

static void check_iov(const struct iovec *v)
{
	uintptr_t p = (uintptr_t)v->iov_base, r = (uintptr_t)ram;
	if (p < r || p > r + RAM || v->iov_len > r + RAM - p)
		abort();
}

static void fill(struct virtio_pci *p, unsigned q)
{
	struct virtqueue *vq = &p->q[q].vq;
	int rc;
	for (;;) {
		virtq_disable_notify(vq, p->gm);
		while ((rc = virtq_pop(vq, p->gm, &chain)) > 0) {
			uint32_t n = 0;
			for (unsigned i = 0; i < chain.out_num + chain.in_num; i++)
				check_iov(&chain.iov[i]);
			for (unsigned i = 0; i < chain.in_num && n < 4096; i++) {
				size_t l = chain.in_iov[i].iov_len < 4096 - n ? chain.in_iov[i].iov_len : 4096 - n;
				memset(chain.in_iov[i].iov_base, 0x5a, l);
				n += (uint32_t)l;
			}
			if (virtq_push(vq, p->gm, chain.head, n) < 0)
				break;
		}
		if (virtq_should_notify(vq, p->gm))
			virtio_pci_notify_queue(p, q);
		if (rc < 0 || virtq_enable_notify(vq, p->gm) <= 0)
			break;
	}
}
static const struct virtio_pci_ops ops = { .queue_notify = fill };

static int set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)level;
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
static uint64_t ecam(unsigned off)
{
	return X86_ECAM_BASE + ((uint64_t)vp.pci.slot << 15 | off);
}

static void setup(void)
{
	memset(&pio, 0, sizeof(pio));
	memset(&mmio, 0, sizeof(mmio));
	memset(&pbus, 0, sizeof(pbus));
	struct pci_bus_config c = pci_bus_config_x86(set_irq, NULL);
	char err[128];
	if (!ram && !(ram = malloc(RAM)))
		abort();
	memset(ram, 0, RAM);
	if (guest_mem_init(&gm, ram, RAM, err, sizeof(err)) || pci_bus_init(&pbus, &pio, &mmio, &c) < 0 ||
	    virtio_pci_init(&vp, NULL, &gm, "virtio-fuzz", 4, 0xff0000, 2, 32, 0, 0, &ops, NULL) < 0 ||
	    virtio_pci_register(&vp, &pbus) < 0)
		abort();
	mwr(ecam(PCI_COMMAND), 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	bar = mrd(ecam(PCI_BAR0), 4) & ~0xfull;
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void linux_sequence(uint8_t features, uint8_t qsize)
{
	uint64_t f = (features & 1 ? VIRTIO_FEATURE_VERSION_1 : 0) | (features & 2 ? VIRTIO_FEATURE_RING_EVENT_IDX : 0) |
		     (features & 4 ? VIRTIO_FEATURE_RING_INDIRECT_DESC : 0);
	mwr(bar + 0x14, 1, 0);
	mwr(bar + 0x14, 1, 3);
	mwr(bar + 0x08, 4, 0);
	mwr(bar + 0x0c, 4, (uint32_t)f);
	mwr(bar + 0x08, 4, 1);
	mwr(bar + 0x0c, 4, (uint32_t)(f >> 32));
	mwr(bar + 0x14, 1, 0x0b);
	mwr(bar + 0x16, 2, 0);
	mwr(bar + 0x18, 2, 1u << (qsize % 6));
	mwr(bar + 0x20, 8, 0);
	mwr(bar + 0x28, 8, 0x1000);
	mwr(bar + 0x30, 8, 0x2000);
	mwr(bar + 0x1c, 2, 1);
	mwr(bar + 0x14, 1, 0x0f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	setup();
	for (size_t n = 0, i = 0; i < len && n < MAX_OPS; i += 8, n++) {
		uint8_t a[8] = { 0 };
		memcpy(a, data + i, len - i < 8 ? len - i : 8);
		uint8_t op = a[0];
		const uint8_t *x = a + 1;
		unsigned off16 = (unsigned)(x[0] | x[1] << 8);
		switch (op % 8) {
		case 0: mwr(bar + x[0] % 0x40, size_of(x[1]), le32(x + 2)); break;
		case 1: mrd(bar + x[0] % 0x40, size_of(x[1])); break;
		case 2: mwr(bar + VIRTIO_PCI_NOTIFY_OFF + (x[0] % 4) * VIRTIO_PCI_NOTIFY_MULT, size_of(x[1]), x[0] % 4); break;
		case 3: {
			uint64_t at = bar + 0x1000 + off16 % 0x7000;
			if (x[6] & 1)
				mwr(at, size_of(x[2]), (uint64_t)le32(x + 3) * 0x100000001ull);
			else
				mrd(at, size_of(x[2]));
			break;
		}
		case 4: memcpy(ram + off16 % (RAM_FUZZ - 4), x + 2, 4); break;
		case 5: mwr(ecam(off16 % 4096), size_of(x[2]), le32(x + 3)); break;
		case 6: linux_sequence(x[0], x[1]); break;
		case 7: mwr(bar + 0x14, 1, 0); break;
		}
		uint8_t st = (uint8_t)mrd(bar + 0x14, 1);
		if ((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_FEATURES_OK))
			abort();
	}
	return 0;
}
