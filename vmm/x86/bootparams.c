/* Filling the zero page. The boot protocol asks the loader to start from a
 * zeroed boot_params, copy in the kernel's setup header and then set the
 * fields it owns, which is what happens here. */
#include <errno.h>
#include <string.h>

#include "x86/bootparams.h"

/* An ELF vmlinux has no setup header; the kernel still reads some fields
 * and only copies boot_params when hdr.version is non-zero. */
static void synth_header(struct setup_header *h)
{
	h->boot_flag = 0xaa55;
	h->header = 0x53726448; /* "HdrS" */
	h->version = LOADER_MIN_PROTOCOL;
	h->loadflags = LOADED_HIGH;
	h->cmdline_size = LOADER_DEFAULT_CMDLINE_MAX;
	h->initrd_addr_max = (uint32_t)LOADER_DEFAULT_INITRD_MAX;
	h->xloadflags = XLF_KERNEL_64;
}

int bootparams_build(struct boot_params *bp, const struct loader_kernel *k,
		     const struct bootparams_args *a)
{
	struct setup_header *h = &bp->hdr;

	memset(bp, 0, sizeof(*bp));
	if (k->setup_hdr_len > LOADER_SETUP_HDR_MAX || a->e820->n > E820_MAX_ENTRIES_ZEROPAGE)
		return -EINVAL;
	if (k->setup_hdr_len)
		memcpy((uint8_t *)bp + LOADER_SETUP_HDR_OFF, k->setup_hdr, k->setup_hdr_len);
	else
		synth_header(h);

	/* Loader-owned fields the image may carry junk in: the kernel would
	 * follow a setup_data pointer or a subarch switch blindly. */
	h->setup_data = 0;
	h->hardware_subarch = X86_SUBARCH_PC;
	h->hardware_subarch_data = 0;
	h->type_of_loader = BOOTPARAMS_LOADER_ID;
	h->loadflags |= CAN_USE_HEAP;
	h->heap_end_ptr = BOOTPARAMS_HEAP_END;
	if (k->format == LOADER_BZIMAGE)
		h->code32_start = (uint32_t)k->start;
	h->cmd_line_ptr = (uint32_t)a->cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(a->cmdline_addr >> 32);
	h->ramdisk_image = (uint32_t)a->initrd_addr;
	bp->ext_ramdisk_image = (uint32_t)(a->initrd_addr >> 32);
	h->ramdisk_size = (uint32_t)a->initrd_size;
	bp->ext_ramdisk_size = (uint32_t)(a->initrd_size >> 32);
	bp->acpi_rsdp_addr = a->rsdp_addr;

	for (unsigned i = 0; i < a->e820->n; i++) {
		bp->e820_table[i].addr = a->e820->e[i].addr;
		bp->e820_table[i].size = a->e820->e[i].size;
		bp->e820_table[i].type = a->e820->e[i].type;
	}
	bp->e820_entries = (uint8_t)a->e820->n;
	return 0;
}
