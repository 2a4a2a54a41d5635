/* libFuzzer target: the headless seed (from fw_cfg, /data/seed.json or the kernel
 * command line's kvmbox.seed=), which says what VMs the supervisor starts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/seed_parse.h"

static int count_vm(const char *name, const char *json, size_t n)
{
	/* Every VM handed on has a safe name and its own object's text. */
	if (!name[0] || strchr(name, '/') || n < 2 || json[0] != '{' || json[n - 1] != '}')
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	seed_load((const char *)data, size, err, sizeof(err), count_vm);
	return 0;
}
