/* The whole boot layout: zero page, e820 for 256 MiB and 5 GiB guests, page
 * tables, GDT, entry registers, the PVH variant and the BIOS data area. */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "x86/boot.h"
#include "x86/e820.h"
#include "x86/entry.h"
#include "x86/gdt.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"
#include "x86/pvh.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static char err[512];

/* The same minimal bzImage as test_x86_loader.c: 4 setup sectors, pm bytes
 * of code, relocatable at 16 MiB with init_size 4 MiB. */
static uint8_t *make_bz(size_t pm, size_t *size)
{
	*size = 5 * 512 + pm;
	uint8_t *img = calloc(1, *size);
	struct setup_header h = {
		.setup_sects = 4,
		.syssize = (uint32_t)(pm / 16),
		.boot_flag = 0xaa55,
		.jump = 0x6aeb,
		.header = 0x53726448,
		.version = 0x020f,
		.loadflags = LOADED_HIGH,
		.initrd_addr_max = 0x7fffffff,
		.kernel_alignment = 0x200000,
		.relocatable_kernel = 1,
		.xloadflags = XLF_KERNEL_64,
		.cmdline_size = 2047,
		.pref_address = 0x1000000,
		.init_size = 4 * MiB,
		.setup_data = 0xdeadbeef /* junk a loader must clear */,
	};
	memcpy(img + 0x1f1, &h, sizeof(h));
	return img;
}

/* A one-segment ELF at 16 MiB, with a PVH note when pvh is set. */
static uint8_t *make_elf(int pvh, size_t *size)
{
	*size = 0x2000;
	uint8_t *b = calloc(1, *size);
	Elf64_Ehdr *h = (Elf64_Ehdr *)b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(b + sizeof(*h));
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_type = ET_EXEC;
	h->e_machine = EM_X86_64;
	h->e_entry = 0x1000000;
	h->e_phoff = sizeof(*h);
	h->e_phentsize = sizeof(*ph);
	h->e_phnum = pvh ? 2 : 1;
	ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_offset = 0x1000,
			     .p_paddr = 0x1000000,
			     .p_vaddr = 0xffffffff81000000ULL,
			     .p_filesz = 0x1000,
			     .p_memsz = 0x1000};
	if (pvh) {
		Elf64_Nhdr n = {.n_namesz = 4, .n_descsz = 4, .n_type = 18};
		uint32_t entry = 0x1000010;
		memcpy(b + 0x800, &n, sizeof(n));
		memcpy(b + 0x80c, "Xen", 4);
		memcpy(b + 0x810, &entry, 4);
		ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20};
	}
	return b;
}

static int e820_is(const struct boot_params *bp, unsigned i, uint64_t addr, uint64_t size,
		   uint32_t type)
{
	return i < bp->e820_entries && bp->e820_table[i].addr == addr &&
	       bp->e820_table[i].size == size && bp->e820_table[i].type == type;
}

static void print_e820(const struct boot_params *bp)
{
	for (unsigned i = 0; i < bp->e820_entries; i++)
		printf("#   e820 [0x%010llx, 0x%010llx) type %u\n",
		       (unsigned long long)bp->e820_table[i].addr,
		       (unsigned long long)(bp->e820_table[i].addr + bp->e820_table[i].size),
		       bp->e820_table[i].type);
}

static uint64_t rd64(const struct guest_mem *gm, uint64_t gpa)
{
	uint64_t v = 0;
	const void *p = guest_mem_ptr(gm, gpa, 8);
	if (p)
		memcpy(&v, p, 8);
	return v;
}

