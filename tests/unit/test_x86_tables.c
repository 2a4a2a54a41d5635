/* ACPI and MP tables: checksums, pointers, the vCPU count in MADT and MP
 * table for N = 1, 2, 64 and the maximum, the FADT's ports, the DSDT's \_S5
 * and the limits. Tables are parsed the way a guest would, from the RSDP. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "x86/acpi.h"
#include "x86/irqroute.h"
#include "x86/layout.h"
#include "x86/mptable.h"

#define BASE X86_ACPI_ADDR
static uint8_t area[X86_ACPI_SIZE];
static char err[256];

static int sums_to_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + b[i]);
	return s == 0;
}

/* The table at gpa, if it lies wholly in the area. */
static const void *at(uint64_t gpa, size_t len)
{
	if (gpa < BASE || gpa - BASE > sizeof(area) || len > sizeof(area) - (gpa - BASE))
		return NULL;
	return area + (gpa - BASE);
}

static const struct acpi_header *table(uint64_t gpa)
{
	const struct acpi_header *h = at(gpa, sizeof(*h));
	if (!h || !at(gpa, h->length) || !sums_to_zero(h, h->length))
		return NULL;
	return h;
}

static const uint8_t *find(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

/* The PCI root bridge: \_SB.PCI0 with its ids, windows and routing. */
static void check_dsdt_pci(unsigned n, const uint8_t *aml, size_t len)
{
	char name[128];
#define D(what, cond)                                                                              \
	do {                                                                                       \
		snprintf(name, sizeof(name), "acpi %u cpus: DSDT %s", n, what);                    \
		CHECK(name, cond);                                                                 \
	} while (0)
	static const uint8_t dev[] = { 0x5b, 0x82 }; /* DeviceOp */
	const uint8_t *d = find(aml, len, dev, sizeof(dev));
	D("has Scope (\\_SB) { Device (PCI0) }",
	  find(aml, len, "\x10", 1) && find(aml, len, "\\_SB_", 5) && d && d + 4 + 4 <= aml + len &&
		  find(d, (size_t)(aml + len - d), "PCI0", 4));
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t cid[] = { 0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	D("_HID PNP0A08, _CID PNP0A03", find(aml, len, hid, sizeof(hid)) && find(aml, len, cid, sizeof(cid)));
	static const uint8_t seg[] = { 0x08, '_', 'S', 'E', 'G', 0x00 };
	static const uint8_t bbn[] = { 0x08, '_', 'B', 'B', 'N', 0x00 };
	D("_SEG 0, _BBN 0", find(aml, len, seg, sizeof(seg)) && find(aml, len, bbn, sizeof(bbn)));
	/* The 32-bit window: DWordMemory min 0xc0000000 max 0xdfffffff. */
	static const uint8_t mem32[] = { 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf };
	static const uint8_t cfgio[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	static const uint8_t end[] = { 0x79, 0x00 };
	D("_CRS windows", find(aml, len, "_CRS", 4) && find(aml, len, mem32, sizeof(mem32)) &&
				  find(aml, len, cfgio, sizeof(cfgio)) && find(aml, len, end, sizeof(end)));
	/* The last _PRT entry: slot 31, INTD -> GSI 16 + (31 + 3) % 8 = 18. */
	static const uint8_t last[] = { 0x04, 0x0c, 0xff, 0xff, 0x1f, 0x00, 0x0a, 0x03, 0x00, 0x0a, 18 };
	const uint8_t *prt = find(aml, len, "_PRT", 4);
	D("_PRT has 128 entries, swizzled", prt && prt + 8 <= aml + len && prt[4] == 0x12 && prt[7] == 128 &&
						  find(prt, (size_t)(aml + len - prt), last, sizeof(last)));
	uint8_t small[1024];
	D("AML builder refuses a short buffer", acpi_dsdt_aml(small, sizeof(small)) == 0 &&
							acpi_dsdt_aml(small, 0) == 0);
#undef D
}

static void test_acpi(unsigned n)
{
	char name[128];
	size_t used = 0;
	int rc = acpi_build(area, sizeof(area), BASE, n, &used, err, sizeof(err));
#define C(what, cond)                                                                              \
	do {                                                                                       \
		snprintf(name, sizeof(name), "acpi %u cpus: %s", n, what);                         \
		CHECK(name, cond);                                                                 \
	} while (0)
	C("built", rc == 0 && used > 0 && used <= sizeof(area));
	if (rc) {
		printf("# %s\n", err);
		return;
	}
	const struct acpi_rsdp *rsdp = (const void *)area;
	C("RSDP signature and revision",
	  memcmp(rsdp->signature, "RSD PTR ", 8) == 0 && rsdp->revision == 2 && rsdp->length == 36);
	C("RSDP checksums", sums_to_zero(rsdp, 20) && sums_to_zero(rsdp, 36));
	const struct acpi_header *xsdt = table(rsdp->xsdt_address);
	C("XSDT checksum", xsdt && memcmp(xsdt->signature, "XSDT", 4) == 0);
	if (!xsdt)
		return;
	unsigned entries = (xsdt->length - sizeof(*xsdt)) / 8;
	const struct acpi_fadt *fadt = NULL;
	const struct acpi_madt *madt = NULL;
	const struct acpi_header *mcfg = NULL;
	int all_ok = 1;
	for (unsigned i = 0; i < entries; i++) {
		uint64_t gpa;
		memcpy(&gpa, (const uint8_t *)(xsdt + 1) + 8 * i, 8);
		const struct acpi_header *t = table(gpa);
		all_ok &= t != NULL;
		if (t && !memcmp(t->signature, "FACP", 4))
			fadt = (const void *)t;
		if (t && !memcmp(t->signature, "APIC", 4))
			madt = (const void *)t;
		if (t && !memcmp(t->signature, "MCFG", 4))
			mcfg = t;
	}
	C("XSDT lists FADT, MADT, MCFG with good checksums",
	  all_ok && entries == 3 && fadt && madt && mcfg);
	if (!fadt || !madt || !mcfg)
		return;

	C("FADT revision 6, 276 bytes", fadt->h.revision == 6 && fadt->h.length == 276);
	C("FADT PM1a ports",
	  fadt->pm1a_evt_blk == 0x600 && fadt->pm1_evt_len == 4 && fadt->pm1a_cnt_blk == 0x604 &&
		  fadt->pm1_cnt_len == 2 && fadt->x_pm1a_evt_blk.space_id == 1 &&
		  fadt->x_pm1a_evt_blk.address == 0x600 && fadt->x_pm1a_evt_blk.bit_width == 32 &&
		  fadt->x_pm1a_cnt_blk.address == 0x604 && fadt->x_pm1a_cnt_blk.bit_width == 16);
	C("FADT no PM timer, GPE or SMI", fadt->pm_tmr_blk == 0 && fadt->pm_tmr_len == 0 &&
						  fadt->gpe0_blk == 0 && fadt->smi_cmd == 0);
	C("FADT SCI 9", fadt->sci_int == 9);
	C("FADT reset register",
	  (fadt->flags & ACPI_FADT_RESET_REG_SUP) && fadt->reset_reg.space_id == 1 &&
		  fadt->reset_reg.address == 0x64 && fadt->reset_reg.bit_width == 8 &&
		  fadt->reset_value == 0xfe);
	C("FADT boot arch offers no i8042 (so guests skip the probe)", !(fadt->iapc_boot_arch & ACPI_BOOT_8042));
	C("FADT boot arch allows MSI and ASPM control",
	  !(fadt->iapc_boot_arch & (ACPI_BOOT_MSI_NOT_SUPPORTED | ACPI_BOOT_PCIE_ASPM)));
	const struct acpi_facs *facs = at(fadt->firmware_ctrl, sizeof(*facs));
	C("FACS 64-byte aligned",
	  facs && fadt->x_firmware_ctrl == 0 && fadt->firmware_ctrl % 64 == 0 &&
		  memcmp(facs->signature, "FACS", 4) == 0 && facs->length == 64);
	const struct acpi_header *dsdt = table(fadt->x_dsdt);
	C("DSDT checksum",
	  dsdt && fadt->dsdt == fadt->x_dsdt && memcmp(dsdt->signature, "DSDT", 4) == 0);
	if (dsdt) {
		/* Name(_S5_, Package(4){5, 5, 0, 0}) */
		static const uint8_t s5[] = {0x08, '_',
					     'S',  '5',
					     '_',  0x12,
					     0x08, 0x04,
					     0x0a, X86_S5_SLP_TYP,
					     0x0a, X86_S5_SLP_TYP,
					     0,	   0};
		const uint8_t *aml = (const uint8_t *)(dsdt + 1);
		size_t aml_len = dsdt->length - sizeof(*dsdt);
		C("DSDT starts with _S5_", aml_len > sizeof(s5) && memcmp(aml, s5, sizeof(s5)) == 0);
		check_dsdt_pci(n, aml, aml_len);
		/* By hand: KVMBOX_DSDT_OUT=/tmp/dsdt.dat out/tests/unit/test_x86_tables;
		 * iasl -d /tmp/dsdt.dat (acpica-tools) must disassemble it cleanly. */
		const char *dump = getenv("KVMBOX_DSDT_OUT");
		if (dump && n == 1) {
			FILE *f = fopen(dump, "wb");
			if (f) {
				fwrite(dsdt, 1, dsdt->length, f);
				fclose(f);
			}
		}
	}

	/* MADT: walk the entries like Linux does. */
	const uint8_t *p = (const uint8_t *)(madt + 1),
		      *end = (const uint8_t *)madt + madt->h.length;
	unsigned cpus = 0, ioapics = 0, ids_ok = 1, irq0 = 0, sci = 0, nmi = 0, bad = 0;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == ACPI_MADT_LAPIC) {
			const struct acpi_madt_lapic *l = (const void *)p;
			ids_ok &= l->apic_id == cpus && l->processor_uid == cpus && l->flags == 1 &&
				  l->length == 8;
			cpus++;
		} else if (p[0] == ACPI_MADT_IOAPIC) {
			const struct acpi_madt_ioapic *io = (const void *)p;
			ioapics += io->address == X86_IOAPIC_ADDR && io->gsi_base == 0 &&
				   io->ioapic_id == X86_IOAPIC_ID;
		} else if (p[0] == ACPI_MADT_ISO) {
			const struct acpi_madt_iso *iso = (const void *)p;
			irq0 += iso->source == 0 && iso->gsi == 2 && iso->bus == 0;
			sci += iso->source == 9 && iso->gsi == 9 && iso->flags == 0xd;
		} else if (p[0] == ACPI_MADT_LAPIC_NMI) {
			const struct acpi_madt_lapic_nmi *m = (const void *)p;
			nmi += m->processor_uid == 0xff && m->lint == 1;
		} else {
			bad++;
		}
		p += p[1];
	}
	C("MADT entries parse to the end", p == end && bad == 0);
	C("MADT lists N CPUs with APIC id = index", cpus == n && ids_ok);
	C("MADT LAPIC address and PCAT_COMPAT",
	  madt->lapic_addr == X86_LAPIC_ADDR && madt->flags == 1);
	C("MADT one IOAPIC at 0xfec00000 GSI 0", ioapics == 1);
	C("MADT IRQ0 -> GSI2 override", irq0 == 1);
	C("MADT SCI level high override", sci == 1);
	C("MADT LINT1 NMI", nmi == 1);

	const struct acpi_mcfg_entry *ecam =
		at((uint64_t)(BASE + ((const uint8_t *)(mcfg + 1) - area) + 8), sizeof(*ecam));
	C("MCFG ECAM", mcfg->length == 36 + 8 + 16 && ecam && ecam->base == X86_ECAM_BASE &&
			       ecam->segment == 0 && ecam->start_bus == 0 && ecam->end_bus == 0);
#undef C
}

static void test_acpi_limits(void)
{
	size_t used;
	CHECK("acpi 0 cpus rejected",
	      acpi_build(area, sizeof(area), BASE, 0, &used, err, sizeof(err)) == -EINVAL);
	CHECK("acpi 255 cpus rejected",
	      acpi_build(area, sizeof(area), BASE, 255, &used, err, sizeof(err)) == -EINVAL &&
		      strstr(err, "254"));
	CHECK("acpi small buffer",
	      acpi_build(area, 512, BASE, 4, &used, err, sizeof(err)) == -E2BIG &&
		      strstr(err, "do not fit"));
	CHECK("acpi unaligned base",
	      acpi_build(area, sizeof(area), BASE + 4, 4, &used, err, sizeof(err)) == -EINVAL);
	CHECK("acpi base wraps", acpi_build(area, sizeof(area), UINT64_MAX - 15, 4, &used, err,
					    sizeof(err)) == -EINVAL);
	CHECK("acpi max cpus fit the area",
	      acpi_build(area, sizeof(area), BASE, X86_MAX_VCPUS, &used, err, sizeof(err)) == 0 &&
		      used < X86_ACPI_SIZE);
	printf("# acpi tables for %u vCPUs: %zu bytes\n", X86_MAX_VCPUS, used);
}

static void test_mptable(unsigned n)
{
	static uint8_t mp[X86_MPTABLE_SIZE];
	char name[128];
	size_t used = 0;
	int rc = mptable_build(mp, sizeof(mp), X86_MPTABLE_ADDR, n, &used, err, sizeof(err));
#define C(what, cond)                                                                              \
	do {                                                                                       \
		snprintf(name, sizeof(name), "mptable %u cpus: %s", n, what);                      \
		CHECK(name, cond);                                                                 \
	} while (0)
	C("built", rc == 0);
	if (rc) {
		printf("# %s\n", err);
		return;
	}
	const struct mp_floating *mpf = (const void *)mp;
	C("floating pointer", memcmp(mpf->signature, "_MP_", 4) == 0 && mpf->length == 1 &&
				      mpf->spec_rev == 4 && sums_to_zero(mpf, 16) &&
				      mpf->config_addr == X86_MPTABLE_ADDR + 16 &&
				      mpf->feature[0] == 0);
	const struct mp_config *mpc = (const void *)(mp + (mpf->config_addr - X86_MPTABLE_ADDR));
	C("config table checksum", memcmp(mpc->signature, "PCMP", 4) == 0 && mpc->spec_rev == 4 &&
					   (size_t)mpc->length + 16 == used &&
					   sums_to_zero(mpc, mpc->length) &&
					   mpc->lapic_addr == X86_LAPIC_ADDR);
	const uint8_t *p = (const uint8_t *)(mpc + 1), *end = (const uint8_t *)mpc + mpc->length;
	unsigned cpus = 0, boot = 0, ids_ok = 1, buses = 0, ioapics = 0, ints = 0, lints = 0,
		 count = 0;
	unsigned irq0_pin2 = 0, extint_pin0 = 0, bad = 0;
	while (p < end && !bad) {
		count++;
		switch (p[0]) {
		case MP_PROCESSOR: {
			const struct mp_processor *c = (const void *)p;
			ids_ok &= c->apic_id == cpus && (c->flags & MP_CPU_ENABLED);
			boot += (c->flags & MP_CPU_BOOT) != 0 && cpus == 0;
			cpus++;
			p += sizeof(*c);
			break;
		}
		case MP_BUS:
			buses += memcmp(((const struct mp_bus *)p)->bus_type, "ISA   ", 6) == 0;
			p += sizeof(struct mp_bus);
			break;
		case MP_IOAPIC:
			ioapics += ((const struct mp_ioapic *)p)->addr == X86_IOAPIC_ADDR &&
				   ((const struct mp_ioapic *)p)->apic_id == X86_IOAPIC_ID;
			p += sizeof(struct mp_ioapic);
			break;
		case MP_IOINT: {
			const struct mp_irq *e = (const void *)p;
			ints++;
			irq0_pin2 +=
				e->irq_type == MP_IRQ_INT && e->src_irq == 0 && e->dst_pin == 2;
			extint_pin0 += e->irq_type == MP_IRQ_EXTINT && e->dst_pin == 0;
			p += sizeof(*e);
			break;
		}
		case MP_LINT:
			lints++;
			p += sizeof(struct mp_irq);
			break;
		default:
			bad = 1;
		}
	}
	C("entries parse to the end", !bad && p == end && count == mpc->entry_count);
	C("N processors, APIC id = index", cpus == n && ids_ok);
	C("one boot processor, the first", boot == 1);
	C("ISA bus and IOAPIC", buses == 1 && ioapics == 1);
	C("ISA interrupts", ints == 16 && irq0_pin2 == 1 && extint_pin0 == 1 && lints == 2);
#undef C
}

static void test_mptable_limits(void)
{
	static uint8_t mp[X86_MPTABLE_SIZE];
	size_t used;
	CHECK("mptable 0 cpus rejected", mptable_build(mp, sizeof(mp), X86_MPTABLE_ADDR, 0, &used,
						       err, sizeof(err)) == -EINVAL);
	CHECK("mptable 255 cpus rejected", mptable_build(mp, sizeof(mp), X86_MPTABLE_ADDR, 255,
							 &used, err, sizeof(err)) == -EINVAL);
	CHECK("mptable small buffer",
	      mptable_build(mp, 256, X86_MPTABLE_ADDR, 8, &used, err, sizeof(err)) == -E2BIG);
	CHECK("mptable max cpus fit", mptable_build(mp, sizeof(mp), X86_MPTABLE_ADDR, X86_MAX_VCPUS,
						    &used, err, sizeof(err)) == 0);
	printf("# MP table for %u vCPUs: %zu bytes\n", X86_MAX_VCPUS, used);
}

/* The routing must agree with the tables: ISA IRQ0 (KVM GSI 0, the PIT) on
 * IOAPIC pin 2, the rest identity. */
static void test_irqroute(void)
{
	struct kvm_irq_routing_entry e[64];
	unsigned n = 0;
	int pin_of[64], pic_of[16], dup = 0;

	CHECK("irqroute short buffer", irqroute_build(e, 10, &n) == -E2BIG && n == 0);
	CHECK("irqroute built", irqroute_build(e, 64, &n) == 0 && n == IRQROUTE_ENTRIES);
	memset(pin_of, -1, sizeof(pin_of));
	memset(pic_of, -1, sizeof(pic_of));
	for (unsigned i = 0; i < n; i++) {
		if (e[i].type != KVM_IRQ_ROUTING_IRQCHIP || e[i].gsi >= 64)
			continue;
		if (e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
			dup += pin_of[e[i].gsi] != -1;
			pin_of[e[i].gsi] = (int)e[i].u.irqchip.pin;
		} else if (e[i].gsi < 16) {
			pic_of[e[i].gsi] =
				(int)(e[i].u.irqchip.pin +
				      (e[i].u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE ? 8 : 0));
		}
	}
	int ident = 1;
	for (int g = 1; g < X86_IOAPIC_PINS; g++)
		if (g != 2)
			ident &= pin_of[g] == g;
	CHECK("irqroute PIT GSI 0 -> IOAPIC pin 2", pin_of[0] == 2 && pin_of[2] == -1 && !dup);
	CHECK("irqroute IOAPIC identity elsewhere", ident);
	CHECK("irqroute SCI on pin 9 and PIC 9",
	      pin_of[X86_SCI_IRQ] == X86_SCI_IRQ && pic_of[9] == 9);
	struct kvm_irq_routing *r = NULL;
	CHECK("irqroute alloc", irqroute_alloc(&r) == 0 && r && r->nr == IRQROUTE_ENTRIES &&
					memcmp(r->entries, e, n * sizeof(e[0])) == 0);
	free(r);
	CHECK("irqroute PIC identity, no cascade",
	      pic_of[0] == 0 && pic_of[4] == 4 && pic_of[15] == 15 && pic_of[2] == -1);
}

int main(void)
{
	static const unsigned ns[] = {1, 2, 64, X86_MAX_VCPUS};
	for (unsigned i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		test_acpi(ns[i]);
		test_mptable(ns[i]);
	}
	test_acpi_limits();
	test_mptable_limits();
	test_irqroute();
	return CHECK_DONE();
}
