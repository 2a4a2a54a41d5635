/* The guest's physical memory map, as the e820 BIOS call would report it.
 * The same map feeds the zero page and the PVH start info. */
#ifndef KVMBOX_X86_E820_H
#define KVMBOX_X86_E820_H

#include <stdint.h>

#include "x86/guest_mem.h"

#define E820_MAX_ENTRIES 128 /* what the zero page holds */

/* Entry types from the ACPI spec's address range types. */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct e820_map {
	unsigned n;
	struct e820_entry e[E820_MAX_ENTRIES];
};

/* Append a range; ranges must come in ascending order without overlap.
 * -EINVAL for an empty, wrapping or out-of-order range, -E2BIG when full. */
int e820_add(struct e820_map *m, uint64_t addr, uint64_t size, uint32_t type);

/* The map of a kvmbox VM: RAM below the EBDA, the EBDA and BIOS area
 * reserved, RAM from 1 MiB to the PCI hole, the ECAM window reserved (Linux
 * only trusts MCFG when its window is), RAM from 4 GiB on. */
int e820_build(struct e820_map *m, const struct guest_mem *gm);

#endif
