/* Building the MP table (Intel MultiProcessor Specification 1.4). */
#include <errno.h>
#include <string.h>

#include "x86/checksum.h"
#include "x86/fail.h"
#include "x86/layout.h"
#include "x86/mptable.h"

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mp_config) == 44, "MP config table header is 44 bytes");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry is 20 bytes");

#define MP_LAPIC_VERSION 0x14   /* an integrated xAPIC, as KVM's reports */
#define MP_IOAPIC_VERSION 0x11  /* KVM's in-kernel IOAPIC */
#define MP_CPU_SIGNATURE 0x600  /* family 6; Linux only prints it */
#define MP_CPU_FEATURES 0x201   /* FPU and APIC present */
#define MP_ISA_IRQS 16
#define MP_ALL_LAPICS 0xff

/* Entries after the header: CPUs, the bus, the IOAPIC, ExtINT plus 15 ISA
 * IRQs (IRQ2 has no entry of its own), and two local interrupts. */
static size_t table_size(unsigned ncpus)
{
	return sizeof(struct mp_config) + ncpus * sizeof(struct mp_processor) +
	       sizeof(struct mp_bus) + sizeof(struct mp_ioapic) +
	       MP_ISA_IRQS * sizeof(struct mp_irq) + 2 * sizeof(struct mp_irq);
}

static uint8_t *put(uint8_t *p, const void *e, size_t len)
{
	memcpy(p, e, len);
	return p + len;
}

int mptable_build(void *buf, size_t size, uint64_t base_gpa, unsigned ncpus, size_t *used,
		  char *err, size_t errlen)
{
	*used = 0;
	if (ncpus == 0 || ncpus > X86_MAX_VCPUS)
		return x86_fail(err, errlen, -EINVAL, "MP table: %u vCPUs; kvmbox supports 1 to %u",
				ncpus, X86_MAX_VCPUS);
	if (base_gpa & 15 || base_gpa > UINT32_MAX - size)
		return x86_fail(err, errlen, -EINVAL, "MP table: bad table area 0x%llx",
				(unsigned long long)base_gpa);
	size_t total = sizeof(struct mp_floating) + table_size(ncpus);
	if (total > size)
		return x86_fail(err, errlen, -E2BIG,
				"MP table: %zu bytes for %u vCPUs do not fit in %zu", total, ncpus, size);
	memset(buf, 0, total);

	struct mp_floating *mpf = buf;
	struct mp_config *mpc = (struct mp_config *)(mpf + 1);
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint16_t count = 0;

	for (unsigned i = 0; i < ncpus; i++, count++) {
		struct mp_processor cpu = {
			.type = MP_PROCESSOR, .apic_id = (uint8_t)i, .apic_version = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BOOT : 0),
			.signature = MP_CPU_SIGNATURE, .features = MP_CPU_FEATURES,
		};
		p = put(p, &cpu, sizeof(cpu));
	}
	struct mp_bus bus = { .type = MP_BUS, .bus_id = MP_ISA_BUS_ID };
	memcpy(bus.bus_type, "ISA   ", 6);
	p = put(p, &bus, sizeof(bus));
	count++;
	struct mp_ioapic io = { .type = MP_IOAPIC, .apic_id = X86_IOAPIC_ID,
				.apic_version = MP_IOAPIC_VERSION, .flags = 1,
				.addr = (uint32_t)X86_IOAPIC_ADDR };
	p = put(p, &io, sizeof(io));
	count++;
	for (unsigned irq = 0; irq < MP_ISA_IRQS; irq++) {
		/* Entry for IRQ 2 is the 8259's ExtINT on pin 0: IRQ0 took pin 2. */
		struct mp_irq e = { .type = MP_IOINT, .irq_type = MP_IRQ_INT, .src_bus = MP_ISA_BUS_ID,
				    .src_irq = (uint8_t)irq, .dst_apic = X86_IOAPIC_ID,
				    .dst_pin = (uint8_t)irq };
		if (irq == 0)
			e.dst_pin = 2;
		if (irq == 2) {
			e.irq_type = MP_IRQ_EXTINT;
			e.src_irq = 0;
			e.dst_pin = 0;
		}
		p = put(p, &e, sizeof(e));
		count++;
	}
	struct mp_irq lint[2] = {
		{ .type = MP_LINT, .irq_type = MP_IRQ_EXTINT, .src_bus = MP_ISA_BUS_ID,
		  .dst_apic = MP_ALL_LAPICS, .dst_pin = 0 },
		{ .type = MP_LINT, .irq_type = MP_IRQ_NMI, .src_bus = MP_ISA_BUS_ID,
		  .dst_apic = MP_ALL_LAPICS, .dst_pin = 1 },
	};
	put(p, lint, sizeof(lint));
	count += 2;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)table_size(ncpus);
	mpc->spec_rev = 4;
	memcpy(mpc->oem_id, "KVMBOX  ", 8);
	memcpy(mpc->product_id, "KVMBOX VM   ", 12);
	mpc->entry_count = count;
	mpc->lapic_addr = (uint32_t)X86_LAPIC_ADDR;
	mpc->checksum = table_checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->config_addr = (uint32_t)(base_gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = 4;
	mpf->checksum = table_checksum(mpf, sizeof(*mpf));
	*used = total;
	return 0;
}
