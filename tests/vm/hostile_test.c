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
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DISK "/tmp/h.img"
#define DISK_SIZE (8 << 20)
#define RUN_TIMEOUT_S 90

static int failures;

static void check(const char *name, int cond, const char *fmt, ...)
{
	char why[2048] = "";
	if (!cond && fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	if (cond)
		printf("ok %s\n", name);
	else
		printf("not ok %s: %s\n", name, why);
	fflush(stdout);
	failures += !cond;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Everything the VMM printed (guest console and its own log), and how it
 * ended. */
static char out[1 << 20];
static size_t out_len;

struct run {
	bool exited;     /* by itself, within the timeout */
	int status;      /* waitpid's */
	double seconds;
};

static void run_vmm(struct run *r)
{
	int p[2];
	memset(r, 0, sizeof(*r));
	if (pipe(p) < 0)
		return;
	double t0 = now();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		execl("/init", "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
		      "--cmdline", "console=ttyS0 quiet kvmbox.exec=/bin/guest_hostile", "--mem", "128M", "--cpus", "1",
		      "--disk", DISK, "--serial", "stdio", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return;
	}
	/* Read until the VMM closes its end (it exited) or the timeout. */
	double end = t0 + RUN_TIMEOUT_S;
	for (;;) {
		double left = end - now();
		if (left <= 0)
			break;
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (out_len + 1 >= sizeof(out)) {
			/* Keep the end, where the last scenarios and the exit are. */
			memmove(out, out + sizeof(out) / 2, out_len - sizeof(out) / 2);
			out_len -= sizeof(out) / 2;
		}
		ssize_t n = read(p[0], out + out_len, sizeof(out) - 1 - out_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		out_len += (size_t)n;
	}
	out[out_len] = '\0';
	close(p[0]);
	/* A VMM that closed its output may still be exiting. */
	while (now() < end + 10) {
		if (waitpid(pid, &r->status, WNOHANG) == pid) {
			r->exited = true;
			break;
		}
		usleep(50 * 1000);
	}
	r->seconds = now() - t0;
	if (!r->exited) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
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
	return strstr(out, pat);
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
	for (const char *p = from ? from : out; p && p < at; p = next_line(p)) {
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
		if (strstr(out, signs[i]))
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
	const char *start = strstr(out, "KVMBOX-GUEST: hostile start");
	const char *setup = strstr(out, "KVMBOX-GUEST: hostile setup");
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
	for (const char *p = from; p && p < out + out_len; p = next_line(p))
		extra += is_broken_line(p);
	check("hostile-good-not-broken", from && extra == 0, "%u \"needs a reset\" line(s) after the last hostile scenario",
	      extra);

	check("hostile-guest-finished", strstr(out, "KVMBOX-GUEST: hostile end") &&
						strstr(out, "KVMBOX-GUEST: exec-status=0") && strstr(out, "KVMBOX-GUEST: done"),
	      "no 'hostile end', 'exec-status=0' and 'done' lines");
	check("hostile-vmm-exit-0", r.exited && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 &&
					    strstr(out, "the guest powered off"),
	      "the VMM %s (wait status 0x%x) after %.1f s", r.exited ? "ended" : "still ran, so hung,", r.status,
	      r.seconds);
	const char *sign = crash_sign();
	check("hostile-no-crash", !sign && !(r.exited && WIFSIGNALED(r.status)), "'%s' in the output%s", sign ? sign : "",
	      r.exited && WIFSIGNALED(r.status) ? ", and the VMM died of a signal" : "");

	/* The whole output, for whoever reads the serial log. */
	printf("hostile_test: the VMM's output follows\n");
	for (const char *p = out; p && *p; p = next_line(p))
		printf("| %s\n", line_of(p, buf, sizeof(buf)));
	printf("hostile_test: end of the VMM's output\n");
	fflush(stdout);
}

int main(void)
{
	mkdir("/proc", 0555);
	mount("proc", "/proc", "proc", 0, "");
	mount("sysfs", "/sys", "sysfs", 0, "");
	mount("devtmpfs", "/dev", "devtmpfs", 0, "");
	mount("tmpfs", "/tmp", "tmpfs", 0, "");
	int con = open("/dev/console", O_RDWR);
	if (con >= 0) {
		dup2(con, 1);
		dup2(con, 2);
	}
	signal(SIGPIPE, SIG_IGN);
	printf("hostile_test: start\n");
	fflush(stdout);
	test_hostile();
	printf("hostile_test: finished, %d failed\n", failures);
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
