/* PCI bus 0: both config mechanisms, masks, BAR sizing, placement and
 * dispatch, capabilities, INTx, and everything a guest can get wrong. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "pci/pci.h"
#include "x86/layout.h"
#include "bus_io.h"

static struct bus pio = { .name = "pio" }, mmio = { .name = "mmio" };
static struct pci_bus pbus;

/* --- a dummy device: I/O, 32-bit and 64-bit BARs, two capabilities --- */
static struct pci_device dummy;
static uint64_t last_off;
static unsigned last_size, last_bar;
static uint32_t last_val;
static int bar_moves, irq_gsi = -1, irq_level = -1, cfg_writes;
static uint64_t moved_old, moved_new;

static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
	last_bar = (unsigned)(uintptr_t)opaque;
	last_off = off;
	last_size = size;
	memset(data, 0x5a, size);
}
static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
	last_bar = (unsigned)(uintptr_t)opaque;
	last_off = off;
	last_size = size;
	last_val = 0;
	memcpy(&last_val, data, size < 4 ? size : 4);
}
static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

static void on_bar_map(struct pci_device *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
	(void)d;
	(void)bar;
	bar_moves++;
	moved_old = old_addr;
	moved_new = new_addr;
}
static void on_cfg_write(struct pci_device *d, unsigned off, unsigned size)
{
	(void)d;
	(void)off;
	(void)size;
	cfg_writes++;
}
static const struct pci_device_ops dummy_ops = { .config_write = on_cfg_write, .bar_map = on_bar_map };

static int set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	irq_gsi = (int)gsi;
	irq_level = level;
	return 0;
}

