/* In-appliance test of `kvmbox vmm`'s control socket and stop paths.
 *
 * A test-only initramfs holds the appliance's files plus this program, which
 * the outer QEMU starts as PID 1 (rdinit=/vmctl_test). It runs real VMs with
 * the real kvmbox binary (/init) and checks, over the control socket:
 * status, counters (and that reading resets them), pause (no vCPU time while
 * paused), resume, a bad request; then SIGTERM with a guest that handles the
 * power button (exit 0) and one that ignores it (hard stop after the
 * timeout, exit 4). Prints "ok NAME" / "not ok NAME: why", then powers off.
 */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void check(const char *name, int cond, const char *fmt, ...)
{
	char why[600] = "";
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

struct vmm {
	pid_t pid;
	int out;          /* the guest console */
	char log[16384];  /* what it printed */
	size_t len;
};

static pid_t start_vmm_with(struct vmm *v, const char *test, const char *ctl, const char *extra, int in_fd)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	char cmdline[128];
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 quiet kvmbox.test=%s", test);
	v->len = 0;
	v->log[0] = '\0';
	v->pid = fork();
	if (v->pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
		dup2(in, 0);
		execl("/init", "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
		      "--cmdline", cmdline, "--mem", "128M", "--cpus", "1", "--serial", "stdio", "--control", ctl,
		      "--stop-timeout", "5", extra ? extra : (char *)NULL, extra ? "hvc" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	v->out = p[0];
	return v->pid;
}

static pid_t start_vmm(struct vmm *v, const char *test, const char *ctl)
{
	return start_vmm_with(v, test, ctl, NULL, -1);
}

/* Read the VMM's output until it contains what, or the timeout. */
static int wait_output(struct vmm *v, const char *what, double timeout)
{
	double end = now() + timeout;
	while (!strstr(v->log, what)) {
		double left = end - now();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { .fd = v->out, .events = POLLIN };
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (v->len + 1 >= sizeof(v->log))
			v->len = 0; /* keep only the recent output */
		ssize_t n = read(v->out, v->log + v->len, sizeof(v->log) - 1 - v->len);
		if (n <= 0)
			return 0;
		v->len += (size_t)n;
		v->log[v->len] = '\0';
	}
	return 1;
}

/* One request, one reply line. */
static int request(const char *ctl, const char *req, char *reply, size_t size)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ctl);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(reply, size, "connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (write(fd, req, strlen(req)) < 0 || write(fd, "\n", 1) < 0) {
		close(fd);
		return -1;
	}
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t n = read(fd, reply + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(reply, '\n', len))
			break;
	}
	reply[len] = '\0';
	close(fd);
	return (int)len;
}

