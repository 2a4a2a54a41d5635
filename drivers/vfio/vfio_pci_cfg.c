/* The guest's view of a passed-through function's config space.
 *
 * The guest must see the real device (its ids, class and the capabilities
 * its driver looks for) but must not reach what would let it escape: the
 * real BARs (it would move the device's decoding behind our memory slots),
 * the real MSI address/data (the host's interrupt addresses), the ROM BAR,
 * and capabilities we do not emulate (MSI-X, whose table we do not trap yet,
 * vendor and extended capabilities). So the shadow in struct pci_device is
 * built once from the real bytes and everything in it is read-only to the
 * guest except COMMAND (passed on to the device by vfio_pci.c) and the MSI
 * fields, which are emulated.
 */
#include <string.h>

#include "vfio/vfio_pci.h"

#define MSI_FLAGS 2          /* offsets in the MSI capability */
#define MSI_ADDR_LO 4
#define MSI_FLAGS_ENABLE 0x0001
#define MSI_FLAGS_QMASK 0x000e  /* Multiple Message Capable */
#define MSI_FLAGS_QSIZE 0x0070  /* Multiple Message Enable */
#define MSI_FLAGS_64BIT 0x0080
#define MSI_FLAGS_MASKBIT 0x0100
#define PCI_STD_CAPS_MAX 48   /* (256 - 64) / 4: a longer chain is a loop */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }

enum pci_bar_type vfio_cfg_bar_type(const uint8_t *real, int i, int *prefetchable)
{
	*prefetchable = 0;
	if (i < 0 || i >= PCI_NUM_BARS)
		return PCI_BAR_NONE;
	/* The high half of a 64-bit BAR is not a BAR of its own: walk from
	 * BAR 0 the way the header is laid out. */
	int j = 0;
	while (j < i) {
		uint32_t v = rd32(real + PCI_BAR0 + 4 * j);
		j += !(v & PCI_BAR_IO_FLAG) && (v & 0x6) == PCI_BAR_MEM64_FLAG ? 2 : 1;
	}
	if (j != i)
		return PCI_BAR_NONE;
	uint32_t v = rd32(real + PCI_BAR0 + 4 * i);
	if (v & PCI_BAR_IO_FLAG)
		return PCI_BAR_IO;
	*prefetchable = !!(v & PCI_BAR_PREFETCH_FLAG);
	if ((v & 0x6) == PCI_BAR_MEM64_FLAG)
		return i < PCI_NUM_BARS - 1 ? PCI_BAR_MEM64 : PCI_BAR_NONE;
	return PCI_BAR_MEM32;
}

/* How many bytes of the capability id at off the shadow copies; 0: hidden. */
static unsigned cap_len(uint8_t id, const uint8_t *cap, unsigned off)
{
	switch (id) {
	case PCI_CAP_ID_PM:
		return 8;
	case PCI_CAP_ID_EXP:
		/* Version 2 is 0x3c bytes; devices put a shorter version 1
		 * near the end of the legacy space: copy what is there. */
		return off + 0x3c <= PCI_CFG_LEGACY_SIZE ? 0x3c : PCI_CFG_LEGACY_SIZE - off;
	case PCI_CAP_ID_MSI: {
		uint16_t f = rd16(cap + MSI_FLAGS);
		return 10 + (f & MSI_FLAGS_64BIT ? 4 : 0) + (f & MSI_FLAGS_MASKBIT ? 10 : 0);
	}
	default:
		return 0;
	}
}

static void setup_msi(struct pci_device *d, unsigned off)
{
	uint16_t f = pci_cfg_read16(d, off + MSI_FLAGS);
	/* One vector, no per-vector masking, off until the guest enables it:
	 * the fields a guest may then write are the emulated ones. */
	f &= (uint16_t)~(MSI_FLAGS_ENABLE | MSI_FLAGS_QMASK | MSI_FLAGS_QSIZE | MSI_FLAGS_MASKBIT);
	pci_cfg_write16(d, off + MSI_FLAGS, f);
	int is64 = !!(f & MSI_FLAGS_64BIT);
	for (unsigned i = off + MSI_ADDR_LO; i < off + (is64 ? 24u : 20u) && i < PCI_CFG_LEGACY_SIZE; i++)
		pci_cfg_write8(d, i, 0);
	pci_set_wmask(d, off + MSI_FLAGS, 2, MSI_FLAGS_ENABLE);
	pci_set_wmask(d, off + MSI_ADDR_LO, 4, 0xfffffffc);
	if (is64)
		pci_set_wmask(d, off + MSI_ADDR_LO + 4, 4, 0xffffffff);
	pci_set_wmask(d, off + (is64 ? 12 : 8), 2, 0xffff);
}

