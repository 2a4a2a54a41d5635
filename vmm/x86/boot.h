/* Everything the x86 VMM does to guest RAM before the first KVM_RUN, in one
 * call: kernel, initrd, command line, boot parameters (zero page or PVH start
 * info), e820 map, ACPI and MP tables, page tables and GDT. Then
 * x86_boot_regs() gives the boot vCPU's registers.
 *
 *   struct x86_boot b;
 *   if (x86_boot_setup(&gm, &cfg, &b, err, sizeof(err)) < 0) -> print err, exit
 *   KVM_GET_SREGS(bsp, &sregs); x86_boot_regs(&b, &sregs, &regs);
 *   KVM_SET_SREGS(bsp, &sregs); KVM_SET_REGS(bsp, &regs);
 */
#ifndef KVMBOX_X86_BOOT_H
#define KVMBOX_X86_BOOT_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "x86/guest_mem.h"
#include "x86/loader.h"

struct x86_boot_config {
	const void *kernel;   /* the kernel file's bytes (e.g. mmap'ed read-only) */
	size_t kernel_size;
	const void *initrd;   /* NULL and 0: none */
	size_t initrd_size;
	const char *cmdline;  /* NULL: empty */
	unsigned ncpus;       /* 1..X86_MAX_VCPUS */
};

struct x86_boot {
	struct loader_kernel kernel; /* format, entry and where the kernel went */
	uint64_t initrd_addr, initrd_size;
	uint64_t cmdline_addr;
	uint64_t rsdp_addr;
	uint64_t params_addr; /* the zero page (64-bit entry) or hvm_start_info (PVH) */
};

/* Lay out the guest for booting cfg. On failure err holds one line naming
 * the input at fault, e.g. "initrd (300000000 bytes) does not fit ...". */
int x86_boot_setup(const struct guest_mem *gm, const struct x86_boot_config *cfg,
		   struct x86_boot *b, char *err, size_t errlen);

/* The boot vCPU's registers for b's entry; see entry_set_regs(). */
int x86_boot_regs(const struct x86_boot *b, struct kvm_sregs *sregs, struct kvm_regs *regs);

#endif
