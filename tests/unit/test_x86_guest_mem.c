/* Guest memory: layout around the PCI hole, checked translation, memfd and
 * hugepage allocation. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* Address space only: guest_mem_init never touches the memory. */
static void *reserve(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void test_small(void)
{
	struct guest_mem gm;
	char err[256] = "";
	uint8_t *base = reserve(256 * MiB);

	CHECK("guest_mem 256M init",
	      base && guest_mem_init(&gm, base, 256 * MiB, err, sizeof(err)) == 0);
	CHECK("guest_mem 256M one region",
	      gm.nregions == 1 && gm.region[0].gpa == 0 && gm.region[0].size == 256 * MiB);
	CHECK("guest_mem 256M low end", guest_mem_low_end(&gm) == 256 * MiB);
	CHECK("guest_mem ptr whole RAM", guest_mem_ptr(&gm, 0, 256 * MiB) == base);
	CHECK("guest_mem ptr last byte",
	      guest_mem_ptr(&gm, 256 * MiB - 1, 1) == base + 256 * MiB - 1);
	CHECK("guest_mem ptr past end by one", guest_mem_ptr(&gm, 256 * MiB - 1, 2) == NULL);
	CHECK("guest_mem ptr at end", guest_mem_ptr(&gm, 256 * MiB, 0) == NULL);
	CHECK("guest_mem ptr len 0 inside", guest_mem_ptr(&gm, 4096, 0) == base + 4096);
	CHECK("guest_mem ptr gpa wraps", guest_mem_ptr(&gm, UINT64_MAX, 2) == NULL);
	CHECK("guest_mem ptr len wraps", guest_mem_ptr(&gm, 4096, UINT64_MAX) == NULL);
	CHECK("guest_mem ptr huge len", guest_mem_ptr(&gm, 0, UINT64_MAX - 4095) == NULL);
	CHECK("guest_mem write outside", guest_mem_write(&gm, 256 * MiB, "x", 1) == -EFAULT);
	munmap(base, 256 * MiB);
}

static void test_hole(void)
{
	struct guest_mem gm;
	char err[256] = "";
	uint64_t size = 5 * GiB;
	uint8_t *base = reserve(size);

	CHECK("guest_mem 5G init", base && guest_mem_init(&gm, base, size, err, sizeof(err)) == 0);
	CHECK("guest_mem 5G two regions", gm.nregions == 2);
	CHECK("guest_mem 5G low region",
	      gm.region[0].gpa == 0 && gm.region[0].size == 3 * GiB && gm.region[0].hva == base);
	CHECK("guest_mem 5G high region", gm.region[1].gpa == 4 * GiB &&
						  gm.region[1].size == 2 * GiB &&
						  gm.region[1].hva == base + 3 * GiB);
	CHECK("guest_mem 5G low end is the hole", guest_mem_low_end(&gm) == X86_PCI_HOLE_START);
	CHECK("guest_mem hole is not RAM", guest_mem_ptr(&gm, 3 * GiB, 1) == NULL &&
						   guest_mem_ptr(&gm, X86_ECAM_BASE, 4) == NULL &&
						   guest_mem_ptr(&gm, X86_IOAPIC_ADDR, 4) == NULL);
	CHECK("guest_mem range across the hole", guest_mem_ptr(&gm, 3 * GiB - 4096, 8192) == NULL);
	CHECK("guest_mem 4G maps after 3G", guest_mem_ptr(&gm, 4 * GiB, 4096) == base + 3 * GiB);
	CHECK("guest_mem last high byte", guest_mem_ptr(&gm, 6 * GiB - 1, 1) == base + size - 1);
	CHECK("guest_mem past high RAM", guest_mem_ptr(&gm, 6 * GiB, 1) == NULL);
	munmap(base, size);
}

static void test_bad_sizes(void)
{
	struct guest_mem gm;
	char err[256] = "";
	static uint8_t buf[4096];

	CHECK("guest_mem too small", guest_mem_init(&gm, buf, 4096, err, sizeof(err)) == -EINVAL &&
					     strstr(err, "too small"));
	CHECK("guest_mem not page multiple",
	      guest_mem_init(&gm, buf, 64 * MiB + 1, err, sizeof(err)) == -EINVAL &&
		      strstr(err, "multiple"));
	CHECK("guest_mem too big",
	      guest_mem_alloc(&gm, 2ULL << 40, 0, err, sizeof(err)) == -E2BIG &&
		      strstr(err, "limit"));
	CHECK("guest_mem error leaves fd -1", gm.fd == -1);
}

static void test_alloc(void)
{
	struct guest_mem gm;
	char err[256] = "";

	int rc = guest_mem_alloc(&gm, 64 * MiB, 0, err, sizeof(err));
	CHECK("guest_mem memfd alloc", rc == 0 && gm.fd >= 0 && gm.base && gm.size == 64 * MiB);
	if (rc)
		printf("# %s\n", err);
	else {
		uint8_t *p = guest_mem_ptr(&gm, 63 * MiB, 4);
		CHECK("guest_mem memfd zeroed", p && p[0] == 0 && p[3] == 0);
		CHECK("guest_mem memfd write",
		      guest_mem_write(&gm, 63 * MiB, "abcd", 4) == 0 && memcmp(p, "abcd", 4) == 0);
		guest_mem_free(&gm);
		CHECK("guest_mem free", gm.fd == -1 && gm.base == NULL);
	}
	/* A 5 GiB memfd is sparse: nothing is touched, so it is cheap. */
	rc = guest_mem_alloc(&gm, 5 * GiB, 0, err, sizeof(err));
	CHECK("guest_mem memfd 5G", rc == 0 && gm.nregions == 2);
	if (rc == 0) {
		CHECK("guest_mem memfd 5G high write",
		      guest_mem_write(&gm, 6 * GiB - 4, "wxyz", 4) == 0 &&
			      memcmp(gm.base + gm.size - 4, "wxyz", 4) == 0);
		guest_mem_free(&gm);
	}

	/* Hugepages: either there is a pool and it works, or the error says
	 * what to do; this host decides which. */
	err[0] = '\0';
	rc = guest_mem_alloc(&gm, 64 * MiB, GUEST_MEM_HUGEPAGES, err, sizeof(err));
	if (rc == 0) {
		CHECK("guest_mem hugepages alloc", gm.page_size >= 2 * MiB);
		guest_mem_free(&gm);
	} else {
		printf("# hugepages: %s\n", err);
		CHECK("guest_mem hugepages clear error",
		      rc < 0 && strstr(err, "hugepage") && gm.fd == -1);
	}
	rc = guest_mem_alloc(&gm, 64 * MiB + 4096, GUEST_MEM_HUGEPAGES, err, sizeof(err));
	CHECK("guest_mem hugepages unaligned size fails", rc < 0 && gm.fd == -1);
}

int main(void)
{
	test_small();
	test_hole();
	test_bad_sizes();
	test_alloc();
	return CHECK_DONE();
}
