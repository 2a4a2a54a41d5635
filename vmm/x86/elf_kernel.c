/* Loading an uncompressed ELF64 vmlinux: no decompression at boot, which
 * saves seconds in a nested guest.
 *
 * PT_LOAD segments go to their physical addresses (p_paddr). The entry is
 * the PVH entry (ELF note XEN_ELFNOTE_PHYS32_ENTRY) when the kernel has one,
 * since that is the documented way into a vmlinux; otherwise the 64-bit entry
 * e_entry, translated from its virtual address to a physical one.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "x86/fail.h"
#include "x86/layout.h"
#include "x86/loader.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

static int check_header(const Elf64_Ehdr *eh, size_t size, char *err, size_t errlen)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: not a 64-bit ELF file (EI_CLASS %u)", eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return x86_fail(err, errlen, -EINVAL, "kernel ELF: not little-endian (EI_DATA %u)",
				eh->e_ident[EI_DATA]);
	if (eh->e_machine != EM_X86_64)
		return x86_fail(err, errlen, -EINVAL, "kernel ELF: e_machine %u is not x86-64",
				eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: e_type %u is not an executable (ET_EXEC) like vmlinux",
				eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: program header size %u, expected %zu", eh->e_phentsize,
				sizeof(Elf64_Phdr));
	if (eh->e_phnum == 0 || eh->e_phnum > LOADER_ELF_MAX_PHDRS)
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: %u program headers; expected 1 to %u", eh->e_phnum,
				LOADER_ELF_MAX_PHDRS);
	uint64_t bytes = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > size || bytes > size - eh->e_phoff)
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: %u program headers at offset 0x%" PRIx64
				" run past the end of the file (size %zu)",
				eh->e_phnum, (uint64_t)eh->e_phoff, size);
	return 0;
}

/* A PT_LOAD must come from inside the file and go to low RAM above 1 MiB:
 * the identity map covers only the first 4 GiB, and below 1 MiB lie the
 * boot tables. */
static int check_load(const Elf64_Phdr *ph, unsigned i, size_t size, uint64_t low_end, char *err,
		      size_t errlen)
{
	if (ph->p_filesz > ph->p_memsz)
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: segment %u has p_filesz 0x%" PRIx64 " > p_memsz 0x%" PRIx64, i,
				(uint64_t)ph->p_filesz, (uint64_t)ph->p_memsz);
	if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: segment %u (offset 0x%" PRIx64 ", 0x%" PRIx64
				" bytes) runs past the end of the file (size %zu)",
				i, (uint64_t)ph->p_offset, (uint64_t)ph->p_filesz, size);
	if (ph->p_paddr < X86_KERNEL_MIN_ADDR || ph->p_paddr > low_end ||
	    ph->p_memsz > low_end - ph->p_paddr)
		return x86_fail(err, errlen, -E2BIG,
				"kernel ELF: segment %u [0x%" PRIx64 ", +0x%" PRIx64
				") is outside guest RAM [0x%llx, 0x%" PRIx64 ") (too big for guest memory?)",
				i, (uint64_t)ph->p_paddr, (uint64_t)ph->p_memsz, X86_KERNEL_MIN_ADDR,
				low_end);
	return 0;
}

/* The PVH entry from the notes in [off, off + len) of the file; 0 if none. */
static int pvh_entry(const uint8_t *img, uint64_t off, uint64_t len, uint64_t *entry, char *err,
		     size_t errlen)
{
	while (len > 0) {
		Elf64_Nhdr nh;
		if (len < sizeof(nh))
			return x86_fail(err, errlen, -EINVAL,
					"kernel ELF: truncated note at offset 0x%" PRIx64, off);
		memcpy(&nh, img + off, sizeof(nh));
		/* Name and descriptor are each padded to 4 bytes; in 64 bits no
		 * sum of two padded 32-bit sizes can wrap. */
		uint64_t name_len = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		uint64_t desc_len = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		uint64_t total = sizeof(nh) + name_len + desc_len;
		if (total > len)
			return x86_fail(err, errlen, -EINVAL,
					"kernel ELF: note at offset 0x%" PRIx64 " runs past its segment", off);
		const uint8_t *name = img + off + sizeof(nh);
		const uint8_t *desc = name + name_len;
		if (nh.n_namesz == 4 && memcmp(name, "Xen", 4) == 0 &&
		    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint64_t v = 0;
			if (nh.n_descsz != 4 && nh.n_descsz != 8)
				return x86_fail(err, errlen, -EINVAL,
						"kernel ELF: PVH entry note has %u bytes, not 4 or 8",
						nh.n_descsz);
			memcpy(&v, desc, nh.n_descsz);
			if (v == 0 || v > UINT32_MAX)
				return x86_fail(err, errlen, -EINVAL,
						"kernel ELF: PVH entry 0x%" PRIx64 " is not a 32-bit address",
						v);
			*entry = v;
			return 0;
		}
		off += total;
		len -= total;
	}
	return 0;
}

