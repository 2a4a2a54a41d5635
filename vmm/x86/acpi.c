/* Building the ACPI tables (layouts per the ACPI 6.x specification). Each
 * table is carved from the caller's buffer by a bump allocator and gets its
 * checksum once complete. */
#include <errno.h>
#include <string.h>

#include "x86/acpi.h"
#include "x86/checksum.h"
#include "x86/fail.h"
#include "x86/layout.h"

#define GAS_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define MADT_ISO_EDGE_HIGH 0x0005  /* polarity active high, trigger edge */
#define MADT_ISO_LEVEL_HIGH 0x000d /* polarity active high, trigger level */
#define AML_NAME_OP 0x08
#define AML_PACKAGE_OP 0x12
#define AML_BYTE_PREFIX 0x0a
#define AML_ZERO_OP 0x00

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP v2 is 36 bytes");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS is 64 bytes");
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT interrupt source override is 10 bytes");

struct cursor {
	uint8_t *buf;
	size_t size, off;
	uint64_t gpa;
};

/* len bytes at the next align-aligned offset, zeroed; NULL when full. */
static void *carve(struct cursor *c, size_t len, size_t align, uint64_t *gpa)
{
	size_t off = (c->off + align - 1) & ~(align - 1);
	if (off < c->off || off > c->size || len > c->size - off)
		return NULL;
	c->off = off + len;
	*gpa = c->gpa + off;
	memset(c->buf + off, 0, len);
	return c->buf + off;
}

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "KVMB", 4);
	h->creator_revision = 1;
}

static void seal(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = table_checksum(h, h->length);
}

static struct acpi_gas io_reg(uint16_t port, uint8_t bits, uint8_t access)
{
	return (struct acpi_gas){ .space_id = GAS_IO, .bit_width = bits, .access_size = access,
				  .address = port };
}

/* --- the DSDT, hand-assembled AML (ACPI 6.x, chapter 20) --- */
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_QWORD_PREFIX 0x0e
#define AML_ONE_OP 0x01
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_PREFIX */
#define AML_ROOT_CHAR '\\'
#define DSDT_AML_MAX 4096  /* the DSDT body is about 2.2 KiB */

/* Resource descriptors (ACPI 6.x, 6.4) */
#define RES_IO 0x47            /* small: I/O port, 8 bytes */
#define RES_END_TAG 0x79       /* small: end tag, 2 bytes */
#define RES_DWORD_ADDR 0x87    /* large: DWord address space */
#define RES_WORD_ADDR 0x88     /* large: Word address space */
#define RES_QWORD_ADDR 0x8a    /* large: QWord address space */
#define RES_TYPE_MEM 0
#define RES_TYPE_IO 1
#define RES_TYPE_BUS 2
/* general flags: producer (bit 0 clear), MinFixed, MaxFixed, positive decode */
#define RES_PRODUCER_FIXED 0x0c
#define RES_IO_ENTIRE_RANGE 0x03 /* type-specific flags of an I/O range */
#define RES_MEM_RW 0x01          /* read-write, non-cacheable */
#define RES_MEM_RW_CACHEABLE 0x03

struct aml {
	uint8_t *buf;
	size_t size, len;
	int overflow;
};

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->size - a->len) {
		a->overflow = 1;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b) { aml_bytes(a, &b, 1); }

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* A PkgLength counts itself and what follows up to the package's end. Leave
 * room for the longest (4-byte) encoding, then shrink it in aml_pkg_end. */
static size_t aml_pkg_begin(struct aml *a)
{
	size_t at = a->len;
	aml_le(a, 0, 4);
	return at;
}

