/* Putting the boot pieces together in guest RAM. */
#include <asm/bootparam.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "x86/acpi.h"
#include "x86/boot.h"
#include "x86/bootparams.h"
#include "x86/e820.h"
#include "x86/entry.h"
#include "x86/fail.h"
#include "x86/gdt.h"
#include "x86/layout.h"
#include "x86/mptable.h"
#include "x86/pagetables.h"
#include "x86/pvh.h"

_Static_assert(sizeof(struct boot_params) == X86_PAGE_SIZE, "the zero page is one page");

/* Guests that look for the EBDA (e.g. to scan it for tables) read its
 * segment and the base memory size from the BIOS data area. */
static int bda_build(const struct guest_mem *gm)
{
	uint16_t ebda_seg = (uint16_t)(X86_EBDA_ADDR >> 4);
	uint16_t base_kb = (uint16_t)(X86_EBDA_ADDR >> 10);
	if (guest_mem_write(gm, X86_BDA_EBDA_SEG, &ebda_seg, sizeof(ebda_seg)) ||
	    guest_mem_write(gm, X86_BDA_BASE_MEM_KB, &base_kb, sizeof(base_kb)))
		return -EFAULT;
	return 0;
}

static int tables_build(const struct guest_mem *gm, unsigned ncpus, char *err, size_t errlen)
{
	void *acpi = guest_mem_ptr(gm, X86_ACPI_ADDR, X86_ACPI_SIZE);
	void *mp = guest_mem_ptr(gm, X86_MPTABLE_ADDR, X86_MPTABLE_SIZE);
	size_t used;
	if (!acpi || !mp)
		return x86_fail(err, errlen, -EFAULT, "firmware tables: low memory is not RAM");
	int rc = acpi_build(acpi, X86_ACPI_SIZE, X86_ACPI_ADDR, ncpus, &used, err, errlen);
	if (rc)
		return rc;
	return mptable_build(mp, X86_MPTABLE_SIZE, X86_MPTABLE_ADDR, ncpus, &used, err, errlen);
}

static int params_build(const struct guest_mem *gm, struct x86_boot *b, const struct e820_map *map,
			char *err, size_t errlen)
{
	if (b->kernel.entry_kind == LOADER_ENTRY_PVH) {
		struct pvh_args a = { .cmdline_addr = b->cmdline_addr, .initrd_addr = b->initrd_addr,
				      .initrd_size = b->initrd_size, .rsdp_addr = b->rsdp_addr,
				      .e820 = map };
		void *p = guest_mem_ptr(gm, X86_PVH_INFO_ADDR, X86_PVH_INFO_SIZE);
		if (!p || pvh_build(p, X86_PVH_INFO_SIZE, X86_PVH_INFO_ADDR, &a))
			return x86_fail(err, errlen, -E2BIG, "PVH start info does not fit");
		b->params_addr = X86_PVH_INFO_ADDR;
		return 0;
	}
	struct bootparams_args a = { .cmdline_addr = b->cmdline_addr, .initrd_addr = b->initrd_addr,
				     .initrd_size = b->initrd_size, .rsdp_addr = b->rsdp_addr,
				     .e820 = map };
	struct boot_params *bp = guest_mem_ptr(gm, X86_ZERO_PAGE_ADDR, sizeof(*bp));
	if (!bp || bootparams_build(bp, &b->kernel, &a))
		return x86_fail(err, errlen, -EINVAL, "zero page: cannot build boot_params");
	b->params_addr = X86_ZERO_PAGE_ADDR;
	return 0;
}

int x86_boot_setup(const struct guest_mem *gm, const struct x86_boot_config *cfg,
		   struct x86_boot *b, char *err, size_t errlen)
{
	struct e820_map map;
	int rc;

	memset(b, 0, sizeof(*b));
	if (cfg->ncpus == 0 || cfg->ncpus > X86_MAX_VCPUS)
		return x86_fail(err, errlen, -EINVAL, "%u vCPUs: kvmbox supports 1 to %u", cfg->ncpus,
				X86_MAX_VCPUS);
	if (!cfg->kernel || cfg->kernel_size == 0)
		return x86_fail(err, errlen, -EINVAL, "kernel: the file is empty");
	if (cfg->initrd_size && !cfg->initrd)
		return x86_fail(err, errlen, -EINVAL, "initrd: no data");
	if ((rc = loader_load(gm, cfg->kernel, cfg->kernel_size, &b->kernel, err, errlen)))
		return rc;
	if ((rc = loader_place_initrd(gm, &b->kernel, cfg->initrd_size, &b->initrd_addr, err,
				      errlen)))
		return rc;
	b->initrd_size = cfg->initrd_size;
	if (guest_mem_write(gm, b->initrd_addr, cfg->initrd, b->initrd_size))
		return x86_fail(err, errlen, -EFAULT, "initrd: 0x%" PRIx64 " is not guest RAM",
				b->initrd_addr);
	if ((rc = loader_place_cmdline(gm, &b->kernel, cfg->cmdline, err, errlen)))
		return rc;
	b->cmdline_addr = X86_CMDLINE_ADDR;
	if ((rc = e820_build(&map, gm)))
		return x86_fail(err, errlen, rc, "e820: cannot describe guest memory");
	if ((rc = tables_build(gm, cfg->ncpus, err, errlen)))
		return rc;
	b->rsdp_addr = X86_ACPI_ADDR; /* acpi_build puts the RSDP first */
	if ((rc = bda_build(gm)) || (rc = pagetables_build(gm)) || (rc = gdt_build(gm)))
		return x86_fail(err, errlen, rc, "boot tables: low memory is not RAM");
	return params_build(gm, b, &map, err, errlen);
}

int x86_boot_regs(const struct x86_boot *b, struct kvm_sregs *sregs, struct kvm_regs *regs)
{
	return entry_set_regs(b->kernel.entry_kind, b->kernel.entry, b->params_addr, sregs, regs);
}
