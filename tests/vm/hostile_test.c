/* In-appliance test: a hostile guest driver must not hurt `kvmbox vmm`.
 *
 * A test-only initramfs holds the appliance's files plus this program, which
 * the outer QEMU starts as PID 1 (rdinit=/hostile_test). It runs one VM with
 * the real kvmbox binary (/init) on nested KVM, with a small disk, whose
 * guest runs /bin/guest_hostile (tests/vm/guest_hostile.c): a user-space
 * driver that breaks one virtio rule per scenario on virtio-rng or
 * virtio-blk and prints the device_status it then reads. For each scenario
 * this checks that the guest saw DEVICE_NEEDS_RESET and that the VMM logged
 * exactly one line, naming the device and the cause, while that scenario
 * ran; that good requests work after a reset; that the VM powered off
 * normally (VMM exit status 0); and that nothing crashed. Prints
 * "ok NAME" / "not ok NAME: why", then powers off.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VMM_LOG_SIZE (1 << 20)
#include "appliance_test.h"

#define DISK "/tmp/h.img"
#define DISK_SIZE (8 << 20)
#define RUN_TIMEOUT_S 90

/* The VMM, with everything it printed (guest console and its own log); the
 * end stays when that is more than the log holds: the last scenarios and
 * the exit. */
static struct vmm_run vm;

struct run {
	bool exited;     /* by itself, within the timeout */
	int status;      /* waitpid's */
	double seconds;
};

static void run_vmm(struct run *r)
{
	static const char *const argv[] = { "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd",
					    "/guest/initramfs.cpio.gz", "--cmdline",
					    "console=ttyS0 quiet kvmbox.exec=/bin/guest_hostile", "--mem", "128M", "--cpus",
					    "1", "--disk", DISK, "--serial", "stdio", NULL };
	memset(r, 0, sizeof(*r));
	vmm_spawn(&vm, argv, -1);
	/* Read until the VMM closes its end (it exited) or the timeout. */
	vmm_wait_output(&vm, NULL, RUN_TIMEOUT_S);
	/* A VMM that closed its output may still be exiting. */
	r->exited = vmm_wait_exit(&vm, vm.started + RUN_TIMEOUT_S + 10 - now());
	r->status = r->exited ? vm.status : 0;
	r->seconds = now() - vm.started;
	vmm_stop(&vm);
}

/* The text of line at p, with no newline, into buf. */
static const char *line_of(const char *p, char *buf, size_t size)
{
	size_t n = strcspn(p, "\r\n");
	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p);
	return buf;
}

/* The next line after p, or NULL. */
static const char *next_line(const char *p)
{
	p = strchr(p, '\n');
	return p ? p + 1 : NULL;
}

/* Where the guest's status line for a scenario starts: "KVMBOX-GUEST:
 * hostile NAME " (after a CR or at a line start), or NULL. */
static const char *scenario_line(const char *name)
{
	char pat[96];
	snprintf(pat, sizeof(pat), "KVMBOX-GUEST: hostile %s ", name);
	return strstr(vm.log, pat);
}

/* Does the line [p, end of line) contain s? */
static bool line_has(const char *p, const char *s)
{
	char buf[1024];
	return strstr(line_of(p, buf, sizeof(buf)), s) != NULL;
}

/* A field "key=N" (decimal or 0x hex) of the line at p, or -1. */
static long field(const char *p, const char *key)
{
	char buf[1024], pat[64];
	line_of(p, buf, sizeof(buf));
	snprintf(pat, sizeof(pat), " %s=", key);
	const char *f = strstr(buf, pat);
	return f ? strtol(f + strlen(pat), NULL, 0) : -1;
}

struct scenario {
	const char *name;
	const char *device;     /* the device name the VMM's line must carry */
	const char *causes[3];  /* the line must contain one of these */
	const char *detail;     /* and this, if not NULL (an address) */
};

