/* Loading a Linux kernel into guest RAM: a bzImage (x86 boot protocol) or an
 * uncompressed ELF vmlinux, then the initrd and the command line.
 *
 * The image is attacker-controlled: every field is checked before use, all
 * arithmetic is overflow-safe, and a failure returns -EINVAL (malformed),
 * -E2BIG (does not fit) or -ENOMEM with one readable line in err, e.g.
 * "kernel bzImage: setup_sects 200 runs past the end of the file (size 4096)".
 */
#ifndef KVMBOX_X86_LOADER_H
#define KVMBOX_X86_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "x86/guest_mem.h"

/* The bzImage boot protocol we need: 2.12 (Linux 3.8) brought xloadflags,
 * the only way a kernel says it has the 64-bit entry (XLF_KERNEL_64) that
 * we jump to; it also implies init_size/pref_address (2.10) and
 * cmdline_size (2.06), which placement depends on. */
#define LOADER_MIN_PROTOCOL 0x020c
#define LOADER_SETUP_HDR_OFF 0x1f1
#define LOADER_SETUP_HDR_MAX (0x202 + 0xff - LOADER_SETUP_HDR_OFF) /* jump byte is 8 bits */
#define LOADER_ELF_MAX_PHDRS 64
#define LOADER_DEFAULT_CMDLINE_MAX 2047   /* x86 COMMAND_LINE_SIZE is 2048 with the NUL */
#define LOADER_DEFAULT_INITRD_MAX 0x7fffffffULL

enum loader_format { LOADER_BZIMAGE = 1, LOADER_ELF };

enum loader_entry {
	LOADER_ENTRY_64 = 1, /* 64-bit boot protocol: long mode, RSI = zero page */
	LOADER_ENTRY_PVH,    /* PVH: 32-bit protected mode, EBX = hvm_start_info */
};

struct loader_kernel {
	enum loader_format format;
	enum loader_entry entry_kind;
	uint64_t entry;        /* guest-physical entry point */
	uint64_t start, end;   /* [start, end): RAM the kernel owns, incl. its init_size room */
	uint16_t protocol;     /* bzImage boot protocol version, 0 for ELF */
	uint32_t cmdline_max;  /* longest command line, NUL excluded */
	uint64_t initrd_max;   /* the last byte an initrd may occupy */
	uint32_t setup_hdr_len; /* bytes of setup_hdr (0 for ELF) */
	uint8_t setup_hdr[LOADER_SETUP_HDR_MAX]; /* image bytes from 0x1f1: the setup header */
};

/* Load a bzImage or ELF vmlinux (told apart by their magic) into guest RAM. */
int loader_load(const struct guest_mem *gm, const void *image, size_t size, struct loader_kernel *k,
		char *err, size_t errlen);

/* The two formats, for callers that know which they have. */
int bzimage_load(const struct guest_mem *gm, const uint8_t *image, size_t size,
		 struct loader_kernel *k, char *err, size_t errlen);
int elf_kernel_load(const struct guest_mem *gm, const uint8_t *image, size_t size,
		    struct loader_kernel *k, char *err, size_t errlen);

/* Where an initrd of size bytes goes: page-aligned, as high as possible below
 * min(initrd_max, end of low RAM), above the kernel's end. size 0: *addr = 0. */
int loader_place_initrd(const struct guest_mem *gm, const struct loader_kernel *k, uint64_t size,
			uint64_t *addr, char *err, size_t errlen);

/* Write the command line at X86_CMDLINE_ADDR, checked against the kernel's
 * cmdline_size and X86_CMDLINE_MAX. NULL means empty. */
int loader_place_cmdline(const struct guest_mem *gm, const struct loader_kernel *k,
			 const char *cmdline, char *err, size_t errlen);

#endif
