/* Building the PVH start info page. */
#include <errno.h>
#include <string.h>

#include "x86/pvh.h"

_Static_assert(sizeof(struct pvh_start_info) == 56, "hvm_start_info is 56 bytes");
_Static_assert(sizeof(struct pvh_module) == 32, "hvm_modlist_entry is 32 bytes");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "hvm_memmap_table_entry is 24 bytes");

int pvh_build(void *buf, size_t size, uint64_t buf_gpa, const struct pvh_args *a)
{
	const size_t mod_off = sizeof(struct pvh_start_info);
	const size_t map_off = mod_off + sizeof(struct pvh_module);
	unsigned n = a->e820->n;

	if (n > E820_MAX_ENTRIES || size < map_off + n * sizeof(struct pvh_memmap_entry))
		return -E2BIG;
	memset(buf, 0, size);
	struct pvh_start_info *si = buf;
	struct pvh_module *mod = (struct pvh_module *)((uint8_t *)buf + mod_off);
	struct pvh_memmap_entry *map = (struct pvh_memmap_entry *)((uint8_t *)buf + map_off);

	si->magic = PVH_START_MAGIC;
	si->version = PVH_START_VERSION;
	si->cmdline_paddr = a->cmdline_addr;
	si->rsdp_paddr = a->rsdp_addr;
	if (a->initrd_size) {
		mod->paddr = a->initrd_addr;
		mod->size = a->initrd_size;
		si->nr_modules = 1;
		si->modlist_paddr = buf_gpa + mod_off;
	}
	for (unsigned i = 0; i < n; i++)
		map[i] = (struct pvh_memmap_entry){
			.addr = a->e820->e[i].addr, .size = a->e820->e[i].size, .type = a->e820->e[i].type
		};
	si->memmap_paddr = buf_gpa + map_off;
	si->memmap_entries = n;
	return 0;
}