unsigned vfio_cfg_init(struct pci_device *d, const char *name, const uint8_t *real, size_t len)
{
	if (len < PCI_CFG_LEGACY_SIZE)
		return 0;
	uint32_t class_code = rd32(real + PCI_REVISION_ID) >> 8;
	pci_device_init(d, name, rd16(real + PCI_VENDOR_ID), rd16(real + PCI_DEVICE_ID), class_code,
			real[PCI_REVISION_ID]);
	pci_set_subsystem(d, rd16(real + PCI_SUBSYSTEM_VENDOR_ID), rd16(real + PCI_SUBSYSTEM_ID));
	/* Single function: we present function 0 only. */
	pci_cfg_write8(d, PCI_HEADER_TYPE, real[PCI_HEADER_TYPE] & 0x7f);
	pci_set_intx_pin(d, 0); /* INTx is not routed yet: do not offer it */

	/* Walk the real chain the way a guest does, keep what cap_len() allows
	 * at the same offsets (drivers sometimes hard-code them), relink. */
	unsigned msi = 0, last = 0, seen = 0;
	/* A broken device may list a capability twice or let two overlap:
	 * each byte is copied once, so the shadow's chain cannot loop. */
	uint8_t used[PCI_CFG_LEGACY_SIZE] = { 0 };
	unsigned off = (real[PCI_STATUS] & PCI_STATUS_CAP_LIST) ? real[PCI_CAPABILITY_LIST] & 0xfc : 0;
	while (off >= PCI_CAP_START && off <= PCI_CFG_LEGACY_SIZE - 4 && seen++ < PCI_STD_CAPS_MAX) {
		uint8_t id = real[off];
		unsigned n = cap_len(id, real + off, off);
		unsigned next = real[off + 1] & 0xfc;
		int room = n && off + n <= PCI_CFG_LEGACY_SIZE;
		for (unsigned i = 0; room && i < n; i++)
			room = !used[off + i];
		if (room && (id != PCI_CAP_ID_MSI || !msi)) {
			memset(used + off, 1, n);
			for (unsigned i = 0; i < n; i++)
				pci_cfg_write8(d, off + i, real[off + i]);
			pci_cfg_write8(d, off + 1, 0);
			if (last)
				pci_cfg_write8(d, last + 1, (uint8_t)off);
			else
				pci_cfg_write8(d, PCI_CAPABILITY_LIST, (uint8_t)off);
			last = off;
			if (id == PCI_CAP_ID_MSI) {
				msi = off;
				setup_msi(d, off);
			}
		}
		off = next;
	}
	if (last)
		pci_cfg_write16(d, PCI_STATUS, pci_cfg_read16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	/* Nothing else may be allocated over the copied capabilities. */
	d->cap_next = PCI_CFG_LEGACY_SIZE;
	d->cap_last = last;
	return msi;
}

void vfio_cfg_msi(const struct pci_device *d, unsigned cap, struct vfio_msi *m)
{
	memset(m, 0, sizeof(*m));
	if (!cap)
		return;
	uint16_t f = pci_cfg_read16(d, cap + MSI_FLAGS);
	int is64 = !!(f & MSI_FLAGS_64BIT);
	m->enabled = !!(f & MSI_FLAGS_ENABLE);
	m->addr = pci_cfg_read32(d, cap + MSI_ADDR_LO);
	if (is64)
		m->addr |= (uint64_t)pci_cfg_read32(d, cap + MSI_ADDR_LO + 4) << 32;
	m->data = pci_cfg_read16(d, cap + (is64 ? 12 : 8));
}
