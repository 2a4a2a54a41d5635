/* Register state for the 64-bit boot protocol and for PVH. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "x86/entry.h"
#include "x86/gdt.h"
#include "x86/layout.h"

int entry_set_regs(enum loader_entry kind, uint64_t entry, uint64_t params,
		   struct kvm_sregs *sregs, struct kvm_regs *regs)
{
	bool long_mode = kind == LOADER_ENTRY_64;
	struct kvm_segment code, data, tr;

	if (kind != LOADER_ENTRY_64 && kind != LOADER_ENTRY_PVH)
		return -EINVAL;
	if (!long_mode && (entry > UINT32_MAX || params > UINT32_MAX))
		return -EINVAL;
	uint16_t cs = long_mode ? GDT_SEL_CODE64 : GDT_SEL_CODE32;
	gdt_segment(gdt_entry(cs / 8), cs, &code);
	gdt_segment(gdt_entry(GDT_SEL_DATA / 8), GDT_SEL_DATA, &data);
	gdt_segment(gdt_entry(GDT_SEL_TSS / 8), GDT_SEL_TSS, &tr);

	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = tr;
	sregs->gdt.base = X86_GDT_ADDR;
	sregs->gdt.limit = GDT_ENTRIES * 8 - 1;
	/* No IDT: interrupts are off and the kernel loads its own at once; a
	 * fault before that is a triple fault, which KVM reports. */
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	if (long_mode) {
		sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
		sregs->cr3 = X86_PML4_ADDR;
		sregs->cr4 = X86_CR4_PAE;
		sregs->efer = X86_EFER_LME | X86_EFER_LMA;
	} else {
		sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
	}

	memset(regs, 0, sizeof(*regs));
	regs->rflags = X86_RFLAGS_RESERVED;
	regs->rip = entry;
	regs->rsp = X86_BOOT_STACK_TOP;
	if (long_mode)
		regs->rsi = params;
	else
		regs->rbx = params;
	return 0;
}
