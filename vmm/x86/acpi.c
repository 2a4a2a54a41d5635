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

/* \_S5: Name (_S5, Package (4) { S5, S5, Zero, Zero }): the SLP_TYP values
 * for PM1a and PM1b. Hand-assembled AML; it is the whole DSDT. */
static const uint8_t dsdt_aml[] = {
	AML_NAME_OP, '_', 'S', '5', '_',
	AML_PACKAGE_OP, 0x08 /* PkgLength: these 8 bytes */, 0x04 /* elements */,
	AML_BYTE_PREFIX, X86_S5_SLP_TYP, AML_BYTE_PREFIX, X86_S5_SLP_TYP, AML_ZERO_OP, AML_ZERO_OP,
};

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
	size_t dsdt_len = sizeof(struct acpi_header) + sizeof(dsdt_aml);
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
	memcpy(dsdt + 1, dsdt_aml, sizeof(dsdt_aml));
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
