/* Telling kernel formats apart, and placing the initrd and command line. */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "x86/fail.h"
#include "x86/layout.h"
#include "x86/loader.h"

#define BZ_MAGIC_OFF 0x202
#define BZ_MAGIC "HdrS"

int loader_load(const struct guest_mem *gm, const void *image, size_t size, struct loader_kernel *k,
		char *err, size_t errlen)
{
	const uint8_t *img = image;

	memset(k, 0, sizeof(*k));
	if (size >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0)
		return elf_kernel_load(gm, img, size, k, err, errlen);
	if (size >= BZ_MAGIC_OFF + 4 && memcmp(img + BZ_MAGIC_OFF, BZ_MAGIC, 4) == 0)
		return bzimage_load(gm, img, size, k, err, errlen);
	if (size < BZ_MAGIC_OFF + 4)
		return x86_fail(err, errlen, -EINVAL,
				"kernel: file is %zu bytes, too small to be a kernel (truncated?)", size);
	return x86_fail(err, errlen, -EINVAL,
			"kernel: not a Linux kernel: no bzImage \"HdrS\" magic at 0x%x and no ELF magic",
			BZ_MAGIC_OFF);
}

int loader_place_initrd(const struct guest_mem *gm, const struct loader_kernel *k, uint64_t size,
			uint64_t *addr, char *err, size_t errlen)
{
	*addr = 0;
	if (size == 0)
		return 0;
	uint64_t low_end = guest_mem_low_end(gm);
	/* initrd_max is the last byte it may use; low_end is one past RAM. */
	uint64_t top = k->initrd_max < low_end ? k->initrd_max + 1 : low_end;
	uint64_t kend = (k->end + X86_PAGE_SIZE - 1) & ~(X86_PAGE_SIZE - 1);
	if (size > top || ((top - size) & ~(X86_PAGE_SIZE - 1)) < kend)
		return x86_fail(err, errlen, -E2BIG,
				"initrd (%" PRIu64 " bytes) does not fit between the kernel end 0x%" PRIx64
				" and 0x%" PRIx64 " (the lower of initrd_addr_max and the end of RAM "
				"below the PCI hole); give the VM more memory",
				size, kend, top);
	*addr = (top - size) & ~(X86_PAGE_SIZE - 1);
	return 0;
}

int loader_place_cmdline(const struct guest_mem *gm, const struct loader_kernel *k,
			 const char *cmdline, char *err, size_t errlen)
{
	if (!cmdline)
		cmdline = "";
	size_t len = strnlen(cmdline, X86_CMDLINE_MAX);
	if (len > k->cmdline_max)
		return x86_fail(err, errlen, -E2BIG,
				"command line is %zu%s bytes; this kernel accepts at most %u (cmdline_size)",
				len, len == X86_CMDLINE_MAX ? " or more" : "", k->cmdline_max);
	if (len > X86_CMDLINE_MAX - 1)
		return x86_fail(err, errlen, -E2BIG,
				"command line is %zu or more bytes; kvmbox allows at most %llu", len,
				X86_CMDLINE_MAX - 1);
	if (guest_mem_write(gm, X86_CMDLINE_ADDR, cmdline, len + 1) < 0)
		return x86_fail(err, errlen, -EFAULT, "command line: 0x%llx is not guest RAM",
				X86_CMDLINE_ADDR);
	return 0;
}
