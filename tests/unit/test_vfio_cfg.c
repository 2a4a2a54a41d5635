/* The guest's view of a passed-through function's config space
 * (drivers/vfio/vfio_pci_cfg.c), built from made-up real config bytes and
 * driven through the emulated bus as a guest would. */
#include <string.h>

#include "check.h"
#include "pci/pci.h"
#include "vfio/vfio_pci.h"
#include "x86/layout.h"

static uint8_t real[256];
static struct bus pio, mmio;
static struct pci_bus pbus;
static struct pci_device dev;

static void put16(unsigned off, uint16_t v) { real[off] = (uint8_t)v; real[off + 1] = (uint8_t)(v >> 8); }
static void put32(unsigned off, uint32_t v) { put16(off, (uint16_t)v); put16(off + 2, (uint16_t)(v >> 16)); }

static uint32_t cr(unsigned off, unsigned size) { return pci_config_read(&pbus, 0, (unsigned)dev.slot, 0, off, size); }
static void cw(unsigned off, unsigned size, uint32_t v) { pci_config_write(&pbus, 0, (unsigned)dev.slot, 0, off, size, v); }

int main(void)
{
	/* An edu-like function: 1234:11e8, class 00ff00, a 32-bit BAR0, a
	 * 64-bit prefetchable BAR2/3, an I/O BAR4; capabilities MSI-X at 0x40
	 * (hidden), MSI 64-bit with per-vector masks at 0x50, a vendor cap at
	 * 0x70 (hidden), PM at 0x80; a ROM; INTA. */
	put16(0x00, 0x1234);
	put16(0x02, 0x11e8);
	put16(0x06, PCI_STATUS_CAP_LIST);
	real[0x08] = 0x10;
	put32(0x08, 0x00ff0010);
	real[0x0e] = 0x80; /* multi-function bit: we show function 0 only */
	put32(0x10, 0xfea00000);
	put32(0x18, 0x0000000c);
	put32(0x1c, 0x00000001);
	put32(0x20, 0x0000c001);
	put16(0x2c, 0x1af4);
	put16(0x2e, 0x1100);
	put32(0x30, 0xfeb00001);
	real[0x34] = 0x40;
	real[0x3d] = 1;
	real[0x40] = PCI_CAP_ID_MSIX; real[0x41] = 0x50;
	real[0x50] = PCI_CAP_ID_MSI; real[0x51] = 0x70;
	put16(0x52, 0x0180 | 0x0a | 0x01); /* 64-bit, mask bits, 32 vectors capable, enabled */
	put32(0x54, 0xfee00000); /* the host's address: must not show */
	real[0x70] = PCI_CAP_ID_VNDR; real[0x71] = 0x80; real[0x72] = 8;
	real[0x80] = PCI_CAP_ID_PM; real[0x81] = 0x00; put16(0x82, 0x0003);

	int pf;
	CHECK("bar0-mem32", vfio_cfg_bar_type(real, 0, &pf) == PCI_BAR_MEM32 && !pf);
	/* An all-zero BAR is still a BAR slot: vfio's region size (0) says it is empty. */
	CHECK("bar1-own-slot", vfio_cfg_bar_type(real, 1, &pf) == PCI_BAR_MEM32);
	CHECK("bar2-mem64-prefetch", vfio_cfg_bar_type(real, 2, &pf) == PCI_BAR_MEM64 && pf);
	CHECK("bar3-high-half", vfio_cfg_bar_type(real, 3, &pf) == PCI_BAR_NONE);
	CHECK("bar4-io", vfio_cfg_bar_type(real, 4, &pf) == PCI_BAR_IO);
	CHECK("bar-out-of-range", vfio_cfg_bar_type(real, 6, &pf) == PCI_BAR_NONE);

	struct pci_bus_config c = pci_bus_config_x86(NULL, NULL);
	CHECK("bus-init", pci_bus_init(&pbus, &pio, &mmio, &c) == 0);
	unsigned msi = vfio_cfg_init(&dev, "t", real, sizeof(real), NULL);
	CHECK("msi-found", msi == 0x50);
	CHECK("bar0-define", pci_bar_define(&dev, 0, PCI_BAR_MEM32, 0x100000, 0, NULL, NULL) == 0);
	CHECK("bar2-define", pci_bar_define(&dev, 2, PCI_BAR_MEM64, 1ULL << 32, 1, NULL, NULL) == 0);
	CHECK("register", pci_register(&pbus, &dev, -1) > 0);

	CHECK("ids", cr(0, 4) == 0x11e81234);
	CHECK("class-rev", cr(8, 4) == 0x00ff0010);
	CHECK("subsystem", cr(0x2c, 4) == 0x11001af4);
	CHECK("header-single-function", cr(0x0e, 1) == 0);
	CHECK("no-rom", cr(0x30, 4) == 0);
	cw(0x30, 4, 0xffffffff);
	CHECK("rom-stays-hidden", cr(0x30, 4) == 0);
	CHECK("no-intx-pin", cr(0x3d, 1) == 0);
	CHECK("cap-list-bit", cr(0x06, 2) & PCI_STATUS_CAP_LIST);
	/* The chain: MSI, PM; MSI-X and the vendor cap are gone. */
	CHECK("chain-starts-at-msi", cr(0x34, 1) == 0x50);
	CHECK("msi-next-pm", cr(0x51, 1) == 0x80);
	CHECK("pm-ends", cr(0x81, 1) == 0);
	CHECK("msix-hidden", pci_cap_find(&dev, PCI_CAP_ID_MSIX) == 0);
	CHECK("vendor-hidden", pci_cap_find(&dev, PCI_CAP_ID_VNDR) == 0);
	CHECK("pm-kept", pci_cap_find(&dev, PCI_CAP_ID_PM) == 0x80);
	/* MSI: one vector, no masking, off, no host address. */
	CHECK("msi-flags", cr(0x52, 2) == 0x0080);
	CHECK("msi-no-host-address", cr(0x54, 4) == 0);
	struct vfio_msi m;
	vfio_cfg_msi(&dev, msi, &m);
	CHECK("msi-off", !m.enabled);
	cw(0x52, 2, 0xffff); /* only enable sticks */
	CHECK("msi-only-enable-writable", cr(0x52, 2) == 0x0081);
	cw(0x54, 4, 0xfee01004);
	cw(0x58, 4, 0x1);
	cw(0x5c, 2, 0x4041);
	vfio_cfg_msi(&dev, msi, &m);
	CHECK("msi-guest-message", m.enabled && m.addr == 0x1fee01004ULL && m.data == 0x4041);
	/* The BARs: real sizes, the guest's writes only to the shadow. */
	cw(0x10, 4, 0xffffffff);
	CHECK("bar0-size-probe", cr(0x10, 4) == 0xfff00000);
	cw(0x18, 4, 0xffffffff);
	cw(0x1c, 4, 0xffffffff);
	CHECK("bar2-size-probe", cr(0x18, 4) == 0x0000000c && cr(0x1c, 4) == 0xffffffff);
	CHECK("pm-read-only", (cw(0x84, 2, 0x0003), cr(0x84, 2) == 0));
	CHECK("overlaps", vfio_cfg_overlaps(0x50, 4, 0x52, 2) && !vfio_cfg_overlaps(0x10, 4, 0x4, 2) &&
				  vfio_cfg_overlaps(0x4, 1, 0x4, 2));
	unsigned msix = 1;
	CHECK("short-config", vfio_cfg_init(&dev, "t", real, 64, &msix) == 0 && msix == 0);

	/* MSI-X, for a caller that emulates it: 4 vectors, enabled by the
	 * host (must not show), the table at BAR0+0x2000, the PBA at
	 * BAR0+0x3000. */
	put16(0x42, 0x8003);
	put32(0x44, 0x2000);
	put32(0x48, 0x3000);
	static struct pci_device dx;
	struct pci_bus xbus;
	struct bus xpio, xmmio;
	memset(&xpio, 0, sizeof(xpio));
	memset(&xmmio, 0, sizeof(xmmio));
	CHECK("msix-bus-init", pci_bus_init(&xbus, &xpio, &xmmio, &c) == 0);
	vfio_cfg_init(&dx, "x", real, sizeof(real), &msix);
	CHECK("msix-found", msix == 0x40 && pci_cap_find(&dx, PCI_CAP_ID_MSIX) == 0x40);
	CHECK("msix-chain", pci_cfg_read8(&dx, PCI_CAPABILITY_LIST) == 0x40 && pci_cfg_read8(&dx, 0x41) == 0x50);
	CHECK("msix-off-at-start", pci_cfg_read16(&dx, 0x42) == 0x0003);
	struct vfio_msix_layout l;
	CHECK("msix-layout-needs-bar", vfio_cfg_msix(&dx, msix, &l) < 0);
	CHECK("msix-bar0", pci_bar_define(&dx, 0, PCI_BAR_MEM32, 0x4000, 0, NULL, NULL) == 0);
	CHECK("msix-layout", vfio_cfg_msix(&dx, msix, &l) == 0 && l.nvec == 4 && l.table_bar == 0 &&
				     l.table_off == 0x2000 && l.pba_bar == 0 && l.pba_off == 0x3000);
	int slot = pci_register(&xbus, &dx, -1);
	CHECK("msix-register", slot > 0);
	pci_config_write(&xbus, 0, (unsigned)slot, 0, 0x42, 2, 0xffff);
	int en, fm;
	vfio_msix_flags(&dx, msix, &en, &fm);
	CHECK("msix-enable-and-mask-writable", pci_config_read(&xbus, 0, (unsigned)slot, 0, 0x42, 2) == 0xc003 && en && fm);
	pci_config_write(&xbus, 0, (unsigned)slot, 0, 0x44, 4, 0x12340005);
	CHECK("msix-table-offset-read-only", pci_config_read(&xbus, 0, (unsigned)slot, 0, 0x44, 4) == 0x2000);
	/* A table that would run past its BAR, or a BAR that is I/O. */
	put32(0x44, 0x3ff8);
	vfio_cfg_init(&dx, "x", real, sizeof(real), &msix);
	pci_bar_define(&dx, 0, PCI_BAR_MEM32, 0x4000, 0, NULL, NULL);
	CHECK("msix-table-past-bar", vfio_cfg_msix(&dx, msix, &l) < 0);
	put32(0x44, 0x2004); /* BIR 4: the I/O BAR */
	vfio_cfg_init(&dx, "x", real, sizeof(real), &msix);
	pci_bar_define(&dx, 4, PCI_BAR_IO, 64, 0, NULL, NULL);
	CHECK("msix-table-in-io-bar", vfio_cfg_msix(&dx, msix, &l) < 0);
	put32(0x44, 0x2007); /* BIR 7: reserved */
	vfio_cfg_init(&dx, "x", real, sizeof(real), &msix);
	CHECK("msix-reserved-bir", vfio_cfg_msix(&dx, msix, &l) < 0);

	/* The emulated table. */
	uint8_t table[4 * 16] = { 0 }, b[8];
	unsigned first, last;
	uint32_t w = 0xfee01000;
	memcpy(b, &w, 4);
	CHECK("table-write-addr", vfio_msix_table_access(table, 4, 16, b, 4, 1, &first, &last) == 0 && first == 1 &&
					  last == 1);
	w = 0x4041;
	memcpy(b, &w, 4);
	vfio_msix_table_access(table, 4, 24, b, 4, 1, &first, &last);
	w = 0xffffffff;
	memcpy(b, &w, 4);
	vfio_msix_table_access(table, 4, 28, b, 4, 1, &first, &last);
	CHECK("table-ctrl-reserved-bits", table[28] == 1 && table[29] == 0 && table[30] == 0 && table[31] == 0);
	struct vfio_msi mm;
	int masked;
	vfio_msix_entry(table, 1, &mm, &masked);
	CHECK("table-entry", mm.addr == 0xfee01000 && mm.data == 0x4041 && masked);
	memset(b, 0, 8);
	CHECK("table-read-8", vfio_msix_table_access(table, 4, 16, b, 8, 0, &first, &last) == 0 && b[1] == 0x10 &&
				      b[3] == 0xfe);
	CHECK("table-straddle", vfio_msix_table_access(table, 4, 60, b, 8, 0, &first, &last) < 0);
	CHECK("table-past-end", vfio_msix_table_access(table, 4, 64, b, 4, 1, &first, &last) < 0);
	CHECK("table-two-vectors", vfio_msix_table_access(table, 4, 12, b, 8, 0, &first, &last) == 0 && first == 0 &&
					   last == 1);
	CHECK("pba-len", vfio_msix_pba_len(1) == 8 && vfio_msix_pba_len(64) == 8 && vfio_msix_pba_len(65) == 16);
	return CHECK_DONE();
}