/* In the order guest_hostile runs them. */
static const struct scenario scenarios[] = {
	{ "loop", "virtio-rng", { "loop" }, NULL },
	{ "long", "virtio-rng", { "more than", "longer than", "too long" }, NULL },
	{ "outside", "virtio-rng", { "outside guest RAM", "not in guest RAM" }, "0x7f0000000000" },
	{ "overflow", "virtio-rng", { "outside guest RAM", "not in guest RAM", "past the end" }, NULL },
	{ "wrap", "virtio-rng", { "outside guest RAM", "not in guest RAM", "overflow" }, "0xfffffffffffff000" },
	{ "direction", "virtio-rng", { "readable", "direction" }, NULL },
	{ "size", "virtio-rng", { "power of two" }, NULL },
	{ "early", "virtio-rng", { "DRIVER_OK" }, NULL },
	{ "ring", "virtio-rng", { "outside guest RAM", "not in guest RAM" }, "0x7f0000000000" },
	{ "head", "virtio-rng", { "descriptor 200" }, NULL },
	{ "jump", "virtio-rng", { "jumped", "avail idx" }, NULL },
	{ "nested", "virtio-rng", { "nested" }, NULL },
	{ "noindirect", "virtio-rng", { "not negotiated" }, NULL },
	{ "nostatus", "virtio-blk", { "status byte" }, NULL },
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* The VMM's lines that mark a device broken. */
static bool is_broken_line(const char *p)
{
	return line_has(p, "needs a reset") && !line_has(p, "KVMBOX-GUEST");
}

/* Check one scenario: its status line, and the VMM's lines between the
 * previous status line (from) and its own. Returns its line, or NULL. */
static const char *check_scenario(const struct scenario *s, const char *from)
{
	char name[64], buf[1024];
	const char *at = scenario_line(s->name);
	snprintf(name, sizeof(name), "hostile-%s-needs-reset", s->name);
	if (!at) {
		check(name, 0, "the guest printed no 'hostile %s' line", s->name);
		snprintf(name, sizeof(name), "hostile-%s-logged", s->name);
		check(name, 0, "no scenario line to look before");
		return NULL;
	}
	long st = field(at, "status");
	long untouched = field(at, "untouched"), reset = field(at, "reset");
	check(name, st >= 0 && (st & 0x40) && untouched == 1 && reset == 1, "the guest read: %s%s%s",
	      line_of(at, buf, sizeof(buf)), untouched == 0 ? " (the device wrote into a buffer of a refused request)" : "",
	      reset == 0 ? " (the reset before it did not complete)" : "");

	/* Exactly one line while it ran, naming the device and the cause. */
	snprintf(name, sizeof(name), "hostile-%s-logged", s->name);
	unsigned lines = 0;
	bool named = false;
	char seen[1024] = "";
	for (const char *p = from ? from : vm.log; p && p < at; p = next_line(p)) {
		if (!is_broken_line(p))
			continue;
		lines++;
		line_of(p, seen, sizeof(seen));
		bool cause = false;
		for (unsigned i = 0; i < 3 && s->causes[i]; i++)
			cause |= strstr(seen, s->causes[i]) != NULL;
		named |= cause && strstr(seen, s->device) && (!s->detail || strstr(seen, s->detail));
	}
	check(name, lines == 1 && named, "%u VMM line(s) with \"needs a reset\" while it ran%s%s; wanted one naming %s and \"%s\"%s%s",
	      lines, lines ? ", the last: " : "", seen, s->device, s->causes[0], s->detail ? " at " : "",
	      s->detail ? s->detail : "");
	return at;
}

/* Lines that mean something crashed or went badly wrong. */
static const char *crash_sign(void)
{
	static const char *const signs[] = {
		"AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "Segmentation fault", "segfault",
		"SIGSEGV", "SIGBUS", "SIGABRT", "Aborted", "Assertion", "assertion", "stack smashing", "double free",
		"Kernel panic", "general protection", "BUG:", "Oops", "KVM_RUN on vCPU", "the guest crashed", "the VMM failed",
		"epoll_wait",
	};
	for (unsigned i = 0; i < sizeof(signs) / sizeof(signs[0]); i++)
		if (strstr(vm.log, signs[i]))
			return signs[i];
	return NULL;
}

static void test_hostile(void)
{
	int fd = open(DISK, O_RDWR | O_CREAT | O_TRUNC, 0644);
	bool disk = fd >= 0 && ftruncate(fd, DISK_SIZE) == 0;
	if (fd >= 0)
		close(fd);
	check("hostile-disk-image", disk, "%s: %s", DISK, strerror(errno));

	struct run r;
	run_vmm(&r);
	printf("hostile_test: the VM ran %.1f s\n", r.seconds);
	fflush(stdout);

	char buf[1024];
	const char *start = strstr(vm.log, "KVMBOX-GUEST: hostile start");
	const char *setup = strstr(vm.log, "KVMBOX-GUEST: hostile setup");
	check("hostile-guest-setup", start && !setup, "the guest said: %s",
	      setup ? line_of(setup, buf, sizeof(buf)) : "no 'hostile start' line");

	const char *from = start;
	for (unsigned i = 0; i < NSCENARIOS; i++) {
		const char *at = check_scenario(&scenarios[i], from);
		if (at)
			from = at;
	}

	/* The good requests, after all that: answered, and nothing logged. */
	const char *good = scenario_line("good");
	long len = good ? field(good, "used_len") : -1;
	long st = good ? field(good, "status") : -1;
	check("hostile-good-rng", good && len == 64 && st == 0x0f && field(good, "changed") == 1, "the guest read: %s",
	      good ? line_of(good, buf, sizeof(buf)) : "no 'hostile good' line");
	const char *gblk = scenario_line("good-blk");
	len = gblk ? field(gblk, "used_len") : -1;
	st = gblk ? field(gblk, "status") : -1;
	check("hostile-good-blk", gblk && len == 513 && st == 0x0f && field(gblk, "blk_status") == 0 &&
					  field(gblk, "changed") == 1,
	      "the guest read: %s", gblk ? line_of(gblk, buf, sizeof(buf)) : "no 'hostile good-blk' line");
	unsigned extra = 0;
	for (const char *p = from; p && p < vm.log + vm.len; p = next_line(p))
		extra += is_broken_line(p);
	check("hostile-good-not-broken", from && extra == 0, "%u \"needs a reset\" line(s) after the last hostile scenario",
	      extra);

	check("hostile-guest-finished", strstr(vm.log, "KVMBOX-GUEST: hostile end") &&
						strstr(vm.log, "KVMBOX-GUEST: exec-status=0") && strstr(vm.log, "KVMBOX-GUEST: done"),
	      "no 'hostile end', 'exec-status=0' and 'done' lines");
	check("hostile-vmm-exit-0", r.exited && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 &&
					    strstr(vm.log, "the guest powered off"),
	      "the VMM %s (wait status 0x%x) after %.1f s", r.exited ? "ended" : "still ran, so hung,", r.status,
	      r.seconds);
	const char *sign = crash_sign();
	check("hostile-no-crash", !sign && !(r.exited && WIFSIGNALED(r.status)), "'%s' in the output%s", sign ? sign : "",
	      r.exited && WIFSIGNALED(r.status) ? ", and the VMM died of a signal" : "");

	/* The whole output, for whoever reads the serial log. */
	printf("hostile_test: the VMM's output follows\n");
	for (const char *p = vm.log; p && *p; p = next_line(p))
		printf("| %s\n", line_of(p, buf, sizeof(buf)));
	printf("hostile_test: end of the VMM's output\n");
	fflush(stdout);
}

int main(void)
{
	appliance_start();
	printf("hostile_test: start\n");
	fflush(stdout);
	test_hostile();
	appliance_finish("hostile_test", NULL);
	return 0;
}
