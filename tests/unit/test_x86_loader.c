/* The kernel loader: bzImage and ELF vmlinux placement, initrd and command
 * line placement, every malformed-image error, and a real bzImage. */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"
#include "x86/loader.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define SETUP_SECTS 4
#define SETUP_BYTES ((SETUP_SECTS + 1) * 512)

static struct guest_mem gm;
static char err[512];

/* A minimal bzImage as a 6.x kernel's header describes itself: the boot
 * sector with the setup header, setup code (zeros), then pm bytes of
 * "protected-mode code" with a recognisable pattern. */
static uint8_t *make_bz(size_t pm, size_t *size)
{
	*size = SETUP_BYTES + pm;
	uint8_t *img = calloc(1, *size);
	struct setup_header h = {
		.setup_sects = SETUP_SECTS,
		.syssize = (uint32_t)(pm / 16),
		.boot_flag = 0xaa55,
		.jump = 0x6aeb, /* jmp over the header to 0x26c */
		.header = 0x53726448,
		.version = 0x020f,
		.loadflags = LOADED_HIGH,
		.initrd_addr_max = 0x7fffffff,
		.kernel_alignment = 0x200000,
		.relocatable_kernel = 1,
		.min_alignment = 21,
		.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		.cmdline_size = 2047,
		.pref_address = 0x1000000,
		.init_size = 4 * MiB,
	};
	memcpy(img + LOADER_SETUP_HDR_OFF, &h, sizeof(h));
	for (size_t i = 0; i < pm; i++)
		img[SETUP_BYTES + i] = (uint8_t)(i * 7 + 1);
	return img;
}

static struct setup_header *hdr_of(uint8_t *img)
{
	return (struct setup_header *)(img + LOADER_SETUP_HDR_OFF);
}

static int load(const void *img, size_t size, struct loader_kernel *k)
{
	err[0] = '\0';
	return loader_load(&gm, img, size, k, err, sizeof(err));
}

/* Expect rc and a message containing want; print the message either way,
 * since the exact text is what a user would see. */
static int fails(int rc, int want_rc, const char *want)
{
	printf("# %s\n", err);
	return rc == want_rc && strstr(err, want) != NULL;
}

static void test_bz_ok(void)
{
	size_t size;
	uint8_t *img = make_bz(64 * 1024, &size);
	struct loader_kernel k;

	CHECK("bz loads", load(img, size, &k) == 0);
	CHECK("bz format and entry kind",
	      k.format == LOADER_BZIMAGE && k.entry_kind == LOADER_ENTRY_64);
	CHECK("bz loaded at pref_address", k.start == 0x1000000);
	CHECK("bz 64-bit entry at +0x200", k.entry == 0x1000200);
	CHECK("bz end covers init_size", k.end == 0x1000000 + 4 * MiB);
	CHECK("bz protected-mode code copied",
	      memcmp(guest_mem_ptr(&gm, k.start, 64 * 1024), img + SETUP_BYTES, 64 * 1024) == 0);
	CHECK("bz protocol", k.protocol == 0x020f);
	CHECK("bz cmdline_max", k.cmdline_max == 2047);
	CHECK("bz initrd_max", k.initrd_max == 0x7fffffff);
	CHECK("bz setup header kept",
	      k.setup_hdr_len == 0x26c - 0x1f1 &&
		      memcmp(k.setup_hdr, img + 0x1f1, k.setup_hdr_len) == 0);

	/* Relocatable: pref_address is rounded up to kernel_alignment. */
	hdr_of(img)->pref_address = 0x1100000;
	CHECK("bz aligned up to kernel_alignment",
	      load(img, size, &k) == 0 && k.start == 0x1200000);
	/* Relocatable below 1 MiB: never below the boot tables. */
	hdr_of(img)->pref_address = 0x1000;
	CHECK("bz relocatable kept above 1 MiB", load(img, size, &k) == 0 && k.start == 0x200000);
	/* Not relocatable: exactly at pref_address. */
	hdr_of(img)->relocatable_kernel = 0;
	hdr_of(img)->pref_address = 0x1100000;
	CHECK("bz fixed at pref_address", load(img, size, &k) == 0 && k.start == 0x1100000);
	/* setup_sects 0 means 4. */
	hdr_of(img)->relocatable_kernel = 1;
	hdr_of(img)->pref_address = 0x1000000;
	hdr_of(img)->setup_sects = 0;
	CHECK("bz setup_sects 0 means 4",
	      load(img, size, &k) == 0 &&
		      memcmp(guest_mem_ptr(&gm, k.start, 16), img + SETUP_BYTES, 16) == 0);
	/* init_size smaller than the code: the code size rules. */
	hdr_of(img)->init_size = 4096;
	CHECK("bz end covers the code", load(img, size, &k) == 0 && k.end == k.start + 64 * 1024);
	free(img);
}