static void aml_pkg_end(struct aml *a, size_t at)
{
	if (a->overflow)
		return;
	size_t body = a->len - at - 4;
	unsigned n = body + 1 < 0x40 ? 1 : body + 2 < 0x1000 ? 2 : body + 3 < 0x100000 ? 3 : 4;
	size_t total = body + n;
	if (n == 4 && total >= 0x10000000) {
		a->overflow = 1;
		return;
	}
	uint8_t *p = a->buf + at;
	memmove(p + n, p + 4, body);
	if (n == 1) {
		p[0] = (uint8_t)total;
	} else {
		p[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (unsigned i = 1; i < n; i++)
			p[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	a->len = at + n + body;
}

/* The shortest integer object for v. */
static void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0)
		aml_byte(a, AML_ZERO_OP);
	else if (v == 1)
		aml_byte(a, AML_ONE_OP);
	else if (v <= 0xff)
		aml_byte(a, AML_BYTE_PREFIX), aml_byte(a, (uint8_t)v);
	else if (v <= 0xffff)
		aml_byte(a, AML_WORD_PREFIX), aml_le(a, v, 2);
	else if (v <= 0xffffffff)
		aml_byte(a, AML_DWORD_PREFIX), aml_le(a, v, 4);
	else
		aml_byte(a, AML_QWORD_PREFIX), aml_le(a, v, 8);
}

/* Name (seg, ...): the caller emits the value. seg is one 4-char NameSeg. */
static void aml_name(struct aml *a, const char *seg)
{
	aml_byte(a, AML_NAME_OP);
	aml_bytes(a, seg, 4);
}

/* EISAID ("PNP0A08"): three letters in 5 bits each, then four hex digits,
 * stored big-endian in a DWord. */
static uint32_t eisaid(const char *id)
{
	uint32_t vendor = (uint32_t)((id[0] - '@') << 10 | (id[1] - '@') << 5 | (id[2] - '@'));
	uint32_t product = 0;
	for (int i = 3; i < 7; i++)
		product = product << 4 | (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	uint32_t be = vendor << 16 | product;
	return (be >> 24) | (be >> 8 & 0xff00) | (be << 8 & 0xff0000) | be << 24;
}

/* A Word/DWord/QWord address space descriptor producing [min, min+len). */
static void res_addr(struct aml *a, uint8_t tag, unsigned width, uint8_t type, uint8_t tflags,
		     uint64_t min, uint64_t len)
{
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * width, 2); /* type, flags, type flags, then 5 fields */
	aml_byte(a, type);
	aml_byte(a, RES_PRODUCER_FIXED);
	aml_byte(a, tflags);
	aml_le(a, 0, width);             /* granularity */
	aml_le(a, min, width);           /* minimum */
	aml_le(a, min + len - 1, width); /* maximum */
	aml_le(a, 0, width);             /* translation offset */
	aml_le(a, len, width);           /* length */
}

/* Name (_CRS, ResourceTemplate () {...}) of the root bridge: bus 0, the
 * config ports it consumes, and the three windows of x86/layout.h. */
static void aml_pci_crs(struct aml *a)
{
	aml_name(a, "_CRS");
	aml_byte(a, AML_BUFFER_OP);
	size_t pkg = aml_pkg_begin(a);
	/* The buffer size precedes the bytes; it is fixed, so count them first. */
	enum { CRS_LEN = 16 + 8 + 16 + 26 + 46 + 2 };
	aml_int(a, CRS_LEN);
	size_t start = a->len;
	res_addr(a, RES_WORD_ADDR, 2, RES_TYPE_BUS, 0, 0, X86_ECAM_BUSES);
	static const uint8_t cfg_io[] = { RES_IO, 0x01 /* 16-bit decode */, 0xf8, 0x0c, 0xf8, 0x0c,
					  0x01 /* alignment */, 0x08 /* length */ };
	aml_bytes(a, cfg_io, sizeof(cfg_io));
	res_addr(a, RES_WORD_ADDR, 2, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, X86_PCI_IO_BASE, X86_PCI_IO_SIZE);
	res_addr(a, RES_DWORD_ADDR, 4, RES_TYPE_MEM, RES_MEM_RW, X86_PCI_MEM32_BASE, X86_PCI_MEM32_SIZE);
	res_addr(a, RES_QWORD_ADDR, 8, RES_TYPE_MEM, RES_MEM_RW_CACHEABLE, X86_PCI_MEM64_BASE,
		 X86_PCI_MEM64_SIZE);
	aml_byte(a, RES_END_TAG);
	aml_byte(a, 0); /* checksum 0: "the list is good" */
	if (!a->overflow && a->len - start != CRS_LEN)
		a->overflow = 1; /* a descriptor changed size: fix CRS_LEN */
	aml_pkg_end(a, pkg);
}

/* Name (_PRT, Package () { Package () { 0xSSSSFFFF, pin, Zero, gsi }, ... }):
 * every slot's INTA-INTD, swizzled onto GSIs 16-23 (global interrupts, so
 * the source is Zero and the guest uses PCI's level, active-low). */
static void aml_pci_prt(struct aml *a)
{
	aml_name(a, "_PRT");
	aml_byte(a, AML_PACKAGE_OP);
	size_t pkg = aml_pkg_begin(a);
	aml_byte(a, 32 * 4);
	for (unsigned slot = 0; slot < 32; slot++)
		for (unsigned pin = 0; pin < 4; pin++) {
			aml_byte(a, AML_PACKAGE_OP);
			size_t e = aml_pkg_begin(a);
			aml_byte(a, 4);
			aml_byte(a, AML_DWORD_PREFIX); /* the address is always a DWord */
			aml_le(a, slot << 16 | 0xffff, 4);
			aml_int(a, pin);
			aml_int(a, 0);
			aml_int(a, X86_PCI_GSI_BASE + (slot + pin) % X86_PCI_GSI_COUNT);
			aml_pkg_end(a, e);
		}
	aml_pkg_end(a, pkg);
}

/* The whole DSDT body:
 *   Name (\_S5, Package (4) { S5, S5, Zero, Zero })
 *   Scope (\_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A08"))   PCI Express root bridge
 *       Name (_CID, EisaId ("PNP0A03"))   PCI root bridge
 *       Name (_SEG, Zero)  Name (_BBN, Zero)  Name (_UID, Zero)
 *       Name (_CRS, ResourceTemplate () { ... })
 *       Name (_PRT, Package (128) { ... })
 *     }
 *   }
 * Returns the length, or 0 if buf is too small. */
size_t acpi_dsdt_aml(uint8_t *buf, size_t size)
{
	struct aml a = { .buf = buf, .size = size };
	static const uint8_t s5[] = {
		AML_NAME_OP, '_', 'S', '5', '_',
		AML_PACKAGE_OP, 0x08 /* PkgLength: these 8 bytes */, 0x04 /* elements */,
		AML_BYTE_PREFIX, X86_S5_SLP_TYP, AML_BYTE_PREFIX, X86_S5_SLP_TYP, AML_ZERO_OP, AML_ZERO_OP,
	};
	aml_bytes(&a, s5, sizeof(s5));

	aml_byte(&a, AML_SCOPE_OP);
	size_t scope = aml_pkg_begin(&a);
	aml_bytes(&a, "\\_SB_", 5);
	aml_byte(&a, AML_EXT_PREFIX);
	aml_byte(&a, AML_DEVICE_OP);
	size_t dev = aml_pkg_begin(&a);
	aml_bytes(&a, "PCI0", 4);
	aml_name(&a, "_HID");
	aml_int(&a, eisaid("PNP0A08"));
	aml_name(&a, "_CID");
	aml_int(&a, eisaid("PNP0A03"));
	aml_name(&a, "_SEG");
	aml_int(&a, 0);
	aml_name(&a, "_BBN");
	aml_int(&a, 0);
	aml_name(&a, "_UID");
	aml_int(&a, 0);
	aml_pci_crs(&a);
	aml_pci_prt(&a);
	aml_pkg_end(&a, dev);
	aml_pkg_end(&a, scope);
	return a.overflow ? 0 : a.len;
}

static int build_madt(struct cursor *c, unsigned ncpus, uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_madt) + ncpus * sizeof(struct acpi_madt_lapic) +
		     sizeof(struct acpi_madt_ioapic) + 2 * sizeof(struct acpi_madt_iso) +
		     sizeof(struct acpi_madt_lapic_nmi);
	struct acpi_madt *m = carve(c, len, 16, gpa);
	if (!m)
		return -E2BIG;
	header(&m->h, "APIC", (uint32_t)len, 5);
	m->lapic_addr = (uint32_t)X86_LAPIC_ADDR;
	m->flags = 1; /* PCAT_COMPAT: KVM's irqchip has the 8259s too */
	uint8_t *p = (uint8_t *)(m + 1);
	for (unsigned i = 0; i < ncpus; i++) {
		struct acpi_madt_lapic e = { .type = ACPI_MADT_LAPIC, .length = sizeof(e),
					     .processor_uid = (uint8_t)i, .apic_id = (uint8_t)i,
					     .flags = 1 };
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	struct acpi_madt_ioapic io = { .type = ACPI_MADT_IOAPIC, .length = sizeof(io),
				       .ioapic_id = X86_IOAPIC_ID,
				       .address = (uint32_t)X86_IOAPIC_ADDR, .gsi_base = 0 };
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	/* The PIT's IRQ0 is wired to IOAPIC pin 2, as on every PC since the
	 * first IOAPIC boards; KVM's irq routing does the same. */
	struct acpi_madt_iso iso[2] = {
		{ .type = ACPI_MADT_ISO, .length = sizeof(iso[0]), .source = 0, .gsi = 2,
		  .flags = MADT_ISO_EDGE_HIGH },
		{ .type = ACPI_MADT_ISO, .length = sizeof(iso[0]), .source = X86_SCI_IRQ,
		  .gsi = X86_SCI_IRQ, .flags = MADT_ISO_LEVEL_HIGH },
	};
	memcpy(p, iso, sizeof(iso));
	p += sizeof(iso);
	struct acpi_madt_lapic_nmi nmi = { .type = ACPI_MADT_LAPIC_NMI, .length = sizeof(nmi),
					   .processor_uid = 0xff, .flags = 0, .lint = 1 };
	memcpy(p, &nmi, sizeof(nmi));
	seal(&m->h);
	return 0;
}

static void fill_fadt(struct acpi_fadt *f, uint64_t facs, uint64_t dsdt)
{
	header(&f->h, "FACP", sizeof(*f), 6);
	/* The spec wants X_FIRMWARE_CTRL zero when FIRMWARE_CTRL is set (and
	 * ACPICA would install the FACS twice); DSDT and X_DSDT may agree. */
	f->firmware_ctrl = (uint32_t)facs;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->sci_int = X86_SCI_IRQ;
	f->smi_cmd = 0; /* no SMM: ACPI mode is always on */
	f->pm1a_evt_blk = X86_PM1A_EVT_PORT;
	f->pm1a_cnt_blk = X86_PM1A_CNT_PORT;
	f->pm1_evt_len = X86_PM1A_EVT_LEN;
	f->pm1_cnt_len = X86_PM1A_CNT_LEN;
	f->x_pm1a_evt_blk = io_reg(X86_PM1A_EVT_PORT, X86_PM1A_EVT_LEN * 8, GAS_ACCESS_WORD);
	f->x_pm1a_cnt_blk = io_reg(X86_PM1A_CNT_PORT, X86_PM1A_CNT_LEN * 8, GAS_ACCESS_WORD);
	/* Latencies above 100 and 1000 us say "no C2" and "no C3". */
	f->p_lvl2_lat = 101;
	f->p_lvl3_lat = 1001;
	/* No ACPI_BOOT_8042: a VM has no PS/2 keyboard, and without the flag
	 * Linux skips probing for one (a third of a second of port exits
	 * under nested virtualization). The reset register still points at
	 * the i8042's port 0x64, which the VMM keeps for reboots. */
	f->iapc_boot_arch = ACPI_BOOT_LEGACY_DEVICES | ACPI_BOOT_NO_VGA;
	f->flags = ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_SLP_BUTTON | ACPI_FADT_FIX_RTC |
		   ACPI_FADT_RESET_REG_SUP;
	f->reset_reg = io_reg(X86_RESET_PORT, 8, GAS_ACCESS_BYTE);
	f->reset_value = X86_RESET_VALUE;
	f->minor_version = 0;
	seal(&f->h);
}

int acpi_build(void *buf, size_t size, uint64_t base_gpa, unsigned ncpus, size_t *used, char *err,
	       size_t errlen)
{
	struct cursor c = { .buf = buf, .size = size, .off = 0, .gpa = base_gpa };
	uint64_t rsdp_gpa, facs_gpa, dsdt_gpa, fadt_gpa, madt_gpa, mcfg_gpa, xsdt_gpa;

	*used = 0;
	if (ncpus == 0 || ncpus > X86_MAX_VCPUS)
		return x86_fail(err, errlen, -EINVAL, "ACPI: %u vCPUs; kvmbox supports 1 to %u", ncpus,
				X86_MAX_VCPUS);
	if (base_gpa & 15 || base_gpa + size > X86_PCI_HOLE_START || base_gpa + size < base_gpa)
		return x86_fail(err, errlen, -EINVAL, "ACPI: bad table area 0x%llx",
				(unsigned long long)base_gpa);

	struct acpi_rsdp *rsdp = carve(&c, sizeof(*rsdp), 16, &rsdp_gpa);
	struct acpi_facs *facs = carve(&c, sizeof(*facs), 64, &facs_gpa); /* 64-byte aligned by spec */
	uint8_t aml[DSDT_AML_MAX];
	size_t aml_len = acpi_dsdt_aml(aml, sizeof(aml));
	if (!aml_len)
		return x86_fail(err, errlen, -E2BIG, "ACPI: the DSDT outgrew %d bytes", DSDT_AML_MAX);
	size_t dsdt_len = sizeof(struct acpi_header) + aml_len;
	struct acpi_header *dsdt = carve(&c, dsdt_len, 16, &dsdt_gpa);
	struct acpi_fadt *fadt = carve(&c, sizeof(*fadt), 16, &fadt_gpa);
	if (!rsdp || !facs || !dsdt || !fadt || build_madt(&c, ncpus, &madt_gpa))
		goto full;
	size_t mcfg_len = sizeof(struct acpi_header) + 8 + sizeof(struct acpi_mcfg_entry);
	struct acpi_header *mcfg = carve(&c, mcfg_len, 16, &mcfg_gpa);
	uint64_t tables[] = { fadt_gpa, madt_gpa, mcfg_gpa };
	size_t xsdt_len = sizeof(struct acpi_header) + sizeof(tables);
	struct acpi_header *xsdt = carve(&c, xsdt_len, 16, &xsdt_gpa);
	if (!mcfg || !xsdt)
		goto full;

	memcpy(facs->signature, "FACS", 4);
	facs->length = sizeof(*facs);
	facs->version = 2;

	header(dsdt, "DSDT", (uint32_t)dsdt_len, 2);
	memcpy(dsdt + 1, aml, aml_len);
	seal(dsdt);

	fill_fadt(fadt, facs_gpa, dsdt_gpa);

	header(mcfg, "MCFG", (uint32_t)mcfg_len, 1);
	struct acpi_mcfg_entry ecam = { .base = X86_ECAM_BASE, .segment = 0, .start_bus = 0,
					.end_bus = X86_ECAM_BUSES - 1 };
	memcpy((uint8_t *)(mcfg + 1) + 8, &ecam, sizeof(ecam));
	seal(mcfg);

	header(xsdt, "XSDT", (uint32_t)xsdt_len, 1);
	memcpy(xsdt + 1, tables, sizeof(tables));
	seal(xsdt);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt_gpa;
	rsdp->checksum = table_checksum(rsdp, 20);
	rsdp->extended_checksum = table_checksum(rsdp, sizeof(*rsdp));
	*used = c.off;
	return 0;
full:
	return x86_fail(err, errlen, -E2BIG, "ACPI: the tables for %u vCPUs do not fit in %zu bytes",
			ncpus, size);
}
