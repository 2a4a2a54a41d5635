/* A flat GDT: every segment has base 0 and a 4 GiB limit. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "x86/gdt.h"
#include "x86/layout.h"

/* access byte: P | DPL0 | S | type; flags nibble: G | D/B | L | AVL */
static uint64_t desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)access << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

uint64_t gdt_entry(unsigned i)
{
	switch (i) {
	case GDT_SEL_CODE32 / 8:
		return desc(0, 0xfffff, 0x9b, 0xc); /* present, code exec/read accessed; G, D */
	case GDT_SEL_CODE64 / 8:
		return desc(0, 0xfffff, 0x9b, 0xa); /* G, L */
	case GDT_SEL_DATA / 8:
		return desc(0, 0xfffff, 0x93, 0xc); /* present, data read/write accessed; G, B */
	case GDT_SEL_TSS / 8:
		return desc(0, 0x67, 0x8b, 0x0); /* present, busy TSS; the next entry holds base 63:32 = 0 */
	default:
		return 0;
	}
}

int gdt_build(const struct guest_mem *gm)
{
	uint8_t *p = guest_mem_ptr(gm, X86_GDT_ADDR, GDT_ENTRIES * 8);
	if (!p)
		return -EFAULT;
	for (unsigned i = 0; i < GDT_ENTRIES; i++) {
		uint64_t d = gdt_entry(i);
		memcpy(p + 8 * i, &d, sizeof(d));
	}
	return 0;
}

void gdt_segment(uint64_t d, uint16_t selector, struct kvm_segment *seg)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	bool g = (d >> 55) & 1;

	memset(seg, 0, sizeof(*seg));
	seg->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
	seg->limit = g ? (limit << 12) | 0xfff : limit;
	seg->selector = selector;
	seg->type = (d >> 40) & 0xf;
	seg->s = (d >> 44) & 1;
	seg->dpl = (d >> 45) & 3;
	seg->present = (d >> 47) & 1;
	seg->avl = (d >> 52) & 1;
	seg->l = (d >> 53) & 1;
	seg->db = (d >> 54) & 1;
	seg->g = g;
	seg->unusable = !seg->present;
}