static void test_bz_errors(void)
{
	size_t size;
	uint8_t *img = make_bz(64 * 1024, &size);
	struct loader_kernel k;
	struct setup_header *h = hdr_of(img);
	struct setup_header saved = *h;
	int rc;

	CHECK("bz empty file", fails(load(img, 0, &k), -EINVAL, "too small to be a kernel"));
	CHECK("bz truncated to 0x100 bytes", fails(load(img, 0x100, &k), -EINVAL, "too small"));
	CHECK("bz truncated header",
	      fails(load(img, 0x220, &k), -EINVAL, "too short for a 2.12 boot header"));

	h->header = 0x54726448; /* "HdrT" */
	CHECK("bz bad HdrS magic", fails(load(img, size, &k), -EINVAL, "not a Linux kernel"));
	CHECK("bz bad magic via bzimage_load",
	      fails(bzimage_load(&gm, img, size, &k, err, sizeof(err)), -EINVAL, "\"HdrS\""));
	*h = saved;

	h->boot_flag = 0x1234;
	CHECK("bz bad boot_flag", fails(load(img, size, &k), -EINVAL, "boot_flag is 0x1234"));
	*h = saved;

	h->version = 0x0209;
	CHECK("bz protocol too old",
	      fails(load(img, size, &k), -EINVAL, "boot protocol 2.09 is too old"));
	*h = saved;

	h->setup_sects = 200;
	rc = load(img, 4096, &k);
	CHECK("bz setup_sects past end",
	      fails(rc, -EINVAL, "setup_sects 200 runs past the end of the file (size 4096)"));
	*h = saved;

	h->jump = 0x40eb; /* header would end at 0x242 */
	CHECK("bz header shorter than 2.12",
	      fails(load(img, size, &k), -EINVAL, "setup header ends at 0x242"));
	*h = saved;

	h->syssize = (64 * 1024 + 16) / 16;
	CHECK("bz syssize past end", fails(load(img, size, &k), -EINVAL, "truncated"));
	h->syssize = 0xffffffff;
	CHECK("bz syssize huge", fails(load(img, size, &k), -EINVAL, "truncated"));
	h->syssize = 0x200 / 16;
	CHECK("bz no room for entry", fails(load(img, size, &k), -EINVAL, "64-bit entry"));
	*h = saved;
	CHECK("bz truncated body", fails(load(img, size - 1, &k), -EINVAL, "truncated"));

	h->loadflags = 0;
	CHECK("bz zImage", fails(load(img, size, &k), -EINVAL, "zImage"));
	*h = saved;

	h->xloadflags = 0;
	CHECK("bz no 64-bit entry", fails(load(img, size, &k), -EINVAL, "XLF_KERNEL_64"));
	*h = saved;

	h->kernel_alignment = 0x300000;
	CHECK("bz alignment not power of two",
	      fails(load(img, size, &k), -EINVAL, "kernel_alignment"));
	h->kernel_alignment = 0;
	CHECK("bz alignment zero", fails(load(img, size, &k), -EINVAL, "kernel_alignment"));
	*h = saved;

	h->init_size = 300 * MiB;
	CHECK("bz kernel bigger than RAM",
	      fails(load(img, size, &k), -E2BIG, "too big for guest memory"));
	*h = saved;

	h->pref_address = UINT64_MAX;
	CHECK("bz pref_address at the top",
	      fails(load(img, size, &k), -E2BIG, "too big for guest memory"));
	h->pref_address = 256 * MiB - 64 * 1024;
	h->init_size = 0;
	h->kernel_alignment = 4096;
	CHECK("bz ends exactly at end of RAM", load(img, size, &k) == 0 && k.end == 256 * MiB);
	h->pref_address += 4096;
	CHECK("bz one page past RAM", fails(load(img, size, &k), -E2BIG, "too big"));
	*h = saved;

	h->relocatable_kernel = 0;
	h->pref_address = 0x8000;
	CHECK("bz fixed below 1 MiB", fails(load(img, size, &k), -EINVAL, "below 1 MiB"));
	*h = saved;
	free(img);
}