/* --- guest accesses --- */
static uint32_t in(uint16_t port, unsigned size)
{
	uint8_t b[4] = { 0 };
	bus_access(&pio, port, b, size, 0);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static void out(uint16_t port, unsigned size, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	bus_access(&pio, port, b, size, 1);
}
static uint64_t mrd(uint64_t addr, unsigned size) { return bus_rd(&mmio, addr, size); }
static void mwr(uint64_t addr, unsigned size, uint64_t v) { bus_wr(&mmio, addr, size, v); }
static uint32_t cf8(unsigned busno, unsigned dev, unsigned fn, unsigned off)
{
	return 0x80000000u | busno << 16 | dev << 11 | fn << 8 | (off & 0xfc);
}
/* Through 0xCF8/0xCFC, as Linux's type 1 accessors do. */
static uint32_t c1rd(unsigned dev, unsigned off, unsigned size)
{
	out(0xcf8, 4, cf8(0, dev, 0, off));
	return in((uint16_t)(0xcfc + (off & 3)), size);
}
static void c1wr(unsigned dev, unsigned off, unsigned size, uint32_t v)
{
	out(0xcf8, 4, cf8(0, dev, 0, off));
	out((uint16_t)(0xcfc + (off & 3)), size, v);
}
static uint64_t ecam(unsigned busno, unsigned dev, unsigned fn, unsigned off)
{
	return X86_ECAM_BASE + ((uint64_t)busno << 20 | dev << 15 | fn << 12 | off);
}

static int slot;

static void setup(void)
{
	struct pci_bus_config c = pci_bus_config_x86(set_irq, NULL);
	CHECK("bus init", pci_bus_init(&pbus, &pio, &mmio, &c) == 0);
	CHECK("second bus on the same ports refused", ({
		      static struct pci_bus other;
		      pci_bus_init(&other, &pio, &mmio, &c) < 0;
	      }));
	pci_device_init(&dummy, "dummy", 0x1234, 0x5678, 0x020000, 7);
	pci_set_subsystem(&dummy, 0xaaaa, 0xbbbb);
	pci_set_intx_pin(&dummy, 1);
	dummy.ops = &dummy_ops;
	CHECK("define I/O BAR", pci_bar_define(&dummy, 0, PCI_BAR_IO, 32, 0, &bar_ops, (void *)0) == 0);
	CHECK("define mem32 BAR", pci_bar_define(&dummy, 1, PCI_BAR_MEM32, 4096, 0, &bar_ops, (void *)1) == 0);
	CHECK("define mem64 BAR", pci_bar_define(&dummy, 2, PCI_BAR_MEM64, 0x4000, 1, &bar_ops, (void *)2) == 0);
	CHECK("BAR 3 is the high half", pci_bar_define(&dummy, 3, PCI_BAR_MEM32, 4096, 0, NULL, NULL) < 0);
	CHECK("size not a power of two", pci_bar_define(&dummy, 4, PCI_BAR_MEM32, 3000, 0, NULL, NULL) < 0);
	CHECK("64-bit BAR 5 has no high half", pci_bar_define(&dummy, 5, PCI_BAR_MEM64, 4096, 0, NULL, NULL) < 0);
	CHECK("bad index", pci_bar_define(&dummy, 6, PCI_BAR_MEM32, 4096, 0, NULL, NULL) < 0 &&
				   pci_bar_define(&dummy, -1, PCI_BAR_MEM32, 4096, 0, NULL, NULL) < 0);
	CHECK("I/O BAR too big", pci_bar_define(&dummy, 4, PCI_BAR_IO, 512, 0, NULL, NULL) < 0);
	int msix = pci_cap_add(&dummy, PCI_CAP_ID_MSIX, 12);
	int vndr = pci_cap_add(&dummy, PCI_CAP_ID_VNDR, 16);
	CHECK("capabilities placed", msix == 0x40 && vndr == 0x4c);
	pci_set_wmask(&dummy, (unsigned)msix + 2, 2, 0xc000); /* MSI-X enable and mask */
	CHECK("ext capability", pci_ext_cap_add(&dummy, 0x000b, 1, 16) == 0x100 &&
					pci_ext_cap_add(&dummy, 0x0001, 2, 8) == 0x110);
	CHECK("capability too big", pci_cap_add(&dummy, 1, 300) < 0);
	slot = pci_register(&pbus, &dummy, -1);
	CHECK("registered in slot 1", slot == 1);
	static struct pci_device again;
	pci_device_init(&again, "again", 1, 2, 0, 0);
	CHECK("slot 0 taken", pci_register(&pbus, &again, 0) == -EEXIST);
	CHECK("slot 32 refused", pci_register(&pbus, &again, 32) < 0);
}

static void test_mechanisms(void)
{
	CHECK("host bridge vendor:device via CF8", c1rd(0, 0, 4) == (PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR));
	CHECK("host bridge via ECAM", mrd(ecam(0, 0, 0, 0), 4) == (PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR));
	CHECK("host bridge class", c1rd(0, 8, 4) >> 8 == PCI_CLASS_HOST_BRIDGE);
	CHECK("dummy via CF8", c1rd(1, 0, 4) == 0x56781234);
	CHECK("dummy via ECAM", mrd(ecam(0, 1, 0, 0), 4) == 0x56781234);
	CHECK("dummy class, revision", c1rd(1, 8, 4) == 0x02000007);
	CHECK("subsystem", mrd(ecam(0, 1, 0, 0x2c), 4) == 0xbbbbaaaa);

	/* CONFIG_ADDRESS */
	out(0xcf8, 4, cf8(0, 1, 0, 0) & ~0x80000000u);
	CHECK("enable bit clear: CFC reads all ones", in(0xcfc, 4) == 0xffffffff);
	out(0xcf8, 4, 0x7f000003u | cf8(0, 1, 0, 0));
	CHECK("CF8 reads back without reserved bits", in(0xcf8, 4) == cf8(0, 1, 0, 0));
	out(0xcf8, 4, cf8(0, 1, 0, 0));
	out(0xcf9, 1, 0x06);
	out(0xcf8, 2, 0);
	CHECK("byte and word writes to CF8-CFB are not CONFIG_ADDRESS", in(0xcf8, 4) == cf8(0, 1, 0, 0));
	CHECK("byte read of CF8 reads all ones", in(0xcf8, 1) == 0xff);

	/* partial and unaligned */
	CHECK("CFC+2 word is the device id", c1rd(1, 2, 2) == 0x5678);
	CHECK("CFC+1 byte", c1rd(1, 1, 1) == 0x12);
	CHECK("CFC+3 byte", c1rd(1, 3, 1) == 0x56);
	out(0xcf8, 4, cf8(0, 1, 0, 0));
	CHECK("CFC+1 word (unaligned) reads all ones", in(0xcfd, 2) == 0xffff);
	CHECK("CFC+2 dword runs past CFF: all ones", in(0xcfe, 4) == 0xffffffff);
	CHECK("ECAM byte and word", mrd(ecam(0, 1, 0, 1), 1) == 0x12 && mrd(ecam(0, 1, 0, 2), 2) == 0x5678);
	CHECK("ECAM unaligned dword reads all ones", mrd(ecam(0, 1, 0, 2), 4) == 0xffffffff);
	CHECK("ECAM unaligned word reads all ones", mrd(ecam(0, 1, 0, 3), 2) == 0xffff);
	CHECK("ECAM qword reads all ones", mrd(ecam(0, 1, 0, 0), 8) == UINT64_MAX);
	CHECK("ECAM last dword of the space", mrd(ecam(0, 1, 0, 0xffc), 4) == 0);

	/* absent */
	CHECK("empty slot reads all ones", c1rd(5, 0, 4) == 0xffffffff && mrd(ecam(0, 31, 0, 0), 2) == 0xffff);
	CHECK("function 1 reads all ones", mrd(ecam(0, 1, 1, 0), 4) == 0xffffffff);
	out(0xcf8, 4, cf8(0, 1, 3, 0));
	CHECK("function 3 via CF8 reads all ones", in(0xcfc, 4) == 0xffffffff);
	out(0xcf8, 4, cf8(1, 0, 0, 0));
	CHECK("bus 1 via CF8 reads all ones", in(0xcfc, 4) == 0xffffffff);
	out(0xcf8, 4, cf8(255, 31, 7, 0xfc));
	CHECK("bus 255 via CF8 reads all ones", in(0xcfc, 4) == 0xffffffff);
	CHECK("bus 1 via ECAM reads all ones", mrd(ecam(1, 0, 0, 0), 4) == 0xffffffff);
	CHECK("pci_config_read bus 1", pci_config_read(&pbus, 1, 0, 0, 0, 4) == 0xffffffff);
	CHECK("pci_config_read bad size", pci_config_read(&pbus, 0, 1, 0, 0, 3) == 0xffffff &&
						  pci_config_read(&pbus, 0, 1, 0, 4096, 1) == 0xff);
	mwr(ecam(0, 7, 0, 4), 4, 0xffffffff);
	c1wr(9, 0x10, 4, 0xffffffff);
	mwr(ecam(0, 1, 2, 4), 4, 0xffffffff);
	CHECK("writes to absent functions are ignored",
	      c1rd(7, 0, 4) == 0xffffffff && (c1rd(1, 4, 2) & 0x7) == 0);
	pci_config_write(&pbus, 0, 1, 0, 4093, 4, 0xffffffff);
	pci_config_write(&pbus, 0, 1, 0, 0xffffffffu, 1, 0xff);
	CHECK("out-of-range config writes are dropped", 1);
}

static void test_registers(void)
{
	c1wr(1, 0, 4, 0);
	mwr(ecam(0, 1, 0, 8), 4, 0);
	c1wr(1, 0x0e, 1, 0x80);
	CHECK("vendor, device, class, header type read-only",
	      c1rd(1, 0, 4) == 0x56781234 && c1rd(1, 8, 4) == 0x02000007 && c1rd(1, 0x0e, 1) == 0);
	c1wr(1, 4, 2, 0xffff);
	CHECK("COMMAND keeps only its writable bits", c1rd(1, 4, 2) == 0x0547);
	c1wr(1, 4, 2, 0);
	c1wr(0, 4, 2, 0xffff);
	CHECK("host bridge COMMAND read-only", c1rd(0, 4, 2) == 0);
	CHECK("STATUS has the capability list bit", c1rd(1, 6, 2) == PCI_STATUS_CAP_LIST);
	dummy.cfg[PCI_STATUS + 1] |= 0x20; /* pretend a master abort */
	c1wr(1, 6, 2, 0x0010);
	CHECK("STATUS write of 0 to W1C bit keeps it", c1rd(1, 6, 2) == 0x2010);
	c1wr(1, 6, 2, 0xffff);
	CHECK("STATUS W1C clears, RO stays", c1rd(1, 6, 2) == 0x0010);
	c1wr(1, 0x3c, 1, 0x42);
	c1wr(1, 0x3d, 1, 0x4);
	CHECK("interrupt line writable, pin read-only", c1rd(1, 0x3c, 2) == 0x0142);
	c1wr(1, 0x30, 4, 0xffffffff);
	CHECK("no expansion ROM", c1rd(1, 0x30, 4) == 0);
	CHECK("cfg write hook ran", cfg_writes > 0);
}

static void test_bars(void)
{
	uint32_t io = c1rd(1, 0x10, 4), m32 = c1rd(1, 0x14, 4), m64lo = c1rd(1, 0x18, 4), m64hi = c1rd(1, 0x1c, 4);
	uint64_t m64 = (uint64_t)m64hi << 32 | (m64lo & ~0xfu);
	CHECK("I/O BAR pre-programmed in the I/O window",
	      (io & 1) && (io & ~3u) >= X86_PCI_IO_BASE && (io & ~3u) % 32 == 0);
	CHECK("mem32 BAR pre-programmed in the 32-bit window",
	      (m32 & 0xf) == 0 && m32 >= X86_PCI_MEM32_BASE && m32 < X86_ECAM_BASE && m32 % 4096 == 0);
	CHECK("mem64 BAR pre-programmed in the 64-bit window, prefetchable",
	      (m64lo & 0xf) == 0xc && m64 >= X86_PCI_MEM64_BASE && m64 % 0x4000 == 0);

	CHECK("nothing decodes before COMMAND enables it", mrd(m32, 4) == 0xffffffff);
	bar_moves = 0;
	c1wr(1, 4, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK("bar_map hook on enable", bar_moves == 3);
	CHECK("mem32 BAR dispatch", mrd(m32 + 8, 4) == 0x5a5a5a5a && last_bar == 1 && last_off == 8 && last_size == 4);
	mwr(m64 + 0x3ff8, 8, 0x1122334455667788ULL);
	CHECK("mem64 BAR dispatch", last_bar == 2 && last_off == 0x3ff8 && last_size == 8 && last_val == 0x55667788);
	out((uint16_t)((io & ~3u) + 31), 1, 0x99);
	CHECK("I/O BAR dispatch", last_bar == 0 && last_off == 31 && last_val == 0x99);
	CHECK("access running off a BAR's end reads all ones", mrd(m32 + 4094, 4) == 0xffffffff);
	CHECK("window without BAR reads all ones", mrd(X86_ECAM_BASE - 4096, 4) == 0xffffffff);

	/* sizing, the way Linux does it (decode off first) */
	c1wr(1, 4, 2, 0);
	c1wr(1, 0x10, 4, 0xffffffff);
	c1wr(1, 0x14, 4, 0xffffffff);
	c1wr(1, 0x18, 4, 0xffffffff);
	c1wr(1, 0x1c, 4, 0xffffffff);
	CHECK("I/O BAR size probe", c1rd(1, 0x10, 4) == 0x0000ffe1);
	CHECK("mem32 BAR size probe", c1rd(1, 0x14, 4) == 0xfffff000);
	CHECK("mem64 BAR size probe", c1rd(1, 0x18, 4) == 0xffffc00c && c1rd(1, 0x1c, 4) == 0xffffffff);
	c1wr(1, 0x24, 4, 0xffffffff);
	CHECK("unused BAR reads 0", c1rd(1, 0x24, 4) == 0);
	c1wr(1, 0x10, 4, io);
	c1wr(1, 0x18, 4, m64lo);
	c1wr(1, 0x1c, 4, m64hi);
	c1wr(1, 0x14, 4, m32);
	CHECK("restored", c1rd(1, 0x10, 4) == io && c1rd(1, 0x14, 4) == m32 && c1rd(1, 0x18, 4) == m64lo);

	/* moving a BAR while decoding (ECAM byte writes, in halves) */
	c1wr(1, 4, 2, PCI_COMMAND_MEMORY);
	bar_moves = 0;
	uint32_t to = m32 + 0x100000;
	mwr(ecam(0, 1, 0, 0x16), 2, to >> 16);
	CHECK("BAR moved: hook saw old and new", bar_moves == 1 && moved_old == m32 && moved_new == to);
	CHECK("old address no longer decodes", mrd(m32, 4) == 0xffffffff);
	CHECK("new address decodes", mrd(to + 4, 2) == 0x5a5a && last_bar == 1 && last_off == 4);
	c1wr(1, 0x14, 4, 0x00001000);
	CHECK("BAR outside the windows does not decode", moved_new == PCI_BAR_UNMAPPED && mrd(to, 4) == 0xffffffff);
	c1wr(1, 0x1c, 4, 0);
	CHECK("64-bit BAR with the high half cleared is outside the windows",
	      atomic_load(&dummy.bar[2].mapped) == PCI_BAR_UNMAPPED);
	c1wr(1, 0x18, 4, 0xd0000000);
	CHECK("64-bit BAR moved below 4 GiB (guests may) decodes at 0xd0000000", atomic_load(&dummy.bar[2].mapped) == 0xd0000000 &&
						  (mrd(0xd0000000, 1) == 0x5a && last_bar == 2));
	c1wr(1, 4, 2, 0);
	CHECK("decode off unmaps", atomic_load(&dummy.bar[2].mapped) == PCI_BAR_UNMAPPED &&
					   mrd(0xd0000000, 4) == 0xffffffff);
}

static void test_caps(void)
{
	/* Walk the list as a guest does, through the config ports. */
	unsigned ids[8], n = 0;
	CHECK("cap pointer", c1rd(1, 0x34, 1) == 0x40);
	for (unsigned off = c1rd(1, 0x34, 1); off && n < 8; off = c1rd(1, off + 1, 1))
		ids[n++] = c1rd(1, off, 1);
	CHECK("cap list: MSI-X then vendor", n == 2 && ids[0] == PCI_CAP_ID_MSIX && ids[1] == PCI_CAP_ID_VNDR);
	CHECK("pci_cap_find", pci_cap_find(&dummy, PCI_CAP_ID_VNDR) == 0x4c && pci_cap_find(&dummy, 0x05) == 0);
	c1wr(1, 0x40, 4, 0xffffffff);
	CHECK("cap header read-only, opened bits writable", c1rd(1, 0x40, 4) == 0xc0004c11);
	c1wr(1, 0x41, 1, 0x40); /* try to make a loop */
	CHECK("next pointer read-only", c1rd(1, 0x41, 1) == 0x4c);
	dummy.cfg[0x4d] = 0x40; /* a device bug: a loop */
	CHECK("pci_cap_find survives a loop", pci_cap_find(&dummy, 0x05) == 0);
	dummy.cfg[0x4d] = 0;
	CHECK("ext caps via ECAM", mrd(ecam(0, 1, 0, 0x100), 4) == (0x110u << 20 | 1u << 16 | 0x000b) &&
					   mrd(ecam(0, 1, 0, 0x110), 4) == (2u << 16 | 1));
	CHECK("host bridge has no caps", (c1rd(0, 6, 2) & PCI_STATUS_CAP_LIST) == 0);
}

static void test_intx(void)
{
	CHECK("INTA of slot 1 routed as the _PRT says", pci_intx_gsi(1, 1) == 17 && pci_intx_gsi(31, 4) == 18);
	CHECK("interrupt line pre-set to the GSI", c1rd(1, 0x3c, 1) == 0x42); /* the guest wrote 0x42 above */
	pci_intx_set(&dummy, 1);
	CHECK("INTx raises GSI 17", irq_gsi == 17 && irq_level == 1);
	CHECK("STATUS.INTERRUPT set", c1rd(1, 6, 2) & PCI_STATUS_INTERRUPT);
	c1wr(1, 4, 2, PCI_COMMAND_INTX_DISABLE);
	CHECK("INTX_DISABLE lowers the line", irq_level == 0);
	CHECK("STATUS.INTERRUPT still shows the wish", c1rd(1, 6, 2) & PCI_STATUS_INTERRUPT);
	c1wr(1, 4, 2, 0);
	CHECK("re-enable raises again", irq_level == 1);
	pci_intx_set(&dummy, 0);
	CHECK("deassert", irq_level == 0 && !(c1rd(1, 6, 2) & PCI_STATUS_INTERRUPT));
}

static void test_full_bus(void)
{
	static struct pci_device many[PCI_SLOTS];
	int r = 0, n = 0;
	for (int i = 0; i < PCI_SLOTS && r >= 0; i++) {
		pci_device_init(&many[i], "many", 0x1af4, (uint16_t)i, 0xff0000, 0);
		r = pci_register(&pbus, &many[i], -1);
		if (r >= 0)
			n++;
	}
	CHECK("bus full after 30 more devices", n == 30 && r == -ENOSPC);
	CHECK("slot 31 via ECAM", mrd(ecam(0, 31, 0, 0), 4) == (29u << 16 | 0x1af4));
	static struct pci_device big;
	pci_device_init(&big, "big", 1, 1, 0, 0);
	pci_bar_define(&big, 0, PCI_BAR_MEM32, 0x40000000, 0, NULL, NULL);
	static struct pci_bus b2;
	static struct bus p2, m2;
	struct pci_bus_config c = { .ecam_base = X86_ECAM_BASE, .mem32_base = X86_PCI_MEM32_BASE,
				    .mem32_size = X86_PCI_MEM32_SIZE };
	CHECK("bus without I/O or 64-bit window", pci_bus_init(&b2, &p2, &m2, &c) == 0);
	CHECK("BAR bigger than the window refused", pci_register(&b2, &big, -1) == -ENOSPC);
}

int main(void)
{
	setup();
	test_mechanisms();
	test_registers();
	test_bars();
	test_caps();
	test_intx();
	test_full_bus();
	return CHECK_DONE();
}
