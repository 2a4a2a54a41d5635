/* The harness of the in-appliance test drivers, tests/vm/NAME_test.c: each
 * is PID 1 of a test-only initramfs (tests/vm/NAME.list) and one static
 * binary, so this header holds static functions (inline only so that a
 * driver that does not use one gets no warning) and each driver includes it
 * once. It has:
 *
 *   check()             prints "ok NAME" or "not ok NAME: why" and counts
 *                       the failures (tests/lib/appliance_test.py relays
 *                       these lines)
 *   now()               monotonic seconds
 *   struct vmm_run      one `kvmbox vmm` (/init vmm ...), started by
 *                       vmm_spawn() with its stdout and stderr on a pipe;
 *                       what it prints is read into log, VMM_LOG_SIZE
 *                       bytes (a driver may define it before the include),
 *                       whose oldest half goes when it is full
 *   vmm_wait_output()   read that until a string appears, or to its end
 *   vmm_wait_exit()     wait for the VMM to exit, reading its output
 *   vmm_stop()          kill it if it still runs, and reap it
 *   appliance_start()   main()'s prologue: /proc, /sys, /dev and /tmp, the
 *                       console on fds 1 and 2, SIGPIPE ignored
 *   appliance_finish()  its epilogue: sync, "NAME_test: finished, N
 *                       failed", power off
 */
#ifndef KVMBOX_APPLIANCE_TEST_H
#define KVMBOX_APPLIANCE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef VMM_LOG_SIZE
#define VMM_LOG_SIZE 65536
#endif
_Static_assert(VMM_LOG_SIZE >= 16384, "VMM_LOG_SIZE: room for at least a few reads");

static int failures;

static inline void check(const char *name, int cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void check(const char *name, int cond, const char *fmt, ...)
{
	char why[4096] = "";
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

static inline double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct vmm_run {
	pid_t pid;           /* -1 when it could not be started */
	int out;             /* its stdout and stderr: the guest console, its log; -1 once they ended */
	int exited, status;  /* reaped, and waitpid's status */
	double started;      /* now() when it was started */
	const char *tag;     /* when set, each whole line it prints is copied to the console as "[tag] line" */
	size_t len, echoed;  /* bytes in log, and how many of them went to the console */
	char log[VMM_LOG_SIZE];
};

/* Start /init (the kvmbox binary) with argv (argv[0] "kvmbox", then "vmm"
 * and its options; NULL-terminated), its stdout and stderr on a pipe to
 * v->out, its stdin from in_fd (-1: /dev/null). Returns the pid, or -1. */
static inline pid_t vmm_spawn(struct vmm_run *v, const char *const argv[], int in_fd)
{
	int p[2];
	v->pid = -1;
	v->out = -1;
	v->exited = v->status = 0;
	v->started = now();
	v->tag = NULL;
	v->len = v->echoed = 0;
	v->log[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	v->pid = fork();
	if (v->pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
		dup2(in, 0);
		execv("/init", (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	if (v->pid < 0)
		close(p[0]);
	else
		v->out = p[0];
	return v->pid;
}

/* Copy the whole new lines of the output to the console as "[tag] ...". */
static inline void vmm_echo(struct vmm_run *v)
{
	for (;;) {
		char *nl = memchr(v->log + v->echoed, '\n', v->len - v->echoed);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (v->log + v->echoed));
		if (n && v->log[v->echoed + n - 1] == '\r')
			n--;
		printf("[%s] %.*s\n", v->tag, (int)n, v->log + v->echoed);
		v->echoed = (size_t)(nl - v->log) + 1;
	}
	fflush(stdout);
}

/* One read of what the VMM printed, waiting up to timeout seconds for it.
 * 0 once its output has ended (v->out is closed then), else 1. */
static inline int vmm_pump(struct vmm_run *v, double timeout)
{
	if (v->out < 0)
		return 0;
	struct pollfd pfd = { .fd = v->out, .events = POLLIN };
	if (poll(&pfd, 1, (int)(timeout * 1000) + 1) <= 0)
		return 1;
	if (v->len + 4096 >= sizeof(v->log)) {
		/* Keep the recent output: the oldest half goes. */
		size_t drop = v->len / 2;
		memmove(v->log, v->log + drop, v->len - drop + 1);
		v->len -= drop;
		v->echoed = v->echoed > drop ? v->echoed - drop : 0;
	}
	ssize_t n = read(v->out, v->log + v->len, sizeof(v->log) - 1 - v->len);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0) {
		close(v->out);
		v->out = -1;
		return 0;
	}
	v->len += (size_t)n;
	v->log[v->len] = '\0';
	if (v->tag)
		vmm_echo(v);
	return 1;
}

/* Read the VMM's output until it contains what (NULL: until it ends), or
 * the timeout. 1 if it did. */
static inline int vmm_wait_output(struct vmm_run *v, const char *what, double timeout)
{
	double end = now() + timeout;
	while (!what || !strstr(v->log, what)) {
		double left = end - now();
		if (left <= 0)
			return 0;
		if (!vmm_pump(v, left))
			return !what;
	}
	return 1;
}

/* Wait up to timeout seconds for the VMM to exit, reading its output
 * meanwhile (a full pipe would stop it), then the rest of its output.
 * 1 if it exited. */
static inline int vmm_wait_exit(struct vmm_run *v, double timeout)
{
	double end = now() + timeout;
	while (v->pid > 0 && !v->exited && now() < end) {
		if (waitpid(v->pid, &v->status, WNOHANG) == v->pid) {
			v->exited = 1;
			break;
		}
		if (!vmm_pump(v, 0.05))
			usleep(50 * 1000);
	}
	if (v->exited)
		for (end = now() + 5; now() < end && vmm_pump(v, end - now());)
			;
	return v->exited;
}

/* The exit status of the VMM; 128 + N if signal N ended it; -1 if it has
 * not exited. */
static inline int vmm_exit_code(const struct vmm_run *v)
{
	if (!v->exited)
		return -1;
	return WIFEXITED(v->status) ? WEXITSTATUS(v->status) : 128 + WTERMSIG(v->status);
}

/* Kill the VMM if it still runs, reap it, and close its output. */
static inline void vmm_stop(struct vmm_run *v)
{
	if (v->pid > 0 && !v->exited) {
		kill(v->pid, SIGKILL);
		vmm_wait_exit(v, 30);
	}
	if (v->out >= 0)
		close(v->out);
	v->out = -1;
}

/* The last n bytes of the VMM's output, for messages. */
static inline const char *vmm_tail(const struct vmm_run *v, size_t n)
{
	return v->len > n ? v->log + v->len - n : v->log;
}

static inline void appliance_start(void)
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
}

/* "PROG: finished, N failed" and MORE (may be NULL), which the Python side
 * waits for; then the power-off. */
static inline void appliance_finish(const char *prog, const char *more)
{
	sync();
	printf("%s: finished, %d failed%s\n", prog, failures, more ? more : "");
	fflush(stdout);
	reboot(RB_POWER_OFF);
}

#endif