static bool in_load(const Elf64_Phdr *ph, unsigned n, uint64_t paddr)
{
	for (unsigned i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && paddr >= ph[i].p_paddr &&
		    paddr - ph[i].p_paddr < ph[i].p_memsz)
			return true;
	return false;
}

/* x86-64 vmlinux sets e_entry to the physical startup_64; other linkers
 * leave it virtual. A physical match is tried first because the per-CPU
 * segment is linked at virtual 0 and could swallow a small physical address;
 * kernel virtual addresses never fall inside low RAM. */
static int entry64(const Elf64_Ehdr *eh, const Elf64_Phdr *ph, unsigned n, uint64_t *entry,
		   char *err, size_t errlen)
{
	uint64_t e = eh->e_entry;
	if (in_load(ph, n, e)) {
		*entry = e;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && e >= ph[i].p_vaddr && e - ph[i].p_vaddr < ph[i].p_memsz) {
			*entry = ph[i].p_paddr + (e - ph[i].p_vaddr);
			return 0;
		}
	return x86_fail(err, errlen, -EINVAL,
			"kernel ELF: entry point 0x%" PRIx64 " is in no loaded segment", e);
}

int elf_kernel_load(const struct guest_mem *gm, const uint8_t *img, size_t size,
		    struct loader_kernel *k, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[LOADER_ELF_MAX_PHDRS];

	memset(k, 0, sizeof(*k));
	if (size < sizeof(eh))
		return x86_fail(err, errlen, -EINVAL,
				"kernel ELF: file is %zu bytes, shorter than an ELF64 header (truncated?)",
				size);
	memcpy(&eh, img, sizeof(eh));
	int rc = check_header(&eh, size, err, errlen);
	if (rc)
		return rc;
	unsigned n = eh.e_phnum;
	memcpy(ph, img + eh.e_phoff, n * sizeof(Elf64_Phdr));

	uint64_t low_end = guest_mem_low_end(gm);
	uint64_t start = UINT64_MAX, end = 0;
	for (unsigned i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		rc = check_load(&ph[i], i, size, low_end, err, errlen);
		if (rc)
			return rc;
		uint64_t a = ph[i].p_paddr, b = a + ph[i].p_memsz;
		for (unsigned j = 0; j < i; j++) {
			if (ph[j].p_type != PT_LOAD || ph[j].p_memsz == 0)
				continue;
			uint64_t c = ph[j].p_paddr, d = c + ph[j].p_memsz;
			if (a < d && c < b)
				return x86_fail(err, errlen, -EINVAL,
						"kernel ELF: segments %u [0x%" PRIx64 ", 0x%" PRIx64
						") and %u [0x%" PRIx64 ", 0x%" PRIx64 ") overlap",
						j, c, d, i, a, b);
		}
		start = a < start ? a : start;
		end = b > end ? b : end;
	}
	if (end == 0)
		return x86_fail(err, errlen, -EINVAL, "kernel ELF: no loadable (PT_LOAD) segment");

	uint64_t entry = 0;
	for (unsigned i = 0; i < n && !entry; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		if (ph[i].p_offset > size || ph[i].p_filesz > size - ph[i].p_offset)
			return x86_fail(err, errlen, -EINVAL,
					"kernel ELF: note segment %u runs past the end of the file (size %zu)",
					i, size);
		rc = pvh_entry(img, ph[i].p_offset, ph[i].p_filesz, &entry, err, errlen);
		if (rc)
			return rc;
	}
	if (entry) {
		if (!in_load(ph, n, entry))
			return x86_fail(err, errlen, -EINVAL,
					"kernel ELF: PVH entry 0x%" PRIx64 " is in no loaded segment", entry);
		k->entry_kind = LOADER_ENTRY_PVH;
	} else {
		rc = entry64(&eh, ph, n, &entry, err, errlen);
		if (rc)
			return rc;
		k->entry_kind = LOADER_ENTRY_64;
	}

	for (unsigned i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		uint8_t *dst = guest_mem_ptr(gm, ph[i].p_paddr, ph[i].p_memsz);
		if (!dst)
			return x86_fail(err, errlen, -EFAULT, "kernel ELF: segment %u is not RAM", i);
		memcpy(dst, img + ph[i].p_offset, ph[i].p_filesz);
		memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
	}
	k->format = LOADER_ELF;
	k->entry = entry;
	k->start = start;
	k->end = end;
	k->cmdline_max = LOADER_DEFAULT_CMDLINE_MAX;
	k->initrd_max = LOADER_DEFAULT_INITRD_MAX;
	return 0;
}
