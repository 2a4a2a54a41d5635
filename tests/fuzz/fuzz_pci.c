/* libFuzzer target: a hostile guest poking PCI config space and BARs.
 *
 * A fresh bus per input, with the host bridge at 00:00.0 and a dummy device
 * at 00:01.0 (I/O, 32-bit and 64-bit BARs, an MSI-X-like and a vendor
 * capability, an extended capability, INTA). The input is a list of
 * operations, each an opcode byte and 7 argument bytes a0..a6 (a short tail
 * is zero-padded):
 *   op % 8 == 0  outl 0xCF8, a0..a3 (CONFIG_ADDRESS)
 *   op % 8 == 1  in  0xCF8 + a0 % 8, size from a1
 *   op % 8 == 2  out 0xCF8 + a0 % 8, size from a1, value a2..a5
 *   op % 8 == 3  ECAM read:  offset a0..a2 (24 bits: buses 0..15), size a3
 *   op % 8 == 4  ECAM write: offset a0..a2, size a3, value a4 a5 a6 repeated
 *   op % 8 == 5  window access: window a0 % 3, offset a1..a4 into it, size a5,
 *                write if a6 & 1
 *   op % 8 == 6  the device raises (a0 & 1) its INTx line
 *   op % 8 == 7  BAR re-probe: write all ones to BAR a0 % 6, read it back
 * Sizes are {1, 2, 4, 8, 3}[x % 5]. Beyond "no crash": BAR handlers only
 * ever see accesses inside the BAR, vendor/device ids never change, and the
 * IRQ callback only sees GSIs 16-23.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci.h"
#include "x86/layout.h"

#define MAX_OPS 4096

static struct bus pio, mmio;
static struct pci_bus pbus;
static struct pci_device dummy;
static const uint64_t bar_size[PCI_NUM_BARS] = { 64, 4096, 0x10000, 0, 0, 0 };

static void check_access(void *opaque, uint64_t off, unsigned size)
{
	unsigned bar = (unsigned)(uintptr_t)opaque;
	if (bar >= PCI_NUM_BARS || !bar_size[bar] || off >= bar_size[bar] || size > bar_size[bar] - off)
		abort();
}
static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
	check_access(opaque, off, size);
	memset(data, 0xa5, size);
}
static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
	(void)data;
	check_access(opaque, off, size);
}
static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

static void on_bar_map(struct pci_device *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
	(void)old_addr;
	if (bar < 0 || bar >= PCI_NUM_BARS || d != &dummy)
		abort();
	if (new_addr != PCI_BAR_UNMAPPED && new_addr % d->bar[bar].size)
		abort();
}
static void on_cfg(struct pci_device *d, unsigned off, unsigned size)
{
	if (d != &dummy || off >= PCI_CFG_SIZE || size > PCI_CFG_SIZE - off)
		abort();
}
static const struct pci_device_ops ops = { .config_read = on_cfg, .config_write = on_cfg, .bar_map = on_bar_map };

static int set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)level;
	if (gsi < 16 || gsi > 23)
		abort();
	return 0;
}

static void setup(void)
{
	memset(&pio, 0, sizeof(pio));
	memset(&mmio, 0, sizeof(mmio));
	struct pci_bus_config c = pci_bus_config_x86(set_irq, NULL);
	if (pci_bus_init(&pbus, &pio, &mmio, &c) < 0)
		abort();
	pci_device_init(&dummy, "dummy", 0x1234, 0x5678, 0x020000, 1);
	pci_set_intx_pin(&dummy, 1);
	dummy.ops = &ops;
	if (pci_bar_define(&dummy, 0, PCI_BAR_IO, 64, 0, &bar_ops, (void *)0) ||
	    pci_bar_define(&dummy, 1, PCI_BAR_MEM32, 4096, 0, &bar_ops, (void *)1) ||
	    pci_bar_define(&dummy, 2, PCI_BAR_MEM64, 0x10000, 1, &bar_ops, (void *)2))
		abort();
	int cap = pci_cap_add(&dummy, PCI_CAP_ID_MSIX, 12);
	pci_set_wmask(&dummy, (unsigned)cap + 2, 2, 0xc000);
	pci_cap_add(&dummy, PCI_CAP_ID_VNDR, 20);
	pci_set_wmask(&dummy, 0x50, 8, UINT64_MAX);
	pci_ext_cap_add(&dummy, 0x000b, 1, 16);
	if (pci_register(&pbus, &dummy, -1) != 1)
		abort();
}

static unsigned size_of(uint8_t b)
{
	static const unsigned sizes[] = { 1, 2, 4, 8, 3 };
	return sizes[b % 5];
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	setup();
	uint8_t buf[8];
	for (size_t n = 0, i = 0; i < len && n < MAX_OPS; i += 8, n++) {
		uint8_t op[8] = { 0 };
		memcpy(op, data + i, len - i < 8 ? len - i : 8);
		const uint8_t *a = op + 1;
		unsigned size;
		uint64_t off;
		switch (op[0] % 8) {
		case 0:
			memcpy(buf, a, 4);
			bus_access(&pio, 0xcf8, buf, 4, 1);
			break;
		case 1:
			bus_access(&pio, 0xcf8 + a[0] % 8, buf, size_of(a[1]), 0);
			break;
		case 2:
			memcpy(buf, a + 2, 4);
			bus_access(&pio, 0xcf8 + a[0] % 8, buf, size_of(a[1]) > 4 ? 4 : size_of(a[1]), 1);
			break;
		case 3:
			off = (uint64_t)a[0] | (uint64_t)a[1] << 8 | (uint64_t)a[2] << 16;
			bus_access(&mmio, X86_ECAM_BASE + off, buf, size_of(a[3]), 0);
			break;
		case 4:
			off = (uint64_t)a[0] | (uint64_t)a[1] << 8 | (uint64_t)a[2] << 16;
			for (unsigned k = 0; k < 8; k++)
				buf[k] = a[4 + k % 3];
			bus_access(&mmio, X86_ECAM_BASE + off, buf, size_of(a[3]), 1);
			break;
		case 5: {
			const struct pci_window *w = a[0] % 3 == 0 ? &pbus.io : a[0] % 3 == 1 ? &pbus.mem32 : &pbus.mem64;
			off = le32(a + 1) % w->size;
			size = size_of(a[5]);
			memset(buf, 0x3c, sizeof(buf));
			bus_access(a[0] % 3 == 0 ? &pio : &mmio, w->base + off, buf, size, a[6] & 1);
			break;
		}
		case 6:
			pci_intx_set(&dummy, a[0] & 1);
			break;
		case 7: {
			unsigned reg = PCI_BAR0 + 4 * (a[0] % 6);
			pci_config_write(&pbus, 0, 1, 0, reg, 4, 0xffffffff);
			uint32_t v = pci_config_read(&pbus, 0, 1, 0, reg, 4);
			(void)v;
			break;
		}
		}
		if (pci_config_read(&pbus, 0, 1, 0, 0, 4) != 0x56781234 ||
		    pci_config_read(&pbus, 0, 0, 0, 0, 4) != (PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR))
			abort();
	}
	return 0;
}
