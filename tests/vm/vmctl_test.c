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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "appliance_test.h"

static pid_t start_vmm_with(struct vmm_run *v, const char *test, const char *ctl, const char *extra, int in_fd)
{
	char cmdline[128];
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 quiet kvmbox.test=%s", test);
	const char *argv[] = { "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
			       "--cmdline", cmdline, "--mem", "128M", "--cpus", "1", "--serial", "stdio", "--control", ctl,
			       "--stop-timeout", "5", extra, extra ? "hvc" : NULL, NULL };
	return vmm_spawn(v, argv, in_fd);
}

static pid_t start_vmm(struct vmm_run *v, const char *test, const char *ctl)
{
	return start_vmm_with(v, test, ctl, NULL, -1);
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

static void test_control(void)
{
	const char *ctl = "/tmp/a.ctl";
	struct vmm_run v;
	char r[4096];
	start_vmm(&v, "wait", ctl);
	int up = vmm_wait_output(&v, "KVMBOX-GUEST: waiting", 120);
	check("vmctl-guest-up", up, "guest output:\n%s", v.log);
	if (!up) {
		vmm_stop(&v);
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
	int exited = vmm_wait_exit(&v, 30);
	int status = v.status;
	vmm_wait_output(&v, "KVMBOX-GUEST: done", 1);
	check("vmctl-sigterm-orderly", exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
						strstr(v.log, "KVMBOX-GUEST: power button"),
	      "exited=%d status=0x%x after %.1f s; output:\n%s", exited, status, now() - t0, v.log);
	vmm_stop(&v);
}

static void test_hard_stop(void)
{
	struct vmm_run v;
	start_vmm(&v, "wait-ignore-button", "/tmp/b.ctl");
	int up = vmm_wait_output(&v, "KVMBOX-GUEST: waiting", 120);
	check("vmctl-stuck-guest-up", up, "guest output:\n%s", v.log);
	double t0 = now();
	kill(v.pid, SIGTERM);
	int exited = vmm_wait_exit(&v, 30);
	int status = v.status;
	double took = now() - t0;
	check("vmctl-sigterm-timeout-hard-stop", exited && WIFEXITED(status) && WEXITSTATUS(status) == 4 && took >= 4.5,
	      "exited=%d status=0x%x after %.1f s", exited, status, took);
	vmm_stop(&v);
}

/* --console-input hvc: what is typed at the VMM's console reaches the
 * guest's hvc0 (and not ttyS0). */
static void test_hvc_input(void)
{
	struct vmm_run v;
	int in[2];
	if (pipe(in) < 0)
		return;
	start_vmm_with(&v, "hvc-echo", "/tmp/c.ctl", "--console-input", in[0]);
	close(in[0]);
	int up = vmm_wait_output(&v, "KVMBOX-GUEST: hvc-ready", 120);
	check("vmctl-hvc-guest-up", up, "guest output:\n%s", v.log);
	if (up && write(in[1], "hello-hvc\n", 10) != 10)
		up = 0;
	int got = up && vmm_wait_output(&v, "KVMBOX-GUEST: hvc-read=hello-hvc", 60);
	check("vmctl-hvc-console-input", got, "guest output:\n%s", v.log);
	int exited = vmm_wait_exit(&v, 60);
	int status = v.status;
	check("vmctl-hvc-guest-poweroff", exited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "exited=%d status=0x%x", exited, status);
	vmm_stop(&v);
	close(in[1]);
}

int main(void)
{
	appliance_start();
	printf("vmctl_test: start\n");
	fflush(stdout);
	test_control();
	test_hard_stop();
	test_hvc_input();
	appliance_finish("vmctl_test", NULL);
	return 0;
}