/* Walk the guest page tables like the MMU; UINT64_MAX when not mapped. */
static uint64_t walk(const struct guest_mem *gm, uint64_t cr3, uint64_t va)
{
	uint64_t pml4e = rd64(gm, cr3 + ((va >> 39) & 511) * 8);
	if (!(pml4e & 1))
		return UINT64_MAX;
	uint64_t pdpte = rd64(gm, (pml4e & ~0xfffULL) + ((va >> 30) & 511) * 8);
	if (!(pdpte & 1) || (pdpte & 0x80))
		return UINT64_MAX;
	uint64_t pde = rd64(gm, (pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8);
	if (!(pde & 1) || !(pde & 0x80) || !(pde & 2))
		return UINT64_MAX;
	return (pde & ~0x1fffffULL) + (va & 0x1fffff);
}

static void test_bz_boot(uint64_t ram, int big)
{
	struct guest_mem gm;
	char name[128];
	size_t ksize;
	uint8_t *kernel = make_bz(64 * 1024, &ksize);
	static const char initrd[] = "07070100000000000000000000000000"; /* looks like a cpio */
	const char *cmdline = "console=ttyS0 quiet kvmbox.test=1";
	const char *tag = big ? "5G" : "256M";

	if (guest_mem_alloc(&gm, ram, 0, err, sizeof(err))) {
		printf("not ok boot %s: %s\n", tag, err);
		check_failed = 1;
		free(kernel);
		return;
	}
	struct x86_boot_config cfg = {.kernel = kernel,
				      .kernel_size = ksize,
				      .initrd = initrd,
				      .initrd_size = sizeof(initrd),
				      .cmdline = cmdline,
				      .ncpus = 2};
	struct x86_boot b;
	int rc = x86_boot_setup(&gm, &cfg, &b, err, sizeof(err));
	snprintf(name, sizeof(name), "boot %s setup", tag);
	CHECK(name, rc == 0);
	if (rc) {
		printf("# %s\n", err);
		goto out;
	}
	uint64_t low_end = big ? X86_PCI_HOLE_START : ram;
	struct boot_params *bp = guest_mem_ptr(&gm, X86_ZERO_PAGE_ADDR, sizeof(*bp));

#define C(what, cond)                                                                              \
	do {                                                                                       \
		snprintf(name, sizeof(name), "boot %s %s", tag, what);                             \
		CHECK(name, cond);                                                                 \
	} while (0)
	C("params at the zero page", b.params_addr == X86_ZERO_PAGE_ADDR);
	C("zero page header copied", bp->hdr.header == 0x53726448 && bp->hdr.boot_flag == 0xaa55 &&
					     bp->hdr.version == 0x020f &&
					     bp->hdr.init_size == 4 * MiB &&
					     bp->hdr.kernel_alignment == 0x200000);
	C("zero page type_of_loader", bp->hdr.type_of_loader == 0xff);
	C("zero page loadflags", bp->hdr.loadflags == (LOADED_HIGH | CAN_USE_HEAP));
	C("zero page heap_end_ptr", bp->hdr.heap_end_ptr == 0xfe00);
	C("zero page code32_start", bp->hdr.code32_start == 0x1000000);
	C("zero page setup_data cleared", bp->hdr.setup_data == 0);
	C("zero page cmd_line_ptr",
	  bp->hdr.cmd_line_ptr == X86_CMDLINE_ADDR && bp->ext_cmd_line_ptr == 0 &&
		  strcmp(guest_mem_ptr(&gm, X86_CMDLINE_ADDR, 1), cmdline) == 0);
	C("zero page ramdisk",
	  bp->hdr.ramdisk_image == b.initrd_addr && bp->ext_ramdisk_image == 0 &&
		  bp->hdr.ramdisk_size == sizeof(initrd) && bp->ext_ramdisk_size == 0);
	/* Below the header's initrd_addr_max (2 GiB) in the 5 GiB guest. */
	uint64_t initrd_top = low_end < 0x80000000ULL ? low_end : 0x80000000ULL;
	C("initrd at the top it may use",
	  b.initrd_addr == initrd_top - 4096 &&
		  memcmp(guest_mem_ptr(&gm, b.initrd_addr, sizeof(initrd)), initrd,
			 sizeof(initrd)) == 0);
	C("zero page acpi_rsdp_addr",
	  bp->acpi_rsdp_addr == X86_ACPI_ADDR && b.rsdp_addr == X86_ACPI_ADDR &&
		  memcmp(guest_mem_ptr(&gm, X86_ACPI_ADDR, 8), "RSD PTR ", 8) == 0);
	C("MP floating pointer", memcmp(guest_mem_ptr(&gm, X86_MPTABLE_ADDR, 4), "_MP_", 4) == 0);
	C("zero page sentinel clear", bp->sentinel == 0);

	print_e820(bp);
	C("e820 base RAM", e820_is(bp, 0, 0, 0x9fc00, E820_RAM));
	C("e820 EBDA and BIOS reserved",
	  e820_is(bp, 1, 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED));
	C("e820 RAM from 1 MiB", e820_is(bp, 2, 0x100000, low_end - 0x100000, E820_RAM));
	C("e820 ECAM reserved", e820_is(bp, 3, X86_ECAM_BASE, X86_ECAM_SIZE, E820_RESERVED));
	if (big) {
		C("e820 RAM above 4 GiB", e820_is(bp, 4, 4 * GiB, ram - 3 * GiB, E820_RAM));
		C("e820 entries", bp->e820_entries == 5);
	} else {
		C("e820 entries", bp->e820_entries == 4);
	}
	uint64_t total = 0;
	for (unsigned i = 0; i < bp->e820_entries; i++)
		if (bp->e820_table[i].type == E820_RAM)
			total += bp->e820_table[i].size;
	C("e820 RAM adds up", total == ram - (0x100000 - 0x9fc00));

	C("BDA EBDA segment", (rd64(&gm, X86_BDA_EBDA_SEG) & 0xffff) == 0x9fc0);
	C("BDA base memory", (rd64(&gm, X86_BDA_BASE_MEM_KB) & 0xffff) == 639);

	/* Page tables: identity over the first 4 GiB, nothing above. */
	int ident = 1;
	for (uint64_t va = 0; va < 4 * GiB; va += 2 * MiB + 4096 * 3)
		ident &= walk(&gm, X86_PML4_ADDR, va) == va;
	C("page tables identity map 4 GiB",
	  ident && walk(&gm, X86_PML4_ADDR, 4 * GiB - 1) == 4 * GiB - 1);
	C("page tables stop at 4 GiB", walk(&gm, X86_PML4_ADDR, 4 * GiB) == UINT64_MAX);
	C("page tables cover kernel, zero page, cmdline",
	  walk(&gm, X86_PML4_ADDR, b.kernel.entry) == b.kernel.entry &&
		  walk(&gm, X86_PML4_ADDR, X86_ZERO_PAGE_ADDR) == X86_ZERO_PAGE_ADDR &&
		  walk(&gm, X86_PML4_ADDR, X86_CMDLINE_ADDR) == X86_CMDLINE_ADDR);

	/* GDT in memory, and the registers that must match it. */
	int gdt_ok = 1;
	for (unsigned i = 0; i < GDT_ENTRIES; i++)
		gdt_ok &= rd64(&gm, X86_GDT_ADDR + 8 * i) == gdt_entry(i);
	C("GDT written", gdt_ok && gdt_entry(0) == 0);
	C("GDT code64 descriptor", gdt_entry(2) == 0x00af9b000000ffffULL);
	C("GDT data descriptor", gdt_entry(3) == 0x00cf93000000ffffULL);
	C("GDT code32 descriptor", gdt_entry(1) == 0x00cf9b000000ffffULL);

	struct kvm_sregs s;
	struct kvm_regs r;
	memset(&s, 0x5a, sizeof(s));
	s.apic_base = 0xfee00900;
	C("regs built", x86_boot_regs(&b, &s, &r) == 0);
	C("regs rip at 64-bit entry", r.rip == 0x1000200);
	C("regs rsi zero page", r.rsi == X86_ZERO_PAGE_ADDR);
	C("regs rflags IF clear", r.rflags == 2);
	C("regs other gprs zero", r.rax == 0 && r.rbx == 0 && r.rdi == 0 && r.rbp == 0);
	C("sregs long mode",
	  s.cr0 == 0x80000011 && s.cr4 == 0x20 && s.efer == 0x500 && s.cr3 == X86_PML4_ADDR);
	C("sregs cs __BOOT_CS", s.cs.selector == 0x10 && s.cs.l == 1 && s.cs.db == 0 &&
					s.cs.present == 1 && s.cs.s == 1 && s.cs.type == 0xb &&
					s.cs.base == 0 && s.cs.limit == 0xffffffff && s.cs.g == 1 &&
					s.cs.unusable == 0);
	C("sregs ds/es/ss __BOOT_DS",
	  s.ds.selector == 0x18 && s.es.selector == 0x18 && s.ss.selector == 0x18 &&
		  s.ss.type == 3 && s.ss.db == 1 && s.ds.limit == 0xffffffff && s.ds.present == 1);
	C("sregs tr busy TSS", s.tr.selector == 0x20 && s.tr.type == 11 && s.tr.present == 1 &&
				       s.tr.s == 0 && s.tr.limit == 0x67);
	C("sregs gdt", s.gdt.base == X86_GDT_ADDR && s.gdt.limit == GDT_ENTRIES * 8 - 1);
	C("sregs apic base kept", s.apic_base == 0xfee00900);
#undef C
out:
	guest_mem_free(&gm);
	free(kernel);
}

static void test_elf_boot(void)
{
	struct guest_mem gm;
	size_t ksize;
	uint8_t *kernel;
	struct x86_boot b;
	struct kvm_sregs s;
	struct kvm_regs r;
	static const uint8_t initrd[8192] = {1, 2, 3};

	if (guest_mem_alloc(&gm, 128 * MiB, 0, err, sizeof(err))) {
		printf("not ok elf boot: %s\n", err);
		check_failed = 1;
		return;
	}
	kernel = make_elf(0, &ksize);
	struct x86_boot_config cfg = {
		.kernel = kernel, .kernel_size = ksize, .cmdline = "root=x", .ncpus = 1};
	CHECK("elf64 boot setup", x86_boot_setup(&gm, &cfg, &b, err, sizeof(err)) == 0);
	struct boot_params *bp = guest_mem_ptr(&gm, X86_ZERO_PAGE_ADDR, sizeof(*bp));
	CHECK("elf64 zero page made-up header",
	      bp->hdr.header == 0x53726448 && bp->hdr.version == 0x020c &&
		      bp->hdr.type_of_loader == 0xff && bp->hdr.cmd_line_ptr == X86_CMDLINE_ADDR &&
		      bp->hdr.ramdisk_image == 0 && bp->e820_entries == 4);
	CHECK("elf64 regs", x86_boot_regs(&b, &s, &r) == 0 && r.rip == 0x1000000 &&
				    r.rsi == X86_ZERO_PAGE_ADDR && s.cs.l == 1);
	free(kernel);

	kernel = make_elf(1, &ksize);
	cfg = (struct x86_boot_config){.kernel = kernel,
				       .kernel_size = ksize,
				       .initrd = initrd,
				       .initrd_size = sizeof(initrd),
				       .cmdline = "console=hvc0",
				       .ncpus = 4};
	int rc = x86_boot_setup(&gm, &cfg, &b, err, sizeof(err));
	CHECK("pvh boot setup", rc == 0 && b.kernel.entry_kind == LOADER_ENTRY_PVH);
	if (rc)
		printf("# %s\n", err);
	struct pvh_start_info *si = guest_mem_ptr(&gm, X86_PVH_INFO_ADDR, sizeof(*si));
	CHECK("pvh params address", b.params_addr == X86_PVH_INFO_ADDR);
	CHECK("pvh start info", si->magic == PVH_START_MAGIC && si->version == 1 &&
					si->cmdline_paddr == X86_CMDLINE_ADDR &&
					si->rsdp_paddr == X86_ACPI_ADDR);
	struct pvh_module *mod = guest_mem_ptr(&gm, si->modlist_paddr, sizeof(*mod));
	CHECK("pvh initrd module", si->nr_modules == 1 && mod && mod->paddr == b.initrd_addr &&
					   mod->size == sizeof(initrd) &&
					   b.initrd_addr == 128 * MiB - 8192);
	struct pvh_memmap_entry *map = guest_mem_ptr(&gm, si->memmap_paddr, 4 * sizeof(*map));
	CHECK("pvh memory map", si->memmap_entries == 4 && map && map[0].addr == 0 &&
					map[0].type == E820_RAM && map[2].addr == 0x100000 &&
					map[2].size == 127 * MiB && map[3].type == E820_RESERVED);
	CHECK("pvh tables inside their page",
	      si->memmap_paddr + 4 * sizeof(*map) <= X86_PVH_INFO_ADDR + X86_PVH_INFO_SIZE);
	memset(&s, 0, sizeof(s));
	CHECK("pvh regs", x86_boot_regs(&b, &s, &r) == 0 && r.rip == 0x1000010 &&
				  r.rbx == X86_PVH_INFO_ADDR && r.rsi == 0 && r.rflags == 2);
	CHECK("pvh sregs protected mode, no paging", s.cr0 == 0x11 && s.cr4 == 0 && s.efer == 0);
	CHECK("pvh sregs flat 32-bit cs", s.cs.selector == 0x08 && s.cs.db == 1 && s.cs.l == 0 &&
						  s.cs.limit == 0xffffffff && s.cs.type == 0xb);
	CHECK("pvh sregs data and TR", s.ds.selector == 0x18 && s.ss.db == 1 && s.tr.type == 11 &&
					       s.tr.limit == 0x67 && s.tr.base == 0);
	CHECK("pvh entry rejects 64-bit params",
	      entry_set_regs(LOADER_ENTRY_PVH, 0x1000000, 1ULL << 32, &s, &r) == -EINVAL);
	CHECK("entry rejects unknown kind", entry_set_regs(0, 0x1000000, 0, &s, &r) == -EINVAL);
	free(kernel);
	guest_mem_free(&gm);
}

static void test_boot_errors(void)
{
	struct guest_mem gm;
	size_t ksize;
	uint8_t *kernel = make_bz(64 * 1024, &ksize);
	struct x86_boot b;

	if (guest_mem_alloc(&gm, 32 * MiB, 0, err, sizeof(err))) {
		printf("not ok boot errors: %s\n", err);
		check_failed = 1;
		free(kernel);
		return;
	}
	struct x86_boot_config cfg = {.kernel = kernel, .kernel_size = ksize, .ncpus = 0};
	CHECK("boot 0 vCPUs", x86_boot_setup(&gm, &cfg, &b, err, sizeof(err)) == -EINVAL &&
				      strstr(err, "1 to 254"));
	cfg.ncpus = X86_MAX_VCPUS + 1;
	CHECK("boot 255 vCPUs", x86_boot_setup(&gm, &cfg, &b, err, sizeof(err)) == -EINVAL);
	cfg.ncpus = X86_MAX_VCPUS;
	CHECK("boot 254 vCPUs", x86_boot_setup(&gm, &cfg, &b, err, sizeof(err)) == 0);
	cfg.kernel_size = 0;
	CHECK("boot empty kernel",
	      x86_boot_setup(&gm, &cfg, &b, err, sizeof(err)) == -EINVAL && strstr(err, "empty"));
	cfg.kernel_size = ksize;
	cfg.initrd = kernel;
	cfg.initrd_size = 16 * MiB;
	int rc = x86_boot_setup(&gm, &cfg, &b, err, sizeof(err));
	printf("# %s\n", err);
	CHECK("boot initrd does not fit in 32 MiB", rc == -E2BIG && strstr(err, "initrd"));
	cfg.initrd_size = 0;
	((struct setup_header *)(kernel + 0x1f1))->init_size = 32 * MiB;
	rc = x86_boot_setup(&gm, &cfg, &b, err, sizeof(err));
	printf("# %s\n", err);
	CHECK("boot kernel too big for 32 MiB", rc == -E2BIG && strstr(err, "too big"));
	guest_mem_free(&gm);
	free(kernel);
}

int main(void)
{
	test_bz_boot(256 * MiB, 0);
	test_bz_boot(5 * GiB, 1);
	test_elf_boot();
	test_boot_errors();
	return CHECK_DONE();
}
