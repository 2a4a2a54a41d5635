/* The supervisor's VM registry: definitions on disk, one VMM process per
 * running VM, and the state machine between them.
 *
 * A definition is the JSON that `kvmbox vmm --config` reads, plus the
 * supervisor's own keys "autostart" and "restart". It is validated with the
 * VMM's own parser, so the API and the VMM never disagree about what is a
 * valid VM. Kernel, initrd and disk paths are either absolute or the name of
 * an image in STATE/images; the VMM runs in that folder, so a plain name
 * resolves there.
 *
 * States and the requests that move between them (anything else is a 409):
 *
 *   stopped/failed --start--> starting --(control socket answers)--> running
 *   running --pause--> paused --resume--> running
 *   starting/running/paused --stop--> stopping --(VMM exits)--> stopped
 *   running/paused --reboot--> stopping --> starting
 *   VMM exits on its own: the guest rebooted -> starting again; else the
 *   restart policy: "always", or "on-failure" after a failure, waits in
 *   "restarting" (backoff 1, 2, 4 .. 60 s) and starts again; otherwise
 *   stopped (the guest powered off) or failed.
 *   stopped/failed --delete--> gone
 */
#ifndef KVMBOX_SUPERVISOR_VMS_H
#define KVMBOX_SUPERVISOR_VMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"
#include "supervisor/sv_ring.h"

#define VMS_MAX 256                  /* defined VMs */
#define VMS_NAME_MAX 64              /* with the NUL, as VMM_NAME_MAX */
#define VMS_DEF_MAX (64 * 1024)      /* bytes of one definition */
#define VMS_DEF_TOKENS 2048
#define VMS_FILE_VERSION 1           /* of STATE/vms/NAME.json; newer files are refused */
#define VMS_CONSOLE_RING (256 * 1024) /* serial output kept per VM while nobody watches */
#define VMS_LOG_RING (32 * 1024)     /* the VMM's own log lines kept per VM */
#define VMS_BACKOFF_MAX_S 60         /* the longest wait before a restart */
#define VMS_STABLE_S 60              /* a VM that ran this long restarts its backoff at 1 s */
#define VMS_KILL_GRACE_S 5           /* after the VMM's own stop timeout, SIGKILL */
#define VMS_CONTROL_TIMEOUT_MS 2000  /* a control request to a VMM */
#define VMS_INPUT_MAX 4096           /* bytes of console input per request */
#define VMS_MIRROR_LINE 512          /* a longer mirrored line is cut in pieces */
#define VMS_EXIT_PORT_BASE 16        /* VM_STOP_EXIT_BASE: the VMM's status for the guest's status 0 */

/* Someone who gets a VM's console output as it arrives (a WebSocket
 * viewer, vmm/api/api_vm_ws.c): bytes is called for each chunk that enters
 * the ring, offset being that of its first byte; gone when the VM is
 * deleted, after which the VM is never touched again through it. Neither
 * may subscribe or unsubscribe anyone from inside the call. */
struct vms_console_sub {
	struct vms_console_sub *prev, *next;
	void (*bytes)(struct vms_console_sub *s, const char *p, size_t n, uint64_t offset);
	void (*gone)(struct vms_console_sub *s);
};

enum vm_state { VM_STOPPED, VM_STARTING, VM_RUNNING, VM_PAUSED, VM_STOPPING, VM_RESTARTING, VM_FAILED };
enum vm_restart { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS };

struct sv_vm {
	char name[VMS_NAME_MAX];
	char *def;                /* the definition's JSON text, as stored */
	size_t def_len;
	bool autostart;
	enum vm_restart restart;
	unsigned stop_timeout_s;  /* the VMM's, for the SIGKILL backstop */
	bool transient;           /* from the seed: never written to disk */
	bool mirror;              /* copy console lines to the supervisor's log as "[name] ..." */
	bool pending;             /* the definition changed while it ran */

	enum vm_state state;
	pid_t pid;
	int in_fd, out_fd, err_fd; /* the VMM's stdin, stdout (console), stderr (log) */
	double started;           /* monotonic seconds */
	double deadline;          /* stopping: SIGKILL then; restarting: start then */
	bool stop_requested, reboot_requested;
	unsigned restarts, backoff_s;
	bool has_exit;
	int exit_code;            /* the VMM's exit status, or 128 + signal */
	int guest_status;         /* what the guest wrote to the exit port, or -1 */
	char exit_reason[160];
	struct sv_ring console, log;
	struct vms_console_sub *subs; /* console viewers, in no order */
	char line[VMS_MIRROR_LINE]; /* a partial console line, for the mirror */
	size_t line_len;
	char eline[VMS_MIRROR_LINE]; /* the same for the VMM's log */
	size_t eline_len;
	char last_log[200];       /* the VMM's last log line: why it failed */
};

