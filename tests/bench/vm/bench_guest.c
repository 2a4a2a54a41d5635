/* /init of the VMM benchmark's guest (tests/bench/vm_bench.py). Static musl.
 *
 *   KVMBOX-GUEST: init                 first thing, as the test guest prints it
 *   KVMBOX-GUEST: hold mem_kb=N        then it sleeps kvmbox.hold=MS (default
 *                                      1000 ms) so the benchmark can read the
 *                                      VMM's /proc/PID/smaps while it idles
 *   KVMBOX-GUEST: done                 then it powers off
 *
 * Few bytes on purpose: every byte through an emulated UART is a VM exit.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void say(const char *text)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "KVMBOX-GUEST: %s\n", text);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	/* One write per line: the console is shared with the kernel. */
	if (write(1, line, (size_t)n) < 0)
		return;
}

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (int)n : -1;
}

int main(void)
{
	mkdir("/proc", 0555);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, "");
	mount("devtmpfs", "/dev", "devtmpfs", 0, "");
	int fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	say("init");

	static char buf[8192];
	long hold_ms = 1000;
	if (read_file("/proc/cmdline", buf, sizeof(buf)) > 0) {
		const char *p = strstr(buf, "kvmbox.hold=");
		if (p) {
			hold_ms = strtol(p + 12, NULL, 10);
			if (hold_ms < 0 || hold_ms > 600000)
				hold_ms = 1000;
		}
	}
	long mem_kb = -1;
	if (read_file("/proc/meminfo", buf, sizeof(buf)) > 0)
		sscanf(buf, "MemTotal: %ld kB", &mem_kb);
	char msg[64];
	snprintf(msg, sizeof(msg), "hold mem_kb=%ld", mem_kb);
	say(msg);

	struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0)
		;
	say("done");
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
