/* The boot GDT, and KVM segment registers that match it. */
#ifndef KVMBOX_X86_GDT_H
#define KVMBOX_X86_GDT_H

#include <linux/kvm.h>
#include <stdint.h>

#include "x86/guest_mem.h"

/* Selectors. The 64-bit boot protocol fixes __BOOT_CS = 0x10 and
 * __BOOT_DS = 0x18; PVH only asks for a flat 32-bit code segment. */
#define GDT_SEL_CODE32 0x08
#define GDT_SEL_CODE64 0x10
#define GDT_SEL_DATA 0x18
#define GDT_SEL_TSS 0x20 /* a 16-byte system descriptor: entries 4 and 5 */
#define GDT_ENTRIES 6

/* The descriptor at GDT index i (0 beyond the table). */
uint64_t gdt_entry(unsigned i);

/* Write the GDT at X86_GDT_ADDR. */
int gdt_build(const struct guest_mem *gm);

/* The hidden segment state a CPU would load from descriptor desc. */
void gdt_segment(uint64_t desc, uint16_t selector, struct kvm_segment *seg);

#endif
