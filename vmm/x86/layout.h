/* The guest-physical memory map of a kvmbox x86 VM.
 *
 * Everything the VMM writes for the boot sits at fixed low addresses, below
 * 1 MiB, where no kernel is ever loaded (the loaders refuse addresses below
 * X86_KERNEL_MIN_ADDR). Fixed addresses make the tables easy to find in a
 * guest memory dump and need no allocator.
 *
 *   0x00000-0x00fff  real-mode IVT and BIOS data area (only the EBDA pointer
 *                    at 0x40e and the base memory size at 0x413 are set)
 *   0x01000-0x01fff  GDT (X86_GDT_ADDR)
 *   0x02000-0x02fff  PVH hvm_start_info, its memory map and module list
 *   0x03000-0x03fff  zero page: struct boot_params (X86_ZERO_PAGE_ADDR)
 *   0x07000-0x07fff  boot stack; RSP starts at X86_BOOT_STACK_TOP
 *   0x09000-0x09fff  PML4
 *   0x0a000-0x0afff  PDPT
 *   0x0b000-0x0efff  4 page directories: 2 MiB pages for the first 4 GiB
 *   0x20000-0x2ffff  kernel command line (X86_CMDLINE_MAX bytes with NUL)
 *   0x9fc00-0x9ffff  EBDA (empty; reserved in the e820 map)
 *   0xa0000-0xdffff  legacy VGA and option ROM hole (reserved, unused)
 *   0xe0000-0xeffff  ACPI: RSDP first (inside the BIOS scan range), then
 *                    FACS, DSDT, FADT, MADT, MCFG, XSDT (under 6 KiB at 254
 *                    vCPUs; the DSDT's PCI routing table is most of it)
 *   0xf0000-0xfffff  Intel MP table: floating pointer, then config table
 *                    (about 5 KiB at 254 vCPUs)
 *   0x100000-        the kernel, then the initrd as high as allowed
 *
 * Above RAM below 4 GiB:
 *   0xc0000000-0xffffffff  32-bit PCI hole: RAM beyond 3 GiB moves to 4 GiB
 *   0xc0000000-0xdfffffff  PCI 32-bit BAR window (X86_PCI_MEM32_*)
 *   0xe0000000             PCI ECAM, bus 0 only for now (1 MiB)
 *   0xfec00000             IOAPIC (KVM's in-kernel one)
 *   0xfee00000             local APICs
 *
 * High:
 *   0x100000000-           RAM beyond 3 GiB
 *   0x4000000000-0x7fffffffff  PCI 64-bit BAR window (256 GiB at 256 GiB,
 *                    X86_PCI_MEM64_*). It ends at 2^39, the smallest physical
 *                    address width of current x86-64 CPUs, so every guest can
 *                    address it; guest RAM must therefore end below 256 GiB
 *                    (252 GiB of RAM, counting the hole).
 *
 * Ports: 0x0000-0x0fff legacy devices (UART, RTC, i8042, ACPI PM) and the PCI
 * config ports 0xcf8-0xcff; 0x1000-0xffff is the PCI I/O BAR window.
 * The DSDT's \_SB.PCI0._CRS offers the guest exactly these three windows.
 */
#ifndef KVMBOX_X86_LAYOUT_H
#define KVMBOX_X86_LAYOUT_H

#define X86_PAGE_SIZE 0x1000ULL

#define X86_BDA_EBDA_SEG 0x40e      /* BIOS data area: EBDA segment (u16) */
#define X86_BDA_BASE_MEM_KB 0x413   /* BIOS data area: base memory in KiB (u16) */
#define X86_GDT_ADDR 0x1000ULL
#define X86_PVH_INFO_ADDR 0x2000ULL
#define X86_PVH_INFO_SIZE 0x1000ULL
#define X86_ZERO_PAGE_ADDR 0x3000ULL
#define X86_BOOT_STACK_TOP 0x8000ULL
#define X86_PML4_ADDR 0x9000ULL
#define X86_PDPT_ADDR 0xa000ULL
#define X86_PD_ADDR 0xb000ULL       /* X86_PD_COUNT pages */
#define X86_PD_COUNT 4              /* 4 x 1 GiB: the identity map covers 4 GiB */
#define X86_CMDLINE_ADDR 0x20000ULL
#define X86_CMDLINE_MAX 0x10000ULL  /* bytes, including the NUL */
#define X86_EBDA_ADDR 0x9fc00ULL
#define X86_BIOS_AREA_END 0x100000ULL
#define X86_ACPI_ADDR 0xe0000ULL
#define X86_ACPI_SIZE 0x10000ULL
#define X86_MPTABLE_ADDR 0xf0000ULL
#define X86_MPTABLE_SIZE 0x10000ULL
#define X86_KERNEL_MIN_ADDR 0x100000ULL /* nothing of the kernel goes below 1 MiB */

#define X86_PCI_HOLE_START 0xc0000000ULL
#define X86_HIGH_RAM_START 0x100000000ULL
#define X86_ECAM_BASE 0xe0000000ULL
#define X86_ECAM_BUSES 1            /* bus 0 only until the PCI bus grows bridges */
#define X86_ECAM_SIZE (X86_ECAM_BUSES * 0x100000ULL)
#define X86_PCI_MEM32_BASE X86_PCI_HOLE_START
#define X86_PCI_MEM32_SIZE (X86_ECAM_BASE - X86_PCI_HOLE_START)
#define X86_PCI_MEM64_BASE 0x4000000000ULL
#define X86_PCI_MEM64_SIZE 0x4000000000ULL
#define X86_PCI_IO_BASE 0x1000ULL
#define X86_PCI_IO_SIZE 0xf000ULL
#define X86_PCI_GSI_BASE 16         /* INTx of slot s, pin p (0 = INTA): 16 + (s + p) % 8 */
#define X86_PCI_GSI_COUNT 8
#define X86_IOAPIC_ADDR 0xfec00000ULL
#define X86_LAPIC_ADDR 0xfee00000ULL

/* xAPIC ids are 8 bits: 0..253 are the vCPUs (APIC id == vCPU index == KVM
 * vcpu id), 254 is the IOAPIC and 255 is the broadcast id. */
#define X86_MAX_VCPUS 254
#define X86_IOAPIC_ID 254
#define X86_IOAPIC_PINS 24          /* KVM's in-kernel IOAPIC */

/* I/O ports the VMM emulates for ACPI (see acpi.h for what each does). */
#define X86_PM1A_EVT_PORT 0x600     /* 4 bytes: PM1_STS (u16), PM1_EN (u16) */
#define X86_PM1A_EVT_LEN 4
#define X86_PM1A_CNT_PORT 0x604     /* 2 bytes: PM1_CNT */
#define X86_PM1A_CNT_LEN 2
#define X86_RESET_PORT 0x64         /* the i8042 command port ... */
#define X86_RESET_VALUE 0xfe        /* ... and its "pulse reset line" command */
#define X86_SCI_IRQ 9               /* ISA IRQ and GSI of the ACPI SCI, level, active high */
#define X86_S5_SLP_TYP 5            /* SLP_TYP the DSDT's \_S5 asks for */

#endif
