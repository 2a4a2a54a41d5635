/* Identity-mapped page tables for the 64-bit entry. */
#ifndef KVMBOX_X86_PAGETABLES_H
#define KVMBOX_X86_PAGETABLES_H

#include <stdint.h>

#include "x86/guest_mem.h"

#define PTE_PRESENT (1ULL << 0)
#define PTE_WRITE (1ULL << 1)
#define PTE_PS (1ULL << 7) /* in a page directory entry: a 2 MiB page */
#define PAGETABLES_MAPPED (X86_PD_COUNT * (1ULL << 30))

/* Write PML4, PDPT and page directories at their fixed low addresses (see
 * layout.h), mapping [0, 4 GiB) to itself with 2 MiB pages. 2 MiB pages work
 * on every x86-64 CPU, where 1 GiB pages need pdpe1gb; 4 GiB covers the
 * kernel, its init_size room, the zero page and the command line, as the
 * 64-bit boot protocol requires, wherever they sit below the PCI hole. */
int pagetables_build(const struct guest_mem *gm);

#endif