static long long json_num(const char *reply, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(reply, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

static int wait_exit(pid_t pid, double timeout, int *status)
{
	double end = now() + timeout;
	while (now() < end) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

static void test_control(void)
{
	const char *ctl = "/tmp/a.ctl";
	struct vmm v;
	char r[4096];
	start_vmm(&v, "wait", ctl);
	int up = wait_output(&v, "KVMBOX-GUEST: waiting", 120);
	check("vmctl-guest-up", up, "guest output:\n%s", v.log);
	if (!up) {
		kill(v.pid, SIGKILL);
		return;
	}
	request(ctl, "{\"cmd\":\"status\"}", r, sizeof(r));
	check("vmctl-status", strstr(r, "\"ok\":true") && strstr(r, "\"state\":\"running\"") && json_num(r, "vcpus") == 1 &&
				      json_num(r, "mem_mib") == 128, "reply %s", r);

	request(ctl, "{\"cmd\":\"counters\"}", r, sizeof(r));
	long long io1 = json_num(r, "io"), run1 = json_num(r, "vcpu_run_us");
	check("vmctl-counters", io1 > 100 && run1 > 0 && strstr(r, "\"handler_us\""), "reply %s", r);
	request(ctl, "{\"cmd\":\"counters\"}", r, sizeof(r));
	long long io2 = json_num(r, "io");
	check("vmctl-counters-reset-on-read", io2 >= 0 && io2 < io1, "first io=%lld then io=%lld", io1, io2);

	request(ctl, "{\"cmd\":\"pause\"}", r, sizeof(r));
	check("vmctl-pause", strstr(r, "\"ok\":true") != NULL, "reply %s", r);
	request(ctl, "{\"cmd\":\"status\"}", r, sizeof(r));
	check("vmctl-status-paused", strstr(r, "\"state\":\"paused\"") != NULL, "reply %s", r);
	request(ctl, "{\"cmd\":\"counters\"}", r, sizeof(r));
	sleep(1);
	request(ctl, "{\"cmd\":\"counters\"}", r, sizeof(r));
	check("vmctl-paused-runs-nothing", json_num(r, "vcpu_run_us") == 0, "reply %s", r);
	request(ctl, "{\"cmd\":\"resume\"}", r, sizeof(r));
	request(ctl, "{\"cmd\":\"status\"}", r, sizeof(r));
	check("vmctl-resume", strstr(r, "\"state\":\"running\"") != NULL, "reply %s", r);

	request(ctl, "{\"cmd\":\"explode\"}", r, sizeof(r));
	check("vmctl-unknown-cmd", strstr(r, "\"ok\":false") && strstr(r, "unknown cmd"), "reply %s", r);
	request(ctl, "this is not json", r, sizeof(r));
	check("vmctl-bad-json", strstr(r, "\"ok\":false") && strstr(r, "column"), "reply %s", r);
	request(ctl, "{\"cmd\":\"status\"}", r, sizeof(r));
	check("vmctl-alive-after-bad-requests", strstr(r, "\"state\":\"running\"") != NULL, "reply %s", r);

	/* SIGTERM: the guest sees the power button and powers off by itself. */
	double t0 = now();
	kill(v.pid, SIGTERM);
	int status = 0;
	int exited = wait_exit(v.pid, 30, &status);
	wait_output(&v, "KVMBOX-GUEST: done", 1);
	check("vmctl-sigterm-orderly", exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
						strstr(v.log, "KVMBOX-GUEST: power button"),
	      "exited=%d status=0x%x after %.1f s; output:\n%s", exited, status, now() - t0, v.log);
	if (!exited)
		kill(v.pid, SIGKILL);
	close(v.out);
}

static void test_hard_stop(void)
{
	struct vmm v;
	start_vmm(&v, "wait-ignore-button", "/tmp/b.ctl");
	int up = wait_output(&v, "KVMBOX-GUEST: waiting", 120);
	check("vmctl-stuck-guest-up", up, "guest output:\n%s", v.log);
	double t0 = now();
	kill(v.pid, SIGTERM);
	int status = 0;
	int exited = wait_exit(v.pid, 30, &status);
	double took = now() - t0;
	check("vmctl-sigterm-timeout-hard-stop", exited && WIFEXITED(status) && WEXITSTATUS(status) == 4 && took >= 4.5,
	      "exited=%d status=0x%x after %.1f s", exited, status, took);
	if (!exited)
		kill(v.pid, SIGKILL);
	close(v.out);
}

/* --console-input hvc: what is typed at the VMM's console reaches the
 * guest's hvc0 (and not ttyS0). */
static void test_hvc_input(void)
{
	struct vmm v;
	int in[2];
	if (pipe(in) < 0)
		return;
	start_vmm_with(&v, "hvc-echo", "/tmp/c.ctl", "--console-input", in[0]);
	close(in[0]);
	int up = wait_output(&v, "KVMBOX-GUEST: hvc-ready", 120);
	check("vmctl-hvc-guest-up", up, "guest output:\n%s", v.log);
	if (up && write(in[1], "hello-hvc\n", 10) != 10)
		up = 0;
	int got = up && wait_output(&v, "KVMBOX-GUEST: hvc-read=hello-hvc", 60);
	check("vmctl-hvc-console-input", got, "guest output:\n%s", v.log);
	int status = 0;
	int exited = wait_exit(v.pid, 60, &status);
	check("vmctl-hvc-guest-poweroff", exited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "exited=%d status=0x%x", exited, status);
	if (!exited)
		kill(v.pid, SIGKILL);
	close(in[1]);
	close(v.out);
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
	printf("vmctl_test: start\n");
	fflush(stdout);
	test_control();
	test_hard_stop();
	test_hvc_input();
	printf("vmctl_test: finished, %d failed\n", failures);
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
