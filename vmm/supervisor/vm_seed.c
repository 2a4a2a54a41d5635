/* The seed's VMs: created (not saved to disk, so a seed never leaves VMs
 * behind for the next boot without it), started, and their consoles copied
 * to the appliance's console as "[name] line", so that a CI job reads its
 * guest's output from QEMU's stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "supervisor/seed_parse.h"
#include "supervisor/state.h"
#include "supervisor/vms.h"

/* A seed VM that cannot run counts as failed with status 1, as `kvmbox
 * vmm` exits 1 on a bad setting: a CI run must not pass because a typo
 * left a VM out. Its reason goes to the console like its output would. */
static void seed_failed(struct vms *v, struct sv_vm *vm, const char *what, const char *why)
{
	log_plain(LOG_ERROR, "[%s] %s: %s", vm->name, what, why);
	log_error("seed: VM %s %s: %s", vm->name, what, why);
	vm->mirror = true;
	vm->state = VM_FAILED;
	vm->has_exit = true;
	vm->exit_code = 1;
	vm->guest_status = -1;
	snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s: %.130s", what, why);
	v->seed_vms++;
}

static int seed_start_one(void *ctx, const char *name, const char *json, size_t n)
{
	struct vms *v = ctx;
	struct vms_err e;
	struct sv_vm *vm = vms_find(v, name, strlen(name));
	if (vm) {
		/* A saved VM of that name: the seed's definition wins for this
		 * boot, and the file on /data is left alone. */
		if (vm->state != VM_STOPPED && vm->state != VM_FAILED) {
			log_error("seed: VM %s is already %s; not starting it again", name, vms_state_name(vm->state));
			return 0;
		}
		bool was = vm->transient;
		vm->transient = true;
		if (vms_update(v, vm, json, n, &e)) {
			vm->transient = was;
			seed_failed(v, vm, "its definition was refused", e.msg);
			return 0;
		}
	} else if (vms_create(v, json, n, true, &vm, &e)) {
		/* Keep it, as a failed VM that says why, with the text it was
		 * given (the seed parsed, so it is JSON). */
		struct vms_err e2;
		if (vms_add_refused(v, name, json, n, &vm, &e2)) {
			log_error("seed: VM %s: %s", name, e.msg);
			return 0;
		}
		seed_failed(v, vm, "its definition was refused", e.msg);
		return 0;
	}
	vm->mirror = true;
	v->seed_vms++;
	if (vms_start(v, vm, &e)) {
		v->seed_vms--;
		seed_failed(v, vm, "it could not start", e.msg);
	}
	return 0;
}

int vms_seed(struct vms *v, const char *path)
{
	char *text;
	size_t len;
	int r = state_read_file(path, SEED_MAX_BYTES, &text, &len);
	if (r) {
		log_error("seed: cannot read %s: %s", path, strerror(-r));
		return -1;
	}
	struct seed_opts opts = { 0 };
	char err[300];
	r = seed_parse(text, len, &opts, err, sizeof(err), seed_start_one, v);
	free(text);
	if (r < 0) {
		log_error("seed: %s: %s; no VMs started from it", path, err);
		return -1;
	}
	v->seed_poweroff = opts.poweroff;
	log_info("seed: %d VM(s) from %s%s", r, path, opts.poweroff ? "; the appliance powers off when they end" : "");
	/* All of them may have failed to start already. */
	if (v->seed_vms)
		vms_seed_check(v);
	return 0;
}
