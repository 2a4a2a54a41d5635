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
	unsigned msi = vfio_cfg_init(&dev, "t", real, sizeof(real));
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
	CHECK("short-config", vfio_cfg_init(&dev, "t", real, 64) == 0);
	return CHECK_DONE();
}
