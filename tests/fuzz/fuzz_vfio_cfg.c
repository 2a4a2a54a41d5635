/* libFuzzer target: the config-space virtualization of a passed-through
 * device (drivers/vfio/vfio_pci_cfg.c). Both sides are untrusted: the first
 * 256 bytes are the device's real config space (a broken or hostile device:
 * capability loops, odd lengths, BAR flags anywhere), the rest is a hostile
 * guest's config writes, 8 bytes each: offset a0 (legacy space), size a1,
 * value a2..a5. Beyond "no crash": the ids never change, the shadow's
 * capability chain ends (no loop) and holds only PM, PCI Express and MSI,
 * the ROM BAR stays hidden and no INTx pin appears, and the MSI state reads
 * back without trouble after every write.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci.h"
#include "vfio/vfio_pci.h"

#define MAX_OPS 4096

static struct bus pio, mmio;
static struct pci_bus pbus;
static struct pci_device dev;

static void check_chain(void)
{
	unsigned off = pci_cfg_read8(&dev, PCI_CAPABILITY_LIST), n = 0;
	while (off) {
		uint8_t id = pci_cfg_read8(&dev, off);
		if (off < PCI_CAP_START || off > 0xfc || ++n > 48 ||
		    (id != PCI_CAP_ID_PM && id != PCI_CAP_ID_EXP && id != PCI_CAP_ID_MSI && id != PCI_CAP_ID_MSIX))
			abort();
		off = pci_cfg_read8(&dev, off + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t real[PCI_CFG_LEGACY_SIZE] = { 0 };
	memcpy(real, data, len < sizeof(real) ? len : sizeof(real));
	memset(&pio, 0, sizeof(pio));
	memset(&mmio, 0, sizeof(mmio));
	struct pci_bus_config c = pci_bus_config_x86(NULL, NULL);
	if (pci_bus_init(&pbus, &pio, &mmio, &c) < 0)
		abort();
	unsigned msix;
	unsigned msi = vfio_cfg_init(&dev, "fuzz", real, sizeof(real), &msix);
	if (msi && (msi < PCI_CAP_START || msi > 0xfc || pci_cfg_read8(&dev, msi) != PCI_CAP_ID_MSI))
		abort();
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		int pf;
		enum pci_bar_type t = vfio_cfg_bar_type(real, i, &pf);
		if (t != PCI_BAR_NONE)
			pci_bar_define(&dev, i, t, t == PCI_BAR_IO ? 64 : 4096, pf, NULL, NULL);
	}
	int slot = pci_register(&pbus, &dev, -1);
	if (slot < 0)
		abort();
	/* MSI-X: a layout is only accepted inside the BARs; then the table
	 * takes the same operations a guest would make. */
	struct vfio_msix_layout l;
	static uint8_t table[2048 * 16];
	if (msix && vfio_cfg_msix(&dev, msix, &l) == 0) {
		const struct pci_bar *tb = &dev.bar[l.table_bar];
		if (l.nvec < 1 || l.nvec > 2048 || l.table_off + l.nvec * 16ull > tb->size || tb->type == PCI_BAR_IO)
			abort();
		memset(table, 0, l.nvec * 16u);
		for (size_t i = sizeof(real); i + 10 <= len; i += 10) {
			uint8_t v[8];
			memcpy(v, data + i + 2, 8);
			unsigned size = 1u << (data[i] & 3), first, last;
			uint64_t off = (uint64_t)data[i + 1] * 4 % (l.nvec * 16u + 16);
			if (vfio_msix_table_access(table, l.nvec, off, v, size, data[i] & 4, &first, &last) == 0 &&
			    (first > last || last >= l.nvec))
				abort();
		}
		for (unsigned i = 0; i < l.nvec; i++)
			if (table[16 * i + 12] > 1 || table[16 * i + 13] || table[16 * i + 14] || table[16 * i + 15])
				abort();
	}
	uint32_t ids = pci_cfg_read32(&dev, PCI_VENDOR_ID);
	check_chain();
	size_t start = len < sizeof(real) ? len : sizeof(real);
	for (size_t n = 0, i = start; i < len && n < MAX_OPS; i += 8, n++) {
		uint8_t op[8] = { 0 };
		memcpy(op, data + i, len - i < 8 ? len - i : 8);
		static const unsigned sizes[] = { 1, 2, 4 };
		unsigned size = sizes[op[1] % 3];
		unsigned off = op[0] & ~(size - 1);
		uint32_t val = (uint32_t)op[2] | op[3] << 8 | op[4] << 16 | (uint32_t)op[5] << 24;
		pci_config_write(&pbus, 0, (unsigned)slot, 0, off, size, val);
		struct vfio_msi m;
		vfio_cfg_msi(&dev, msi, &m);
		if (!msi && (m.enabled || m.addr || m.data))
			abort();
		if (vfio_cfg_overlaps(off, size, PCI_COMMAND, 2) != (off < PCI_COMMAND + 2 && off + size > PCI_COMMAND))
			abort();
	}
	if (pci_cfg_read32(&dev, PCI_VENDOR_ID) != ids || pci_cfg_read32(&dev, PCI_ROM_ADDRESS) ||
	    pci_cfg_read8(&dev, PCI_INTERRUPT_PIN))
		abort();
	check_chain();
	return 0;
}
