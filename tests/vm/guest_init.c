/* /init of the test guest: prints what the guest sees, in marker lines the
 * tests look for, then powers off. kvmbox.test= on the command line changes
 * the ending: "reboot" reboots; "hvc-echo" reads a line from /dev/hvc0 and
 * prints it as "hvc-read=LINE"; "wait" waits for the ACPI power button and
 * then powers off; "wait-ignore-button" waits forever, like a guest that
 * ignores the button; "exit:N" writes N to the exit port (0xf4), which ends
 * the VM with guest status N. kvmbox.exec=/bin/NAME runs a guest test program
 * (tests/vm/guest_NAME.c) after the lines below and before the ending, and
 * reports its exit status as "exec-status=N". Static musl, so it needs
 * nothing else in the initramfs.
 *
 *   KVMBOX-GUEST: init
 *   KVMBOX-GUEST: cpus=2
 *   KVMBOX-GUEST: mem_kb=251234
 *   KVMBOX-GUEST: pci=1b36:0008,1af4:1042   (vendor:device of each PCI function)
 *   KVMBOX-GUEST: hwrng=<hex of 16 bytes read from /dev/hwrng>, or none/error
 *   KVMBOX-GUEST: cmdline=<the command line>
 *   KVMBOX-GUEST: done
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest_util.h"

/* "vendor:device,..." of /sys/bus/pci/devices/ (mounts sysfs first). */
static void pci_ids(char *out, size_t size)
{
	mkdir("/sys", 0555);
	mount("sysfs", "/sys", "sysfs", 0, "");
	size_t n = 0;
	out[0] = '\0';
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], ven[16] = "", dev[16] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		read_file(path, ven, sizeof(ven));
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
		read_file(path, dev, sizeof(dev));
		ven[strcspn(ven, "\n")] = dev[strcspn(dev, "\n")] = '\0';
		int w = snprintf(out + n, size - n, "%s%s:%s", n ? "," : "",
				 strncmp(ven, "0x", 2) ? ven : ven + 2, strncmp(dev, "0x", 2) ? dev : dev + 2);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	if (d)
		closedir(d);
}

/* Block until an input device named "Power Button" sends KEY_POWER. */
static void wait_power_button(void)
{
	struct pollfd fds[8];
	int n = 0;
	DIR *d = opendir("/dev/input");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 8) {
		char path[300], name[64] = "";
		if (strncmp(e->d_name, "event", 5))
			continue;
		snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ioctl(fd, EVIOCGNAME(sizeof(name)), name);
		if (!strstr(name, "Power Button")) {
			close(fd);
			continue;
		}
		fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	if (d)
		closedir(d);
	if (!n) {
		say("%s", "no power button");
		return;
	}
	/* Only now: an event sent before the device is open would be lost. */
	say("%s", "waiting");
	for (;;) {
		if (poll(fds, (nfds_t)n, -1) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			struct input_event ev;
			if ((fds[i].revents & POLLIN) && read(fds[i].fd, &ev, sizeof(ev)) == sizeof(ev) &&
			    ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1)
				return;
		}
	}
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Read 64 bytes from /dev/hwrng (virtio-rng); hex of the first 16 into out.
 * A device that never answers gives "error" after 30 s, not a hung guest. */
static const char *hwrng(char *out, size_t size)
{
	int fd = open("/dev/hwrng", O_RDONLY);
	if (fd < 0)
		return errno == ENOENT || errno == ENODEV ? "none" : "error";
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: read fails with EINTR */
	sigaction(SIGALRM, &sa, NULL);
	alarm(30);
	unsigned char b[64];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = read(fd, b + got, sizeof(b) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	alarm(0);
	close(fd);
	if (got < sizeof(b) || size < 33)
		return "error";
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, size - 2 * (size_t)i, "%02x", b[i]);
	return out;
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
	say("%s", "init");

	static char buf[65536];
	char num[32];
	int cpus = 0;
	if (read_file("/proc/cpuinfo", buf, sizeof(buf)) > 0)
		for (char *p = buf; (p = strstr(p, "processor")); p++)
			if (p == buf || p[-1] == '\n')
				cpus++;
	snprintf(num, sizeof(num), "%d", cpus);
	say("cpus=%s", num);

	long mem_kb = -1;
	if (read_file("/proc/meminfo", buf, sizeof(buf)) > 0)
		sscanf(buf, "MemTotal: %ld kB", &mem_kb);
	snprintf(num, sizeof(num), "%ld", mem_kb);
	say("mem_kb=%s", num);
	pci_ids(buf, 4096);
	say("pci=%s", buf);
	say("hwrng=%s", hwrng(buf, 64));

	char cmdline[4096] = "";
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	cmdline[strcspn(cmdline, "\n")] = '\0';
	say("cmdline=%s", cmdline);

	const char *ex = strstr(cmdline, "kvmbox.exec=");
	if (ex) {
		char prog[256];
		snprintf(prog, sizeof(prog), "%.*s", (int)strcspn(ex + 12, " "), ex + 12);
		pid_t pid = fork();
		if (pid == 0) {
			execl(prog, prog, (char *)NULL);
			say("exec %s failed", prog);
			_exit(127);
		}
		int status = 0;
		while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		snprintf(num, sizeof(num), "%d", pid < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		say("exec-status=%s", num);
	}
	if (strstr(cmdline, "kvmbox.test=hvc-echo")) {
		/* Console input routed to hvc0 (--console-input hvc): one line. */
		int h = open("/dev/hvc0", O_RDWR | O_NOCTTY);
		char line[128];
		size_t n = 0;
		if (h < 0) {
			say("hvc-read=error %s", strerror(errno));
		} else {
			struct sigaction sa = { .sa_handler = on_alarm };
			sigaction(SIGALRM, &sa, NULL);
			alarm(60);
			say("%s", "hvc-ready");
			while (n + 1 < sizeof(line)) {
				ssize_t r = read(h, line + n, sizeof(line) - 1 - n);
				if (r <= 0)
					break;
				n += (size_t)r;
				if (memchr(line, '\n', n))
					break;
			}
			alarm(0);
			line[n] = '\0';
			line[strcspn(line, "\r\n")] = '\0';
			say("hvc-read=%s", line);
		}
	}
	if (strstr(cmdline, "kvmbox.test=wait-ignore-button")) {
		say("%s", "waiting");
		for (;;)
			pause();
	}
	if (strstr(cmdline, "kvmbox.test=wait")) {
		wait_power_button(); /* says "waiting" once the button is watched */
		say("%s", "power button");
	}
	const char *exitp = strstr(cmdline, "kvmbox.test=exit:");
	if (exitp) {
		/* The exit port (drivers/exit_port.c), as a CI test kernel uses it. */
		unsigned char code = (unsigned char)atoi(exitp + strlen("kvmbox.test=exit:"));
		say("exit-port=%u", code);
		if (ioperm(0xf4, 4, 1) == 0)
			outb(code, 0xf4);
		say("%s", "the exit port did not end the VM");
	}
	int want_reboot = strstr(cmdline, "kvmbox.test=reboot") != NULL;
	say("%s", want_reboot ? "rebooting" : "done");
	sync();
	reboot(want_reboot ? RB_AUTOBOOT : RB_POWER_OFF);
	say("%s", "reboot() failed");
	for (;;)
		pause();
}