/* A minimal ELF64 vmlinux-like file: text at 16 MiB (virtual
 * 0xffffffff81000000), data with a bss after it, optionally a PVH note. */
#define ELF_TEXT_OFF 0x1000
#define ELF_TEXT_SIZE 0x2000
#define ELF_DATA_OFF 0x3000
#define ELF_DATA_SIZE 0x1000
#define ELF_NOTE_OFF 0x4000
#define ELF_SIZE 0x4100
#define KVIRT 0xffffffff80000000ULL

struct elf_img {
	uint8_t b[ELF_SIZE];
};

static Elf64_Ehdr *ehdr(struct elf_img *e)
{
	return (Elf64_Ehdr *)e->b;
}

static Elf64_Phdr *phdr(struct elf_img *e, unsigned i)
{
	return (Elf64_Phdr *)(e->b + sizeof(Elf64_Ehdr)) + i;
}

static void make_elf(struct elf_img *e, int pvh)
{
	memset(e, 0, sizeof(*e));
	Elf64_Ehdr *h = ehdr(e);
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_EXEC;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_entry = KVIRT + 0x1000000 + 0x40; /* virtual: translated by the loader */
	h->e_phoff = sizeof(Elf64_Ehdr);
	h->e_ehsize = sizeof(Elf64_Ehdr);
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = pvh ? 3 : 2;
	*phdr(e, 0) = (Elf64_Phdr){.p_type = PT_LOAD,
				   .p_flags = PF_R | PF_X,
				   .p_offset = ELF_TEXT_OFF,
				   .p_vaddr = KVIRT + 0x1000000,
				   .p_paddr = 0x1000000,
				   .p_filesz = ELF_TEXT_SIZE,
				   .p_memsz = ELF_TEXT_SIZE,
				   .p_align = 0x1000};
	*phdr(e, 1) = (Elf64_Phdr){.p_type = PT_LOAD,
				   .p_flags = PF_R | PF_W,
				   .p_offset = ELF_DATA_OFF,
				   .p_vaddr = KVIRT + 0x1200000,
				   .p_paddr = 0x1200000,
				   .p_filesz = ELF_DATA_SIZE,
				   .p_memsz = 0x10000,
				   .p_align = 0x1000};
	for (unsigned i = 0; i < ELF_TEXT_SIZE + ELF_DATA_SIZE; i++)
		e->b[ELF_TEXT_OFF + i] = (uint8_t)(i * 13 + 5);
	if (pvh) {
		/* An unrelated note first, then Xen's PHYS32_ENTRY with 8 bytes. */
		uint8_t *n = e->b + ELF_NOTE_OFF;
		Elf64_Nhdr other = {.n_namesz = 6, .n_descsz = 3, .n_type = 1};
		memcpy(n, &other, sizeof(other));
		memcpy(n + 12, "Linux", 6);
		n += 12 + 8 + 4;
		Elf64_Nhdr xen = {.n_namesz = 4, .n_descsz = 8, .n_type = 18};
		memcpy(n, &xen, sizeof(xen));
		memcpy(n + 12, "Xen", 4);
		uint64_t entry = 0x1000080;
		memcpy(n + 16, &entry, 8);
		n += 24;
		*phdr(e, 2) = (Elf64_Phdr){.p_type = PT_NOTE,
					   .p_offset = ELF_NOTE_OFF,
					   .p_filesz = (uint64_t)(n - (e->b + ELF_NOTE_OFF))};
	}
}

