/* The VMM's control socket: one JSON request per line, one JSON reply per
 * line. The supervisor drives a VMM through it. */
#ifndef KVMBOX_VMM_CONTROL_H
#define KVMBOX_VMM_CONTROL_H

#include <stddef.h>

#define CONTROL_LINE_MAX 4096   /* longer requests are refused and the client dropped */
#define CONTROL_MAX_CLIENTS 8
#define CONTROL_REPLY_MAX 4096

struct vm;
struct vmm_state {
	struct vm *vm;
	double started;          /* monotonic seconds when the guest started */
	unsigned mem_mib;
	int stopping;            /* an orderly stop is under way */
	void (*request_stop)(struct vmm_state *s, int force);
};

/* Handle one request line; write the reply (with its newline) into reply.
 * Returns the reply's length. Exposed for tests and the fuzzer. */
size_t control_handle(struct vmm_state *s, const char *line, size_t len, char *reply, size_t size);

#endif
