/* The boot vCPU's register state at the kernel's entry. */
#ifndef KVMBOX_X86_ENTRY_H
#define KVMBOX_X86_ENTRY_H

#include <linux/kvm.h>
#include <stdint.h>

#include "x86/loader.h"

#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_ET (1ULL << 4)
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)
#define X86_RFLAGS_RESERVED (1ULL << 1) /* bit 1 always reads 1; IF stays clear */

/* Set up the boot vCPU for entry at `entry`:
 *  LOADER_ENTRY_64: long mode with the identity map (CR3 = X86_PML4_ADDR),
 *    CS = 0x10, DS/ES/SS = 0x18, RSI = params (the zero page), as the 64-bit
 *    boot protocol says;
 *  LOADER_ENTRY_PVH: 32-bit protected mode without paging, flat CS/DS/ES/SS,
 *    TR a busy 32-bit TSS, EBX = params (hvm_start_info), per the PVH ABI.
 * Interrupts are off in both. Only the fields that matter are changed in
 * sregs, so pass what KVM_GET_SREGS returned (APIC base, ...) and give the
 * result to KVM_SET_SREGS; regs is cleared first. The GDT and page tables
 * must have been written (x86_boot_setup does). The other vCPUs are left in
 * KVM's reset state: the guest wakes them with INIT/SIPI. */
int entry_set_regs(enum loader_entry kind, uint64_t entry, uint64_t params,
		   struct kvm_sregs *sregs, struct kvm_regs *regs);

#endif