static void test_elf_ok(void)
{
	static struct elf_img e;
	struct loader_kernel k;

	make_elf(&e, 0);
	/* Dirty the bss area to see it cleared. */
	memset(guest_mem_ptr(&gm, 0x1200000, 0x10000), 0xcc, 0x10000);
	CHECK("elf loads", load(e.b, sizeof(e.b), &k) == 0);
	if (err[0])
		printf("# %s\n", err);
	CHECK("elf format", k.format == LOADER_ELF && k.entry_kind == LOADER_ENTRY_64);
	CHECK("elf entry virtual to physical", k.entry == 0x1000040);
	CHECK("elf extent", k.start == 0x1000000 && k.end == 0x1210000);
	CHECK("elf text copied", memcmp(guest_mem_ptr(&gm, 0x1000000, ELF_TEXT_SIZE),
					e.b + ELF_TEXT_OFF, ELF_TEXT_SIZE) == 0);
	CHECK("elf data copied", memcmp(guest_mem_ptr(&gm, 0x1200000, ELF_DATA_SIZE),
					e.b + ELF_DATA_OFF, ELF_DATA_SIZE) == 0);
	uint8_t *bss = guest_mem_ptr(&gm, 0x1200000 + ELF_DATA_SIZE, 0x10000 - ELF_DATA_SIZE);
	int zero = 1;
	for (unsigned i = 0; i < 0x10000 - ELF_DATA_SIZE; i++)
		zero &= bss[i] == 0;
	CHECK("elf bss zeroed", zero);
	CHECK("elf defaults", k.cmdline_max == LOADER_DEFAULT_CMDLINE_MAX && k.setup_hdr_len == 0 &&
				      k.initrd_max == LOADER_DEFAULT_INITRD_MAX);

	ehdr(&e)->e_entry = 0x1000100; /* vmlinux's own: already physical */
	CHECK("elf physical entry", load(e.b, sizeof(e.b), &k) == 0 && k.entry == 0x1000100);

	make_elf(&e, 1);
	CHECK("elf pvh loads", load(e.b, sizeof(e.b), &k) == 0);
	CHECK("elf pvh entry from note", k.entry_kind == LOADER_ENTRY_PVH && k.entry == 0x1000080);
}

static void test_elf_errors(void)
{
	static struct elf_img e;
	struct loader_kernel k;

	make_elf(&e, 0);
	CHECK("elf truncated header",
	      fails(load(e.b, 40, &k), -EINVAL, "shorter than an ELF64 header"));
	ehdr(&e)->e_ident[EI_CLASS] = ELFCLASS32;
	CHECK("elf 32-bit", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "not a 64-bit ELF"));
	make_elf(&e, 0);
	ehdr(&e)->e_machine = EM_AARCH64;
	CHECK("elf wrong machine", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "not x86-64"));
	make_elf(&e, 0);
	ehdr(&e)->e_type = ET_DYN;
	CHECK("elf not executable", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "ET_EXEC"));
	make_elf(&e, 0);
	ehdr(&e)->e_phoff = sizeof(e.b) - 8;
	CHECK("elf phdrs past end", fails(load(e.b, sizeof(e.b), &k), -EINVAL,
					  "program headers at offset 0x40f8 run past the end"));
	ehdr(&e)->e_phoff = UINT64_MAX - 16;
	CHECK("elf phoff wraps", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "run past the end"));
	make_elf(&e, 0);
	ehdr(&e)->e_phnum = 0;
	CHECK("elf no phdrs", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "program headers"));
	ehdr(&e)->e_phnum = 1000;
	CHECK("elf too many phdrs",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "1000 program headers"));
	make_elf(&e, 0);
	ehdr(&e)->e_phentsize = 32;
	CHECK("elf bad phentsize",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "program header size"));

	make_elf(&e, 0);
	phdr(&e, 0)->p_offset = UINT64_MAX - 10;
	phdr(&e, 0)->p_filesz = 100;
	CHECK("elf p_offset+p_filesz overflows",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "segment 0 (offset 0xfffffffffffffff5"));
	make_elf(&e, 0);
	phdr(&e, 1)->p_filesz = 0x2000;
	CHECK("elf segment past end of file",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "runs past the end of the file"));
	make_elf(&e, 0);
	phdr(&e, 1)->p_filesz = 0x20000;
	CHECK("elf filesz > memsz", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "p_filesz"));
	make_elf(&e, 0);
	phdr(&e, 1)->p_paddr = 300 * MiB;
	CHECK("elf segment outside RAM",
	      fails(load(e.b, sizeof(e.b), &k), -E2BIG, "outside guest RAM"));
	phdr(&e, 1)->p_paddr = UINT64_MAX - 0x100;
	CHECK("elf segment paddr wraps",
	      fails(load(e.b, sizeof(e.b), &k), -E2BIG, "outside guest RAM"));
	phdr(&e, 1)->p_paddr = 0x1200000;
	phdr(&e, 1)->p_memsz = UINT64_MAX;
	CHECK("elf segment memsz huge",
	      fails(load(e.b, sizeof(e.b), &k), -E2BIG, "outside guest RAM"));
	make_elf(&e, 0);
	phdr(&e, 1)->p_paddr = 0x9000;
	CHECK("elf segment over boot tables",
	      fails(load(e.b, sizeof(e.b), &k), -E2BIG, "outside guest RAM"));
	make_elf(&e, 0);
	phdr(&e, 1)->p_paddr = 0x1001000;
	CHECK("elf overlapping segments", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "overlap"));
	make_elf(&e, 0);
	phdr(&e, 0)->p_type = PT_NULL;
	phdr(&e, 1)->p_type = PT_NULL;
	CHECK("elf no PT_LOAD", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "no loadable"));
	make_elf(&e, 0);
	ehdr(&e)->e_entry = 0x5000000;
	CHECK("elf entry outside segments",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "in no loaded segment"));

	make_elf(&e, 1);
	phdr(&e, 2)->p_filesz = 30; /* cuts the Xen note */
	CHECK("elf note truncated", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "note at offset"));
	make_elf(&e, 1);
	phdr(&e, 2)->p_offset = sizeof(e.b) - 4;
	CHECK("elf note segment past end",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "note segment"));
	make_elf(&e, 1);
	uint32_t big = 0xfffffff0;
	memcpy(e.b + ELF_NOTE_OFF, &big, 4); /* namesz of the first note */
	CHECK("elf note namesz huge",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "runs past its segment"));
	make_elf(&e, 1);
	uint64_t far = 0x7000000;
	memcpy(e.b + ELF_NOTE_OFF + 24 + 16, &far, 8);
	CHECK("elf pvh entry outside segments",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "PVH entry"));
	far = 0x100000000ULL;
	memcpy(e.b + ELF_NOTE_OFF + 24 + 16, &far, 8);
	CHECK("elf pvh entry above 4G", fails(load(e.b, sizeof(e.b), &k), -EINVAL, "not a 32-bit"));

	memcpy(e.b,
	       "\x7f"
	       "ELX",
	       4);
	CHECK("not a kernel at all",
	      fails(load(e.b, sizeof(e.b), &k), -EINVAL, "not a Linux kernel"));
}

