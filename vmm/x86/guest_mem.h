/* Guest RAM: one host mapping, seen by the guest as one or two regions.
 *
 * RAM up to X86_PCI_HOLE_START (3 GiB) is at guest-physical 0; the rest
 * continues at 4 GiB, so the 32-bit PCI hole (ECAM, IOAPIC, LAPIC, BARs)
 * never shadows RAM. The host mapping is contiguous: region 1's host address
 * is base + 3 GiB. Each region becomes one KVM memory slot.
 *
 * Every access from the boot code goes through guest_mem_ptr(), which checks
 * that the whole range lies inside one region, without integer overflow.
 */
#ifndef KVMBOX_X86_GUEST_MEM_H
#define KVMBOX_X86_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MIN_SIZE (2ULL << 20)  /* the fixed boot area below 1 MiB, plus room */
#define GUEST_MEM_MAX_SIZE (1ULL << 40)  /* 1 TiB; keeps every gpa sum far from overflow */
#define GUEST_MEM_MAX_REGIONS 2

#define GUEST_MEM_HUGEPAGES (1u << 0)    /* guest_mem_alloc: back RAM with hugetlbfs */

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	uint8_t *base;       /* host mapping of all RAM */
	uint64_t size;       /* bytes of RAM */
	int fd;              /* the memfd behind it, or -1 (guest_mem_init) */
	uint64_t page_size;  /* host page size backing it (4 KiB or the hugepage size) */
	unsigned nregions;
	struct guest_mem_region region[GUEST_MEM_MAX_REGIONS];
};

/* Describe size bytes of existing host memory at base as guest RAM. The size
 * must be a multiple of 4 KiB within [GUEST_MEM_MIN_SIZE, GUEST_MEM_MAX_SIZE].
 * gm->fd is -1; nothing is freed by guest_mem_free. */
int guest_mem_init(struct guest_mem *gm, void *base, uint64_t size, char *err, size_t errlen);

/* Allocate size bytes of guest RAM from a memfd (shared, so a device process
 * or vhost could map it too), optionally on hugepages. On failure err says
 * why and what to do, e.g. how many hugepages are free. */
int guest_mem_alloc(struct guest_mem *gm, uint64_t size, unsigned flags, char *err,
		    size_t errlen);

/* Unmap and close what guest_mem_alloc made; harmless on a zeroed struct. */
void guest_mem_free(struct guest_mem *gm);

/* The host address of [gpa, gpa + len), or NULL unless the range lies
 * entirely in one RAM region. len 0 asks only that gpa is inside RAM. */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copy into guest RAM; -EFAULT when the range is not RAM. */
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);

/* The end of RAM below the PCI hole: where 32-bit things must end. */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

#endif
