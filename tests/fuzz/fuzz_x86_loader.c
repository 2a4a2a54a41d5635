/* libFuzzer target: the x86 boot path with an arbitrary kernel image.
 *
 * Input: byte 0 picks the initrd size, byte 1 the command line length,
 * byte 2 the vCPU count; the rest is the kernel file. Everything goes
 * through x86_boot_setup() into a 64 MiB guest, as the VMM would do it.
 * Beyond "no crash", every failure must be -EINVAL or -E2BIG with a reason,
 * and every success must respect the layout's invariants. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "x86/boot.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"

#define RAM (64ULL << 20)
#define INITRD_MAX (128ULL << 20)

static struct guest_mem gm;
static const uint8_t *initrd_src; /* zero pages: reading them is cheap */
static char cmdline[4096];

static void setup(void)
{
	char err[256];
	if (guest_mem_alloc(&gm, RAM, 0, err, sizeof(err)))
		abort();
	void *p = mmap(NULL, INITRD_MAX, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		       0);
	if (p == MAP_FAILED)
		abort();
	initrd_src = p;
}

static uint64_t initrd_size(uint8_t sel)
{
	if (sel <= 200)
		return (uint64_t)sel * 4096 - (sel ? 1 : 0); /* unaligned sizes too */
	return (uint64_t)(sel - 200) * (2ULL << 20);	     /* up to 110 MiB: too big */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!gm.base)
		setup();
	if (size < 3)
		return 0;
	size_t cmdlen = (size_t)data[1] * 16;
	memset(cmdline, 'k', cmdlen);
	cmdline[cmdlen] = '\0';
	struct x86_boot_config cfg = {
		.kernel = data + 3,
		.kernel_size = size - 3,
		.initrd = initrd_src,
		.initrd_size = initrd_size(data[0]),
		.cmdline = cmdline,
		.ncpus = data[2],
	};
	struct x86_boot b;
	char err[512] = "";
	int rc = x86_boot_setup(&gm, &cfg, &b, err, sizeof(err));
	if (rc) {
		if ((rc != -EINVAL && rc != -E2BIG) || err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	const struct loader_kernel *k = &b.kernel;
	uint64_t low_end = guest_mem_low_end(&gm);
	if (k->start < X86_KERNEL_MIN_ADDR || k->end > low_end || k->start >= k->end ||
	    k->entry < k->start || k->entry >= k->end)
		__builtin_trap();
	if (b.initrd_size && (b.initrd_addr < k->end || b.initrd_addr % 4096 ||
			      b.initrd_addr + b.initrd_size > low_end))
		__builtin_trap();
	struct kvm_sregs s;
	struct kvm_regs r;
	memset(&s, 0, sizeof(s));
	if (x86_boot_regs(&b, &s, &r) || r.rip != k->entry)
		__builtin_trap();
	return 0;
}