struct vms {
	struct sv_vm *vm[VMS_MAX];
	unsigned n;
	char dir[4096 - 32];      /* STATE/vms */
	char images[4096 - 32];   /* STATE/images: the VMMs' working folder */
	char run[4096 - 32];      /* where control sockets and run configs go */
	bool in_ram;
	bool kvm_ok;
	char kvm_why[160];        /* why VMs cannot start here */
	int epfd;                 /* the VMMs' pipes and the timer; the server watches it */
	int timerfd;
	/* Seed: when every seed VM has ended, poweroff_fn is called once. */
	bool seed_poweroff;
	unsigned seed_vms;
	void (*poweroff_fn)(void *arg, int result, const char *why);
	void *poweroff_arg;
};

/* Errors for the API: an HTTP status and a sentence. */
struct vms_err {
	int status;
	char msg[512];
};

/* Fill e and return -1, for `return vms_fail(e, 409, "...")`. */
int vms_fail(struct vms_err *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int vms_init(struct vms *v, const char *state_dir, bool in_ram);
/* Read every STATE/vms/NAME.json; log and skip what cannot be read. */
void vms_load(struct vms *v);
/* Start the VMs marked autostart. */
void vms_autostart(struct vms *v);
void vms_free(struct vms *v);

struct sv_vm *vms_find(struct vms *v, const char *name, size_t len);
const char *vms_state_name(enum vm_state s);

/* Definitions (vm_def.c). name_in_url: PUT's name, or NULL for POST. */
int vms_create(struct vms *v, const char *json, size_t len, bool transient, struct sv_vm **out, struct vms_err *e);
int vms_update(struct vms *v, struct sv_vm *vm, const char *json, size_t len, struct vms_err *e);
/* A seed's VM whose definition was refused: kept, failed and transient, with
 * the JSON it was given (already known to be JSON), so the API shows why. */
int vms_add_refused(struct vms *v, const char *name, const char *json, size_t len, struct sv_vm **out,
		    struct vms_err *e);
int vms_delete(struct vms *v, struct sv_vm *vm, struct vms_err *e);
/* Check a definition without keeping it: the parsed name into name. */
int vms_def_check(struct vms *v, const char *json, size_t len, const char *name_in_url, char *name,
		  struct sv_vm *into, struct vms_err *e);

/* The definition without the supervisor's keys, for `kvmbox vmm --config`
 * (malloc'd). */
int vms_def_vmm_json(struct vms *v, const struct sv_vm *vm, char **out, size_t *len, struct vms_err *e);

/* Requests (vm_proc.c). */
int vms_start(struct vms *v, struct sv_vm *vm, struct vms_err *e);
int vms_stop(struct vms *v, struct sv_vm *vm, bool force, struct vms_err *e);
int vms_reboot(struct vms *v, struct sv_vm *vm, struct vms_err *e);
int vms_pause(struct vms *v, struct sv_vm *vm, bool pause, struct vms_err *e);
int vms_console_input(struct vms *v, struct sv_vm *vm, const void *buf, size_t len, struct vms_err *e);
/* Console output as it arrives (struct vms_console_sub); the ring, not the
 * VMM process, is what is watched, so it spans stops, starts and reboots. */
void vms_console_subscribe(struct sv_vm *vm, struct vms_console_sub *s);
void vms_console_unsubscribe(struct sv_vm *vm, struct vms_console_sub *s);
/* A control request to the running VMM; the reply line into reply. */
int vms_control(struct sv_vm *vm, const char *request, char *reply, size_t size, struct vms_err *e);

/* The event loop calls this when v->epfd is readable, and on SIGCHLD. */
void vms_events(struct vms *v);
void vms_reap(struct vms *v);
/* Stop every VM and wait for them (shutdown). */
void vms_stop_all(struct vms *v, double wait_s);

/* The VM object of the API into w. */
void vms_write_json(const struct vms *v, const struct sv_vm *vm, struct json_writer *w);

/* Seed: create and start every VM of a seed file; mirror their consoles;
 * 0 or -1 with the reason logged. */
int vms_seed(struct vms *v, const char *path);
/* When every seed VM has ended: poweroff_fn, once. */
void vms_seed_check(struct vms *v);

double vms_now(void);

#endif
