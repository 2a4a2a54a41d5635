/* Building the e820 memory map from the guest memory layout. */
#include <errno.h>
#include <string.h>

#include "x86/e820.h"
#include "x86/layout.h"

int e820_add(struct e820_map *m, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0 || addr + size < addr)
		return -EINVAL;
	if (m->n) {
		const struct e820_entry *last = &m->e[m->n - 1];
		if (addr < last->addr + last->size)
			return -EINVAL;
	}
	if (m->n >= E820_MAX_ENTRIES)
		return -E2BIG;
	m->e[m->n++] = (struct e820_entry){ .addr = addr, .size = size, .type = type };
	return 0;
}

int e820_build(struct e820_map *m, const struct guest_mem *gm)
{
	uint64_t low_end = guest_mem_low_end(gm);
	int rc;

	memset(m, 0, sizeof(*m));
	if (low_end < X86_BIOS_AREA_END)
		return -EINVAL;
	if ((rc = e820_add(m, 0, X86_EBDA_ADDR, E820_RAM)) ||
	    (rc = e820_add(m, X86_EBDA_ADDR, X86_BIOS_AREA_END - X86_EBDA_ADDR, E820_RESERVED)))
		return rc;
	if (low_end > X86_BIOS_AREA_END &&
	    (rc = e820_add(m, X86_BIOS_AREA_END, low_end - X86_BIOS_AREA_END, E820_RAM)))
		return rc;
	if ((rc = e820_add(m, X86_ECAM_BASE, X86_ECAM_SIZE, E820_RESERVED)))
		return rc;
	for (unsigned i = 1; i < gm->nregions; i++)
		if ((rc = e820_add(m, gm->region[i].gpa, gm->region[i].size, E820_RAM)))
			return rc;
	return 0;
}
