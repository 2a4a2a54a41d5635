/* The zero page (struct boot_params) for the 64-bit boot protocol. */
#ifndef KVMBOX_X86_BOOTPARAMS_H
#define KVMBOX_X86_BOOTPARAMS_H

#include <asm/bootparam.h>
#include <stdint.h>

#include "x86/e820.h"
#include "x86/loader.h"

#define BOOTPARAMS_LOADER_ID 0xff /* type_of_loader: "undefined", as boot.rst asks of new loaders */
#define BOOTPARAMS_HEAP_END 0xfe00 /* the real-mode setup's heap end in its 64 KiB segment */

struct bootparams_args {
	uint64_t cmdline_addr;
	uint64_t initrd_addr, initrd_size; /* 0, 0: no initrd */
	uint64_t rsdp_addr;
	const struct e820_map *e820;
};

/* Fill bp (cleared first): the kernel's own setup header (a made-up one for
 * an ELF kernel), loader fields, command line, initrd, e820 and RSDP. */
int bootparams_build(struct boot_params *bp, const struct loader_kernel *k,
		     const struct bootparams_args *a);

#endif
