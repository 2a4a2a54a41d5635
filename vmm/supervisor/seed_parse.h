/* Headless seeds: the file that says which VMs to start at boot and whether
 * to power the appliance off once they have all ended. Shared by PID 1 (which
 * finds the seed and hands it over: initramfs/init_seed.c) and the supervisor
 * (which checks it with seed_load() and runs it).
 *
 *   {"vms": [{"name": "test", "kernel": "/data/bzImage", "initrd": "...",
 *             "cmdline": "console=ttyS0", "mem": "256M", "cpus": 2}],
 *    "poweroff": true, "admin-hash": "pbkdf2-sha256$..."}
 *
 * Each VM object takes the keys of `kvmbox vmm --config`.
 */
#ifndef KVMBOX_SEED_PARSE_H
#define KVMBOX_SEED_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define SEED_MAX_BYTES (256 * 1024)
#define SEED_MAX_VMS 16
#define SEED_NAME_MAX 64

/* Where PID 1 puts the seed it found (mode 0600) before it starts
 * `kvmbox supervisor --seed SEED_RUN_PATH`. */
#define SEED_RUN_DIR "/run/kvmbox"
#define SEED_RUN_PATH SEED_RUN_DIR "/seed.json"

/* The supervisor exits with this status to have PID 1 power the appliance
 * off rather than restart it, after writing one line of why to
 * SUPERVISOR_POWEROFF_REASON (e.g. "seed: all VMs ended (test=0); result 0"). */
#define SUPERVISOR_EXIT_POWEROFF 100
#define SUPERVISOR_POWEROFF_REASON SEED_RUN_DIR "/poweroff-reason"

#define SEED_ADMIN_HASH_MAX 256

struct seed_opts {
	bool poweroff; /* power off once every VM has ended */
	/* "admin-hash": the admin password as `kvmbox passwd-hash` prints it,
	 * used when none is set yet (like kvmbox.adminhash=); "" if absent. */
	char admin_hash[SEED_ADMIN_HASH_MAX];
};

/* Check a seed and call start(ctx, name, json, n) for each VM object (its own
 * JSON text; name is safe for a file name and unique). Every VM is checked
 * before the first start(), so a bad entry starts nothing. opts may be NULL.
 * Returns the number of VMs, or -errno with err set (also when start() fails:
 * the VMs before it were started). */
int seed_parse(const char *text, size_t len, struct seed_opts *opts, char *err, size_t errlen,
	       int (*start)(void *ctx, const char *name, const char *json, size_t n), void *ctx);

/* The same without a context or options, as the tests and the fuzzer use it. */
int seed_load(const char *text, size_t len, char *err, size_t errlen,
	      int (*start)(const char *name, const char *json, size_t n));

#endif
