/* The Intel MultiProcessor Specification 1.4 table: how a guest booted with
 * acpi=off (or without ACPI support) finds its CPUs and the IOAPIC.
 *
 * Floating pointer first, then the configuration table: one processor entry
 * per vCPU (APIC id = vCPU index, vCPU 0 the boot processor), one ISA bus,
 * the IOAPIC, ISA IRQs 0-15 on IOAPIC pins (IRQ0 on pin 2, the 8259's
 * ExtINT on pin 0, IRQ2 being the cascade) and LINT0 = ExtINT, LINT1 = NMI.
 * There is no PCI bus entry yet: PCI interrupt routing comes with the bus.
 */
#ifndef KVMBOX_X86_MPTABLE_H
#define KVMBOX_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

struct mp_floating {
	char signature[4]; /* "_MP_" */
	uint32_t config_addr;
	uint8_t length;    /* in 16-byte units: 1 */
	uint8_t spec_rev;  /* 4: version 1.4 */
	uint8_t checksum;
	uint8_t feature[5]; /* all 0: a config table follows; virtual wire mode */
} __attribute__((packed));

struct mp_config {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* base table, with entries */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum, reserved;
} __attribute__((packed));

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINT = 3, MP_LINT = 4 };

struct mp_processor {
	uint8_t type, apic_id, apic_version, flags; /* flags bit 0: enabled, bit 1: boot CPU */
	uint32_t signature, features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type, bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type, apic_id, apic_version, flags;
	uint32_t addr;
} __attribute__((packed));

struct mp_irq { /* both I/O and local interrupt assignment entries */
	uint8_t type, irq_type;
	uint16_t irq_flags;
	uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

#define MP_CPU_ENABLED 1
#define MP_CPU_BOOT 2
#define MP_IRQ_INT 0
#define MP_IRQ_NMI 1
#define MP_IRQ_EXTINT 3
#define MP_ISA_BUS_ID 0

/* Build the table in buf, which the guest sees at base_gpa (16-byte aligned
 * and in 0xf0000-0xfffff, where guests scan for it). ncpus is
 * 1..X86_MAX_VCPUS. *used is set to the bytes written. */
int mptable_build(void *buf, size_t size, uint64_t base_gpa, unsigned ncpus, size_t *used,
		  char *err, size_t errlen);

#endif