static void test_initrd(void)
{
	size_t size;
	uint8_t *img = make_bz(64 * 1024, &size);
	struct loader_kernel k;
	uint64_t addr;

	CHECK("initrd kernel", load(img, size, &k) == 0);
	CHECK("initrd none",
	      loader_place_initrd(&gm, &k, 0, &addr, err, sizeof(err)) == 0 && addr == 0);
	CHECK("initrd at the top of RAM",
	      loader_place_initrd(&gm, &k, 1 * MiB, &addr, err, sizeof(err)) == 0 &&
		      addr == 255 * MiB);
	CHECK("initrd page aligned",
	      loader_place_initrd(&gm, &k, 1 * MiB + 1, &addr, err, sizeof(err)) == 0 &&
		      addr == 255 * MiB - 4096 && addr + 1 * MiB + 1 <= 256 * MiB);
	/* The kernel ends at 20 MiB: 236 MiB fit, one more page does not. */
	CHECK("initrd fills RAM above the kernel",
	      loader_place_initrd(&gm, &k, 236 * MiB, &addr, err, sizeof(err)) == 0 &&
		      addr == k.end);
	CHECK("initrd overlaps the kernel",
	      fails(loader_place_initrd(&gm, &k, 236 * MiB + 1, &addr, err, sizeof(err)), -E2BIG,
		    "initrd (247463937 bytes) does not fit between the kernel end 0x1400000 and "
		    "0x10000000"));
	CHECK("initrd bigger than RAM",
	      fails(loader_place_initrd(&gm, &k, 1ULL << 40, &addr, err, sizeof(err)), -E2BIG,
		    "does not fit"));
	CHECK("initrd size UINT64_MAX",
	      fails(loader_place_initrd(&gm, &k, UINT64_MAX, &addr, err, sizeof(err)), -E2BIG,
		    "does not fit"));
	k.initrd_max = 0xffffff; /* an initrd_addr_max under the kernel's end */
	CHECK("initrd_addr_max below the kernel",
	      fails(loader_place_initrd(&gm, &k, 4096, &addr, err, sizeof(err)), -E2BIG,
		    "does not fit"));
	k.initrd_max = 0x2000000 - 1;
	CHECK("initrd below initrd_addr_max",
	      loader_place_initrd(&gm, &k, 4096, &addr, err, sizeof(err)) == 0 &&
		      addr == 0x2000000 - 4096);
	free(img);
}

