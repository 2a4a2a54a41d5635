/* Loading a Linux bzImage per the x86 boot protocol
 * (Documentation/arch/x86/boot.rst), for the 64-bit entry.
 *
 * Only the protected-mode part is loaded: the 16-bit setup code never runs,
 * because we enter in long mode at load address + 0x200. We load it where it
 * will run: the decompressor never runs below pref_address (the kernel's
 * LOAD_PHYSICAL_ADDR, 16 MiB by default), so loading it at 1 MiB would only
 * make it copy itself up; at its run address init_size bytes from the load
 * address are all it needs to decompress in place.
 */
#include <asm/bootparam.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "x86/fail.h"
#include "x86/layout.h"
#include "x86/loader.h"

#define HDR(field) offsetof(struct boot_params, hdr.field)
#define HDR_END(field) (HDR(field) + sizeof(((struct setup_header *)0)->field))
#define HDRS_MAGIC 0x53726448u /* "HdrS" */
#define ENTRY64_OFFSET 0x200
#define MAX_KERNEL_ALIGN (1ULL << 30)

static uint8_t rd8(const uint8_t *p, size_t off)
{
	return p[off];
}

static uint16_t rd16(const uint8_t *p, size_t off)
{
	uint16_t v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
	uint32_t v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p, size_t off)
{
	uint64_t v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* Where the kernel runs: the boot protocol's runtime_start. */
static int run_address(const uint8_t *img, uint64_t low_end, uint64_t *start, char *err,
		       size_t errlen)
{
	uint64_t pref = rd64(img, HDR(pref_address));

	if (!rd8(img, HDR(relocatable_kernel))) {
		if (pref < X86_KERNEL_MIN_ADDR)
			return x86_fail(err, errlen, -EINVAL,
					"kernel bzImage: non-relocatable kernel wants to run at 0x%" PRIx64
					", below 1 MiB",
					pref);
		*start = pref;
		return 0;
	}
	uint64_t align = rd32(img, HDR(kernel_alignment));
	if (align == 0 || (align & (align - 1)) || align > MAX_KERNEL_ALIGN)
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: kernel_alignment 0x%" PRIx64
				" is not a power of two up to 1 GiB",
				align);
	uint64_t s = pref < X86_KERNEL_MIN_ADDR ? X86_KERNEL_MIN_ADDR : pref;
	if (s > low_end) {
		*start = s; /* the caller reports it as not fitting */
		return 0;
	}
	/* s <= 3 GiB and align <= 1 GiB: the sum cannot wrap. */
	*start = (s + align - 1) & ~(align - 1);
	return 0;
}

int bzimage_load(const struct guest_mem *gm, const uint8_t *img, size_t size,
		 struct loader_kernel *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if (size < HDR_END(init_size))
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: file is %zu bytes, too short for a 2.12 boot header "
				"(%zu bytes); truncated?",
				size, (size_t)HDR_END(init_size));
	if (rd32(img, HDR(header)) != HDRS_MAGIC)
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: no \"HdrS\" boot header magic at 0x%zx: not a Linux kernel",
				(size_t)HDR(header));
	if (rd16(img, HDR(boot_flag)) != 0xaa55)
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: boot_flag is 0x%04x, not 0xaa55: not a Linux kernel",
				rd16(img, HDR(boot_flag)));
	uint16_t version = rd16(img, HDR(version));
	if (version < LOADER_MIN_PROTOCOL)
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: boot protocol %u.%02u is too old; kvmbox needs 2.12 "
				"(Linux 3.8) or newer for the 64-bit entry",
				version >> 8, version & 0xff);
	/* The jump instruction at 0x200 hops over the header: its 8-bit offset
	 * says where the header ends. */
	size_t hdr_end = 0x202 + (size_t)rd8(img, 0x201);
	if (hdr_end < HDR_END(init_size))
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: setup header ends at 0x%zx, before the init_size field "
				"that protocol %u.%02u has",
				hdr_end, version >> 8, version & 0xff);
	unsigned sects = rd8(img, HDR(setup_sects));
	if (sects == 0)
		sects = 4; /* the boot protocol's historical meaning of 0 */
	size_t setup_size = ((size_t)sects + 1) * 512;
	if (setup_size > size)
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: setup_sects %u runs past the end of the file (size %zu)",
				sects, size);
	/* setup_size >= 1024 > the largest hdr_end (0x301): the header is in the file. */
	uint8_t loadflags = rd8(img, HDR(loadflags));
	if (!(loadflags & LOADED_HIGH))
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: LOADED_HIGH is clear: a zImage, which is not supported");
	uint16_t xlf = rd16(img, HDR(xloadflags));
	if (!(xlf & XLF_KERNEL_64))
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: no 64-bit entry point (XLF_KERNEL_64 clear); a 32-bit "
				"kernel cannot be booted");
	uint64_t pm_size = (uint64_t)rd32(img, HDR(syssize)) * 16;
	if (pm_size > size - setup_size)
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: syssize says %" PRIu64 " bytes of kernel follow the %zu "
				"setup bytes, but the file has only %zu (truncated?)",
				pm_size, setup_size, size - setup_size);
	if (pm_size <= ENTRY64_OFFSET)
		return x86_fail(err, errlen, -EINVAL,
				"kernel bzImage: %" PRIu64 " bytes of protected-mode code cannot hold "
				"the 64-bit entry at offset 0x%x",
				pm_size, ENTRY64_OFFSET);

	uint64_t low_end = guest_mem_low_end(gm);
	uint64_t start = 0;
	int rc = run_address(img, low_end, &start, err, errlen);
	if (rc)
		return rc;
	uint64_t init_size = rd32(img, HDR(init_size));
	uint64_t need = init_size > pm_size ? init_size : pm_size;
	if (start > low_end || need > low_end - start)
		return x86_fail(err, errlen, -E2BIG,
				"kernel bzImage: needs %" PRIu64 " KiB of RAM from 0x%" PRIx64
				" (init_size) but RAM below the PCI hole ends at 0x%" PRIx64
				" (%" PRIu64 " MiB): kernel too big for guest memory",
				need >> 10, start, low_end, low_end >> 20);
	void *dst = guest_mem_ptr(gm, start, pm_size);
	if (!dst) /* cannot happen after the check above; keep the invariant local */
		return x86_fail(err, errlen, -EFAULT, "kernel bzImage: 0x%" PRIx64 " is not RAM", start);
	memcpy(dst, img + setup_size, pm_size);

	k->format = LOADER_BZIMAGE;
	k->entry_kind = LOADER_ENTRY_64;
	k->entry = start + ENTRY64_OFFSET;
	k->start = start;
	k->end = start + need;
	k->protocol = version;
	k->cmdline_max = rd32(img, HDR(cmdline_size));
	k->initrd_max = rd32(img, HDR(initrd_addr_max));
	k->setup_hdr_len = (uint32_t)(hdr_end - LOADER_SETUP_HDR_OFF);
	memcpy(k->setup_hdr, img + LOADER_SETUP_HDR_OFF, k->setup_hdr_len);
	return 0;
}
