/* libFuzzer target: what `kvmbox vmm` reads from outside other than the
 * kernel: JSON config files, size strings, and control-socket requests (run
 * against a VM with no vCPUs, so every command's code path runs). The first
 * byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm.h"
#include "vmm/config.h"
#include "vmm/control.h"

static void fake_stop(struct vmm_state *s, int force) { s->stopping = !force; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0];
	data++;
	size--;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char err[256];
	switch (which % 3) {
	case 0: {
		struct vmm_config c;
		vmm_config_defaults(&c);
		if (vmm_config_from_json(&c, text, size, err, sizeof(err)) == 0)
			vmm_config_check(&c, err, sizeof(err));
		break;
	}
	case 1: {
		uint64_t v;
		parse_size(text, &v);
		break;
	}
	default: {
		static struct vm vm;
		vm.stop = VM_RUNNING;
		vm.stop_efd = -1;
		struct vmm_state st = { .vm = &vm, .request_stop = fake_stop };
		char reply[CONTROL_REPLY_MAX];
		size_t n = control_handle(&st, text, size, reply, sizeof(reply));
		if (n == 0 || n >= sizeof(reply) || reply[n - 1] != '\n')
			abort(); /* every request gets exactly one reply line */
		vm_pause(&vm, 0);
		break;
	}
	}
	free(text);
	return 0;
}
