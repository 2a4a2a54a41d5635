/* Building the boot-time identity map. */
#include <errno.h>
#include <string.h>

#include "x86/layout.h"
#include "x86/pagetables.h"

static void put64(uint8_t *p, unsigned idx, uint64_t v)
{
	memcpy(p + idx * sizeof(v), &v, sizeof(v));
}

int pagetables_build(const struct guest_mem *gm)
{
	uint8_t *pml4 = guest_mem_ptr(gm, X86_PML4_ADDR, X86_PAGE_SIZE);
	uint8_t *pdpt = guest_mem_ptr(gm, X86_PDPT_ADDR, X86_PAGE_SIZE);
	uint8_t *pd = guest_mem_ptr(gm, X86_PD_ADDR, X86_PD_COUNT * X86_PAGE_SIZE);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, X86_PAGE_SIZE);
	memset(pdpt, 0, X86_PAGE_SIZE);
	put64(pml4, 0, X86_PDPT_ADDR | PTE_PRESENT | PTE_WRITE);
	for (unsigned i = 0; i < X86_PD_COUNT; i++)
		put64(pdpt, i, (X86_PD_ADDR + i * X86_PAGE_SIZE) | PTE_PRESENT | PTE_WRITE);
	for (uint64_t j = 0; j < X86_PD_COUNT * 512ULL; j++)
		put64(pd, (unsigned)j, (j << 21) | PTE_PRESENT | PTE_WRITE | PTE_PS);
	return 0;
}
