/* Power: the ACPI power button, `kvmbox poweroff` / `kvmbox reboot`, and the
 * orderly stop that both lead to: stop the children, sync, unmount /data,
 * then ask the kernel to power off. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/input.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "init.h"
#include "log.h"

#define BITS_PER_LONG (sizeof(long) * 8)
#define TEST_BIT(bit, arr) ((arr[(bit) / BITS_PER_LONG] >> ((bit) % BITS_PER_LONG)) & 1)

/* The ACPI button driver reports the power button as an input device named
 * "Power Button" sending KEY_POWER. Keyboards can send KEY_POWER too, but a
 * stray key on a server's keyboard must not power it off: only the ACPI
 * buttons count. */
int power_button_open(int epfd)
{
	DIR *d = opendir("/dev/input");
	if (!d)
		return 0;
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "event", 5))
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		unsigned long keys[KEY_MAX / BITS_PER_LONG + 1] = { 0 };
		char name[64] = "";
		if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) < 0 || !TEST_BIT(KEY_POWER, keys)) {
			close(fd);
			continue;
		}
		ioctl(fd, EVIOCGNAME(sizeof(name)), name);
		if (!strstr(name, "Power Button")) {
			close(fd);
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		log_info("power button: %s (%s)", name, path);
		found++;
	}
	closedir(d);
	return found;
}

int power_button_pressed(int fd)
{
	struct input_event ev[16];
	int pressed = 0;
	ssize_t n;
	while ((n = read(fd, ev, sizeof(ev))) > 0)
		for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++)
			if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1)
				pressed = 1;
	return pressed;
}

/* Wait for every child to go, up to the deadline; returns how many were left. */
static int reap_until(double deadline)
{
	for (;;) {
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			char why[96];
			describe_status(status, why, sizeof(why));
			log_info("process %d %s", (int)pid, why);
		}
		if (pid < 0 && errno == ECHILD)
			return 0;
		if (now_seconds() >= deadline)
			return 1;
		usleep(20 * 1000);
	}
}

void power_off_now(int reboot_instead, struct data_state *data)
{
	log_info("stopping all processes");
	service_stop_all();
	kill(-1, SIGTERM);
	if (reap_until(now_seconds() + SHUTDOWN_GRACE_S)) {
		log_warn("processes still running after %d s; killing them", SHUTDOWN_GRACE_S);
		kill(-1, SIGKILL);
		reap_until(now_seconds() + 2);
	}
	log_set_file(NULL);
	sync();
	if (data->mounted) {
		data_unmount(data);
		log_info("%s unmounted", DATA_MOUNT);
	}
	log_info("%s", reboot_instead ? "rebooting" : "powering off");
	sync();
	reboot(reboot_instead ? RB_AUTOBOOT : RB_POWER_OFF);
	/* Only reached if the kernel refused (no ACPI power-off): halt quietly. */
	log_error("the kernel could not %s: %s; halting", reboot_instead ? "reboot" : "power off", strerror(errno));
	reboot(RB_HALT_SYSTEM);
	for (;;)
		pause();
}

/* `kvmbox poweroff` and `kvmbox reboot` ask PID 1 by signal, as other inits
 * do. Refuse unless PID 1 is this same program: signalling some other init
 * (say, on a laptop) could shut that machine down. */
static int signal_init(int sig, const char *what)
{
	char self[PATH_MAX] = "", init[PATH_MAX] = "";
	ssize_t a = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ssize_t b = readlink("/proc/1/exe", init, sizeof(init) - 1);
	if (a <= 0 || b <= 0 || strcmp(self, init)) {
		fprintf(stderr, "kvmbox %s: PID 1 is not kvmbox init (%s), so this is not a kvmbox appliance; refusing\n",
			what, b > 0 ? init : "unknown");
		return 1;
	}
	if (kill(1, sig) < 0) {
		fprintf(stderr, "kvmbox %s: signalling PID 1: %s\n", what, strerror(errno));
		return 1;
	}
	return 0;
}

static int cmd_poweroff(int argc, char **argv)
{
	(void)argc; (void)argv;
	return signal_init(SIGUSR2, "poweroff");
}
KVMBOX_COMMAND("poweroff", cmd_poweroff, "stop every VM and power the appliance off");

static int cmd_reboot(int argc, char **argv)
{
	(void)argc; (void)argv;
	return signal_init(SIGTERM, "reboot");
}
KVMBOX_COMMAND("reboot", cmd_reboot, "stop every VM and reboot the appliance");