static void test_cmdline(void)
{
	size_t size;
	uint8_t *img = make_bz(64 * 1024, &size);
	struct loader_kernel k;
	char line[4096];

	CHECK("cmdline kernel", load(img, size, &k) == 0);
	CHECK("cmdline written",
	      loader_place_cmdline(&gm, &k, "console=ttyS0 quiet", err, sizeof(err)) == 0 &&
		      strcmp(guest_mem_ptr(&gm, X86_CMDLINE_ADDR, 20), "console=ttyS0 quiet") == 0);
	CHECK("cmdline NULL is empty",
	      loader_place_cmdline(&gm, &k, NULL, err, sizeof(err)) == 0 &&
		      *(char *)guest_mem_ptr(&gm, X86_CMDLINE_ADDR, 1) == '\0');
	memset(line, 'a', 2047);
	line[2047] = '\0';
	CHECK("cmdline at cmdline_size",
	      loader_place_cmdline(&gm, &k, line, err, sizeof(err)) == 0);
	line[2047] = 'b';
	line[2048] = '\0';
	CHECK("cmdline too long",
	      fails(loader_place_cmdline(&gm, &k, line, err, sizeof(err)), -E2BIG,
		    "command line is 2048 bytes; this kernel accepts at most 2047"));
	k.cmdline_max = UINT32_MAX;
	char *huge = malloc(X86_CMDLINE_MAX + 10);
	memset(huge, 'x', X86_CMDLINE_MAX + 9);
	huge[X86_CMDLINE_MAX + 9] = '\0';
	CHECK("cmdline over kvmbox's limit",
	      fails(loader_place_cmdline(&gm, &k, huge, err, sizeof(err)), -E2BIG,
		    "kvmbox allows at most 65535"));
	free(huge);
	free(img);
}

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
		    fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = n > 0 ? (size_t)n : 0;
	}
	fclose(f);
	return buf;
}

/* The kernel this project builds. Its absence is a failure, not a skip:
 * set KVMBOX_TEST_KERNEL or build it (make kernel). */
static void test_real(void)
{
	const char *path = getenv("KVMBOX_TEST_KERNEL");
	if (!path || !*path)
		path = "out/kernel/bzImage";
	size_t size = 0;
	uint8_t *img = read_file(path, &size);
	if (!img) {
		printf("not ok real bzImage: cannot read %s (build it with make kernel, or set "
		       "KVMBOX_TEST_KERNEL)\n",
		       path);
		check_failed = 1;
		return;
	}
	struct loader_kernel k;
	int rc = load(img, size, &k);
	if (rc)
		printf("# %s: %s\n", path, err);
	CHECK("real bzImage loads", rc == 0);
	if (rc == 0) {
		struct setup_header *h = hdr_of(img);
		unsigned sects = h->setup_sects ? h->setup_sects : 4;
		printf("# %s: protocol %u.%02u, %u setup sectors, loaded at 0x%llx, end 0x%llx\n",
		       path, k.protocol >> 8, k.protocol & 0xff, sects, (unsigned long long)k.start,
		       (unsigned long long)k.end);
		CHECK("real bzImage protocol >= 2.12", k.protocol >= 0x020c);
		CHECK("real bzImage 64-bit entry",
		      k.entry_kind == LOADER_ENTRY_64 && k.entry == k.start + 0x200);
		CHECK("real bzImage at or above pref_address",
		      k.start >= h->pref_address && k.start % h->kernel_alignment == 0);
		CHECK("real bzImage init_size room", k.end - k.start >= h->init_size);
		size_t setup = (sects + 1) * 512;
		CHECK("real bzImage bytes",
		      memcmp(guest_mem_ptr(&gm, k.start, 4096), img + setup, 4096) == 0);
		uint64_t addr;
		CHECK("real bzImage initrd fits",
		      loader_place_initrd(&gm, &k, 8 * MiB, &addr, err, sizeof(err)) == 0 &&
			      addr >= k.end);
		/* Every truncation fails cleanly (ASan/UBSan watch this). */
		int clean = 1;
		for (size_t cut = 0; cut < size; cut += size / 61 + 1) {
			rc = load(img, cut, &k);
			clean &= rc == -EINVAL || rc == 0;
		}
		CHECK("real bzImage truncations fail cleanly", clean);
	}
	free(img);
}

int main(void)
{
	char gerr[256];
	if (guest_mem_alloc(&gm, 256 * MiB, 0, gerr, sizeof(gerr))) {
		printf("not ok guest memory: %s\n", gerr);
		return 1;
	}
	test_bz_ok();
	test_bz_errors();
	test_elf_ok();
	test_elf_errors();
	test_initrd();
	test_cmdline();
	test_real();
	guest_mem_free(&gm);
	return CHECK_DONE();
}
