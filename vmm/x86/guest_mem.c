/* Guest RAM from a memfd, and checked guest-physical to host translation. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "x86/fail.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static int check_size(uint64_t size, uint64_t page, char *err, size_t errlen)
{
	if (size < GUEST_MEM_MIN_SIZE)
		return x86_fail(err, errlen, -EINVAL,
				"guest memory: %" PRIu64 " bytes is too small; at least %llu MiB is needed",
				size, GUEST_MEM_MIN_SIZE >> 20);
	if (size > GUEST_MEM_MAX_SIZE)
		return x86_fail(err, errlen, -E2BIG,
				"guest memory: %" PRIu64 " MiB is more than the limit of %llu GiB",
				size >> 20, GUEST_MEM_MAX_SIZE >> 30);
	if (size % page)
		return x86_fail(err, errlen, -EINVAL,
				"guest memory: %" PRIu64 " bytes is not a multiple of the %" PRIu64
				" KiB page size",
				size, page >> 10);
	return 0;
}

static void layout(struct guest_mem *gm)
{
	uint64_t low = gm->size < X86_PCI_HOLE_START ? gm->size : X86_PCI_HOLE_START;

	gm->nregions = 1;
	gm->region[0] = (struct guest_mem_region){ .gpa = 0, .size = low, .hva = gm->base };
	if (gm->size > low) {
		gm->region[1] = (struct guest_mem_region){
			.gpa = X86_HIGH_RAM_START, .size = gm->size - low, .hva = gm->base + low
		};
		gm->nregions = 2;
	}
}

int guest_mem_init(struct guest_mem *gm, void *base, uint64_t size, char *err, size_t errlen)
{
	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	int rc = check_size(size, X86_PAGE_SIZE, err, errlen);
	if (rc)
		return rc;
	gm->base = base;
	gm->size = size;
	gm->page_size = X86_PAGE_SIZE;
	layout(gm);
	return 0;
}

/* Free hugepages of the default size, for the error message; -1 if unknown. */
static long hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return -1;
	char line[128];
	long n = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

int guest_mem_alloc(struct guest_mem *gm, uint64_t size, unsigned flags, char *err,
		    size_t errlen)
{
	bool huge = flags & GUEST_MEM_HUGEPAGES;

	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	/* Check the size before making anything, so a bad size is not reported
	 * as an allocation failure. */
	int rc = check_size(size, X86_PAGE_SIZE, err, errlen);
	if (rc)
		return rc;
	int fd = memfd_create("kvmbox-guest-ram", MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0));
	if (fd < 0) {
		rc = -errno;
		if (huge && rc == -EINVAL)
			return x86_fail(err, errlen, rc,
					"guest memory: this kernel has no hugetlbfs for memfd "
					"(MFD_HUGETLB: %s); run without hugepages",
					strerror(-rc));
		return x86_fail(err, errlen, rc, "guest memory: memfd_create: %s", strerror(-rc));
	}
	/* hugetlbfs reports its page size as the block size. */
	struct stat st;
	uint64_t page = X86_PAGE_SIZE;
	if (huge && fstat(fd, &st) == 0 && st.st_blksize > 0)
		page = (uint64_t)st.st_blksize;
	rc = check_size(size, page, err, errlen);
	if (rc)
		goto fail;
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		x86_fail(err, errlen, rc, "guest memory: cannot size the memfd to %" PRIu64 " MiB: %s",
			 size >> 20, strerror(-rc));
		goto fail;
	}
	/* hugetlbfs reserves the pages at mmap time, so a short pool fails here
	 * with ENOMEM rather than as a SIGBUS inside the guest later. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		if (huge) {
			long nfree = hugepages_free();
			x86_fail(err, errlen, rc,
				 "guest memory: cannot reserve %" PRIu64 " MiB of %" PRIu64
				 " KiB hugepages (%ld free; need %" PRIu64
				 "): raise /proc/sys/vm/nr_hugepages or run without hugepages",
				 size >> 20, page >> 10, nfree, size / page);
		} else {
			x86_fail(err, errlen, rc, "guest memory: cannot map %" PRIu64 " MiB: %s",
				 size >> 20, strerror(-rc));
		}
		goto fail;
	}
	gm->base = p;
	gm->size = size;
	gm->fd = fd;
	gm->page_size = page;
	layout(gm);
	return 0;
fail:
	close(fd);
	return rc;
}

void guest_mem_free(struct guest_mem *gm)
{
	if (gm->fd >= 0) {
		if (gm->base)
			munmap(gm->base, gm->size);
		close(gm->fd);
	}
	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->region[i];
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		/* Written as subtractions so that no sum can wrap. */
		if (off >= r->size || len > r->size - off)
			continue;
		return r->hva + off;
	}
	return NULL;
}

int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = guest_mem_ptr(gm, gpa, len);
	if (!dst)
		return -EFAULT;
	if (len)
		memcpy(dst, src, len);
	return 0;
}

uint64_t guest_mem_low_end(const struct guest_mem *gm)
{
	return gm->nregions ? gm->region[0].size : 0;
}
