/* ACPI tables for a kvmbox VM: RSDP (v2), XSDT, FADT, FACS, DSDT, MADT, MCFG.
 *
 * The machine they describe is a classic (not hardware-reduced) PC:
 *  - PM1a event block at I/O port X86_PM1A_EVT_PORT (0x600, 4 bytes: PM1_STS
 *    then PM1_EN, 16 bits each) and PM1a control at X86_PM1A_CNT_PORT
 *    (0x604, 16 bits). SMI_CMD is 0, so the OS finds ACPI already enabled;
 *    reads of PM1_CNT should return SCI_EN (bit 0) set.
 *  - Poweroff: the guest writes SLP_TYP = X86_S5_SLP_TYP (bits 12:10) with
 *    SLP_EN (bit 13) to PM1a_CNT, as the DSDT's \_S5 package says.
 *  - Reset: the FADT reset register is I/O port 0x64 with value 0xfe, the
 *    i8042's reset command, so ACPI reboot and the kernel's keyboard-
 *    controller fallback end in the same device.
 *  - SCI: ISA IRQ 9 = GSI 9, level, active high (a MADT override says so);
 *    the VMM raises it while PM1_STS & PM1_EN is non-zero, e.g. PWRBTN_STS
 *    (bit 8) for a power-button press. No PM timer, no GPE blocks.
 *  - MADT: one local APIC per vCPU (APIC id = vCPU index), the IOAPIC at
 *    X86_IOAPIC_ADDR with GSI base 0, IRQ0 -> GSI2, LINT1 = NMI. KVM's
 *    default routing disagrees about IRQ0: install irqroute.h's table.
 *  - MCFG: ECAM at X86_ECAM_BASE for buses 0..X86_ECAM_BUSES-1.
 */
#ifndef KVMBOX_X86_ACPI_H
#define KVMBOX_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_OEM_ID "KVMBOX"
#define ACPI_OEM_TABLE_ID "KVMBOXVM"

/* FADT fixed-feature bits used (ACPI spec, FADT Flags and IAPC_BOOT_ARCH). */
#define ACPI_FADT_WBINVD (1u << 0)
#define ACPI_FADT_PROC_C1 (1u << 2)
#define ACPI_FADT_SLP_BUTTON (1u << 5) /* set: there is no sleep button */
#define ACPI_FADT_FIX_RTC (1u << 6)    /* set: no RTC wake status in PM1 */
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_BOOT_LEGACY_DEVICES (1u << 0)
#define ACPI_BOOT_8042 (1u << 1)
#define ACPI_BOOT_NO_VGA (1u << 2)
#define ACPI_BOOT_MSI_NOT_SUPPORTED (1u << 3) /* never set: guests use MSI-X */
#define ACPI_BOOT_PCIE_ASPM (1u << 4)         /* never set: "OS must not touch ASPM" */
#define ACPI_PM1_SCI_EN (1u << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7u << 10)
#define ACPI_PM1_SLP_EN (1u << 13)
#define ACPI_PM1_PWRBTN (1u << 8)      /* PWRBTN_STS / PWRBTN_EN */

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;  /* over the first 20 bytes */
	char oem_id[6];
	uint8_t revision;  /* 2: has the XSDT */
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_gas { /* generic address structure */
	uint8_t space_id; /* 0 memory, 1 I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size; /* 1 byte, 2 word, 3 dword, 4 qword */
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt { /* revision 6, 276 bytes */
	struct acpi_header h;
	uint32_t firmware_ctrl, dsdt;
	uint8_t reserved0, preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
	uint32_t gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len;
	uint8_t gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl, x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved[3];
	uint32_t ospm_flags;
	uint8_t reserved2[24];
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_addr;
	uint32_t flags; /* bit 0: PCAT_COMPAT, there are 8259 PICs too */
} __attribute__((packed));

enum { ACPI_MADT_LAPIC = 0, ACPI_MADT_IOAPIC = 1, ACPI_MADT_ISO = 2, ACPI_MADT_LAPIC_NMI = 4 };

struct acpi_madt_lapic {
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags; /* bit 0: enabled */
} __attribute__((packed));

struct acpi_madt_ioapic {
	uint8_t type, length, ioapic_id, reserved;
	uint32_t address, gsi_base;
} __attribute__((packed));

struct acpi_madt_iso { /* interrupt source override */
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags; /* bits 1:0 polarity (1 high, 3 low), 3:2 trigger (1 edge, 3 level) */
} __attribute__((packed));

struct acpi_madt_lapic_nmi {
	uint8_t type, length, processor_uid; /* 0xff: all processors */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

struct acpi_mcfg_entry {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus, end_bus;
	uint32_t reserved;
} __attribute__((packed));

/* Build all tables in buf, which the guest sees at base_gpa; the RSDP comes
 * first (at base_gpa), so base_gpa must be 16-byte aligned, and inside
 * 0xe0000-0xfffff for guests that scan for it. ncpus is 1..X86_MAX_VCPUS.
 * *used is set to the bytes written. -EINVAL or -E2BIG with a reason. */
int acpi_build(void *buf, size_t size, uint64_t base_gpa, unsigned ncpus, size_t *used, char *err,
	       size_t errlen);

/* The DSDT's AML body (what follows its header): \_S5 and the PCI root
 * bridge \_SB.PCI0 with its _CRS windows and _PRT. Returns the length, or 0
 * when size is too small. */
size_t acpi_dsdt_aml(uint8_t *buf, size_t size);

#endif
