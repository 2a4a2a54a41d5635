/* The guest's view of a passed-through function's config space.
 *
 * The guest must see the real device (its ids, class and the capabilities
 * its driver looks for) but must not reach what would let it escape: the
 * real BARs (it would move the device's decoding behind our memory slots),
 * the real MSI address/data and MSI-X table (the host's interrupt
 * addresses), the ROM BAR, and capabilities we do not emulate (vendor and
 * extended capabilities). So the shadow in struct pci_device is built once
 * from the real bytes and everything in it is read-only to the guest except
 * COMMAND (passed on to the device by vfio_pci.c), the MSI fields and the
 * MSI-X enable and function-mask bits, which are emulated. The MSI-X table
 * and PBA themselves live in a BAR: vfio_msix.c traps and emulates them, with
 * the helpers at the end of this file.
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
#define MSIX_FLAGS 2
#define MSIX_TABLE 4
#define MSIX_PBA 8
#define MSIX_FLAGS_QSIZE 0x07ff
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
	case PCI_CAP_ID_MSIX:
		return 12;
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

static void setup_msix(struct pci_device *d, unsigned off)
{
	/* Off and unmasked until the guest says otherwise; only those two
	 * bits are the guest's. */
	pci_cfg_write16(d, off + MSIX_FLAGS, pci_cfg_read16(d, off + MSIX_FLAGS) & MSIX_FLAGS_QSIZE);
	pci_set_wmask(d, off + MSIX_FLAGS, 2, VFIO_MSIX_ENABLE | VFIO_MSIX_MASKALL);
}

unsigned vfio_cfg_init(struct pci_device *d, const char *name, const uint8_t *real, size_t len, unsigned *msix_cap)
{
	if (msix_cap)
		*msix_cap = 0;
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
	unsigned msi = 0, msix = 0, last = 0, seen = 0;
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
		/* MSI-X only for a caller that emulates its table. */
		if (id == PCI_CAP_ID_MSIX && (!msix_cap || msix))
			room = 0;
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
			if (id == PCI_CAP_ID_MSIX) {
				msix = off;
				setup_msix(d, off);
			}
		}
		off = next;
	}
	if (last)
		pci_cfg_write16(d, PCI_STATUS, pci_cfg_read16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	/* Nothing else may be allocated over the copied capabilities. */
	d->cap_next = PCI_CFG_LEGACY_SIZE;
	d->cap_last = last;
	if (msix_cap)
		*msix_cap = msix;
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

int vfio_cfg_msix(const struct pci_device *d, unsigned cap, struct vfio_msix_layout *l)
{
	memset(l, 0, sizeof(*l));
	if (!cap)
		return -1;
	uint32_t t = pci_cfg_read32(d, cap + MSIX_TABLE), p = pci_cfg_read32(d, cap + MSIX_PBA);
	l->nvec = (pci_cfg_read16(d, cap + MSIX_FLAGS) & MSIX_FLAGS_QSIZE) + 1u;
	l->table_bar = (int)(t & 7);
	l->table_off = t & ~7u;
	l->pba_bar = (int)(p & 7);
	l->pba_off = p & ~7u;
	/* BIR 6 and 7 are reserved; the table and PBA must lie inside BARs
	 * the device has, or the guest's driver would poke at nothing. */
	if (l->table_bar >= PCI_NUM_BARS || l->pba_bar >= PCI_NUM_BARS)
		return -1;
	for (int k = 0; k < 2; k++) {
		int bar = k ? l->pba_bar : l->table_bar;
		uint64_t off = k ? l->pba_off : l->table_off, len = k ? vfio_msix_pba_len(l->nvec) : l->nvec * 16ull;
		const struct pci_bar *b = &d->bar[bar];
		if (b->type == PCI_BAR_NONE || b->type == PCI_BAR_IO || off > b->size || len > b->size - off)
			return -1;
	}
	return 0;
}

void vfio_msix_flags(const struct pci_device *d, unsigned cap, int *enabled, int *masked)
{
	uint16_t f = pci_cfg_read16(d, cap + MSIX_FLAGS);
	*enabled = !!(f & VFIO_MSIX_ENABLE);
	*masked = !!(f & VFIO_MSIX_MASKALL);
}

int vfio_msix_table_access(uint8_t *table, unsigned nvec, uint64_t off, uint8_t *data, unsigned size, int write,
			   unsigned *first, unsigned *last)
{
	uint64_t len = nvec * 16ull;
	if (!size || off >= len || size > len - off)
		return -1;
	*first = (unsigned)(off / 16);
	*last = (unsigned)((off + size - 1) / 16);
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		if (!write) {
			data[i] = table[o];
			continue;
		}
		/* Vector Control: only the mask bit is defined; the other
		 * bits are reserved and read as zero. */
		if (o % 16 >= 12)
			table[o] = o % 16 == 12 ? (data[i] & 1) : 0;
		else
			table[o] = data[i];
	}
	return 0;
}

void vfio_msix_entry(const uint8_t *table, unsigned i, struct vfio_msi *m, int *masked)
{
	const uint8_t *e = table + 16ull * i;
	m->addr = rd32(e) | (uint64_t)rd32(e + 4) << 32;
	m->data = rd32(e + 8);
	m->enabled = 1;
	*masked = e[12] & 1;
}
