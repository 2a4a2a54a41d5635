/* The PVH boot ABI (described in Xen's docs/misc/pvh.pandoc and its public
 * header arch-x86/hvm/start_info.h): a PVH kernel finds an hvm_start_info in
 * EBX, with a memory map and one module, the initrd. We write version 1,
 * which carries the memory map, so the kernel needs no hypercall for it. */
#ifndef KVMBOX_X86_PVH_H
#define KVMBOX_X86_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "x86/e820.h"

#define PVH_START_MAGIC 0x336ec578u
#define PVH_START_VERSION 1

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct pvh_module {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* the e820 types */
	uint32_t reserved;
};

struct pvh_args {
	uint64_t cmdline_addr;
	uint64_t initrd_addr, initrd_size; /* 0, 0: no module */
	uint64_t rsdp_addr;
	const struct e820_map *e820;
};

/* Lay out start info, module list and memory map in buf, which the guest
 * sees at buf_gpa. -E2BIG if buf is too small. */
int pvh_build(void *buf, size_t size, uint64_t buf_gpa, const struct pvh_args *a);

#endif
