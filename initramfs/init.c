/* kvmbox init: PID 1 of the appliance.
 *
 * It mounts the pseudo file systems, opens the consoles (serial and screen),
 * mounts the KVMBOX-DATA partition, brings the network up, finds the headless
 * seed (init_seed.c), starts the services (the supervisor, given the seed),
 * prints the ready line, and then only reaps children and waits for a reason
 * to power off: the ACPI power button, `kvmbox poweroff`, `kvmbox reboot`,
 * Ctrl-Alt-Del, or the supervisor exiting with SUPERVISOR_EXIT_POWEROFF.
 * It must never exit (the kernel would panic), so failures are logged and the
 * appliance carries on with less.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "init.h"
#include "net.h"
#include "net_settings.h"
#include "log.h"
#include "supervisor/seed_parse.h"

static void mount_one(const char *src, const char *dst, const char *type, unsigned long flags, const char *opts)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, opts) != 0 && errno != EBUSY)
		log_error("mounting %s on %s: %s", type, dst, strerror(errno));
}

static void mount_base(void)
{
	mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
	mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
	mount_one("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("hugetlbfs", "/dev/hugepages", "hugetlbfs", MS_NOSUID | MS_NODEV, "");
}

/* Speak on the serial port and on the screen, whichever exist. The kernel's
 * /dev/console is only the last console= given, so open both ourselves. */
static void open_consoles(void)
{
	static const char *const ttys[] = { "/dev/ttyS0", "/dev/tty0" };
	int n = 0;
	for (size_t i = 0; i < sizeof(ttys) / sizeof(ttys[0]); i++) {
		int fd = open(ttys[i], O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			continue; /* no UART, or no screen: fine */
		log_add_console(fd);
		n++;
	}
	if (!n)
		log_add_console(2); /* whatever the kernel gave us */
}

static void loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
			log_warn("bringing up lo: %s", strerror(errno));
	}
	close(s);
}

/* /dev/kvm, or the reason there is none, in words a user can act on. */
static int check_kvm(char *why, size_t size)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	static char cpuinfo[64 * 1024];
	init_read_text("/proc/cpuinfo", cpuinfo, sizeof(cpuinfo));
	if (!strstr(cpuinfo, " vmx") && !strstr(cpuinfo, " svm"))
		snprintf(why, size, "the CPU offers no hardware virtualization (no vmx or svm flag); "
				    "enable VT-x/AMD-V in the firmware, or nested virtualization in the outer hypervisor");
	else
		snprintf(why, size, "/dev/kvm: %s (virtualization may be disabled in the firmware)", strerror(errno));
	return 0;
}

/* IOMMU state from sysfs: which kind, and how many groups. */
static int check_iommu(char *desc, size_t size)
{
	DIR *d = opendir("/sys/class/iommu");
	char kind[32] = "";
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				snprintf(kind, sizeof(kind), "%.31s", !strncmp(e->d_name, "dmar", 4) ? "Intel VT-d" :
								   !strncmp(e->d_name, "ivhd", 4) ? "AMD-Vi" : e->d_name);
		closedir(d);
	}
	int groups = 0;
	d = opendir("/sys/kernel/iommu_groups");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			groups += e->d_name[0] != '.';
		closedir(d);
	}
	if (!kind[0] && groups) /* virtio-iommu and others register groups without a class entry */
		snprintf(kind, sizeof(kind), "IOMMU");
	if (!kind[0]) {
		snprintf(desc, size, "off (no IOMMU found; passthrough needs intel_iommu=on or amd_iommu=on and VT-d/AMD-Vi enabled in the firmware)");
		return 0;
	}
	snprintf(desc, size, "%s, %d groups", kind, groups);
	return 1;
}

/* Built at boot: --seed only when a seed was found. */
static char *supervisor_argv[] = { "/init", "supervisor", NULL, NULL, NULL };

/* The supervisor exited with SUPERVISOR_EXIT_POWEROFF: why, in one line. */
static void poweroff_reason(char *buf, size_t size)
{
	if (init_read_text(SUPERVISOR_POWEROFF_REASON, buf, size) <= 0) {
		snprintf(buf, size, "the supervisor asked for it (exit status %d; no reason in %s)",
			 SUPERVISOR_EXIT_POWEROFF, SUPERVISOR_POWEROFF_REASON);
		return;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	for (char *p = buf; *p; p++) /* it goes to the consoles */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static int cmd_init(int argc, char **argv)
{
	(void)argc; (void)argv;
	if (getpid() != 1) {
		fprintf(stderr, "kvmbox init: must run as PID 1 (the kernel starts it as /init)\n");
		return 2;
	}
	/* Signals are read from a signalfd; block them before anything can arrive. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGUSR2); /* kvmbox poweroff */
	sigaddset(&sigs, SIGTERM); /* kvmbox reboot */
	sigaddset(&sigs, SIGINT);  /* Ctrl-Alt-Del */
	sigaddset(&sigs, SIGPWR);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	reboot(RB_DISABLE_CAD);
	setsid();

	mount_base();
	open_consoles();
	setenv("PATH", "/", 1);
	setenv("TERM", "linux", 1);
	log_info("kvmbox %s starting (PID 1)", KVMBOX_VERSION);
	log_info("mounted /proc, /sys, /dev, /run and /tmp");
	sethostname("kvmbox", 6);
	loopback_up();

	static char cmdline[CMDLINE_MAX];
	init_read_text("/proc/cmdline", cmdline, sizeof(cmdline));
	char level[16];
	if (cmdline_get(cmdline, "kvmbox.debug", level, sizeof(level)) == 1)
		log_set_level(LOG_DEBUG);

	struct data_state data;
	data_mount(cmdline, &data);
	if (data.mounted) {
		log_info("data: %s mounted on %s", data.device, DATA_MOUNT);
		if (log_set_file(DATA_MOUNT "/log/kvmbox.log") < 0)
			log_warn("cannot write %s/log/kvmbox.log: %s", DATA_MOUNT, strerror(errno));
	} else {
		log_warn("data: %s; running WITHOUT persistence: VM definitions and settings are kept in RAM "
			 "and lost at power-off", data.problem);
	}

	char kvm_why[256] = "", iommu[256];
	int kvm = check_kvm(kvm_why, sizeof(kvm_why));
	if (kvm)
		log_info("kvm: /dev/kvm is ready");
	else
		log_warn("kvm: not available: %s", kvm_why);
	int iommu_on = check_iommu(iommu, sizeof(iommu));
	log_info("iommu: %s", iommu);

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = sfd };
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	if (!power_button_open(epfd))
		log_warn("no power button found; use 'kvmbox poweroff' or the console menu to power off");

	struct net_config net;
	char net_err[160], addr[64], waitopt[16];
	if (net_config_parse(cmdline, &net, net_err, sizeof(net_err)) < 0)
		log_warn("net: %s; using DHCP on %s instead", net_err, NET_BRIDGE_DEFAULT);
	/* The stored settings (PUT /api/settings); an ip= on the command line wins over their network. */
	if (data.mounted && net_settings_load(NET_SETTINGS_DIR, cmdline_get(cmdline, "ip", waitopt, sizeof(waitopt))
				? NULL : &net, net_err, sizeof(net_err)) < 0)
		log_warn("settings: %s; using the defaults", net_err);
	double net_wait = NET_WAIT_DEFAULT_S;
	if (cmdline_get(cmdline, "kvmbox.netwait", waitopt, sizeof(waitopt)) == 1)
		net_wait = atof(waitopt);
	if (!(net_wait >= 0 && net_wait <= NET_WAIT_MAX_S)) /* also refuses nan */
		net_wait = NET_WAIT_DEFAULT_S;
	net_start(&net, net_wait, epfd);
	net_describe(addr, sizeof(addr));

	if (seed_find(cmdline) == 1) {
		supervisor_argv[2] = "--seed";
		supervisor_argv[3] = SEED_RUN_PATH;
	}
	if (command_find("supervisor"))
		service_add("supervisor", supervisor_argv);
	console_services_add(); /* the text console: init_console.c */
	service_start_due(now_seconds());

	/* addr= is one word: the address, or "none"; console= is the web
	 * console's URL on that address (the supervisor's HTTPS port), or
	 * "none" without an address or a supervisor. */
	char url[80] = "none";
	if (net_addr() && command_find("supervisor")) {
		char host[64];
		snprintf(host, sizeof(host), "%s", addr);
		char *slash = strchr(host, '/');
		if (slash)
			*slash = '\0';
		snprintf(url, sizeof(url), "https://%s/", host);
	}
	log_plain(LOG_INFO, "kvmbox ready version=%s kvm=%s iommu=%s data=%s addr=%s console=%s", KVMBOX_VERSION,
		 kvm ? "yes" : "no", iommu_on ? "on" : "off", data.mounted ? DATA_MOUNT : "none",
		 net_addr() ? addr : "none", url);

	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, service_timeout_ms(now_seconds()));
		int off = -1; /* -1: keep running; 0: power off; 1: reboot */
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd != sfd) {
				if (net_event(fd))
					continue;
				if (power_button_pressed(fd)) {
					log_info("power button pressed");
					off = 0;
				}
				continue;
			}
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				switch (si.ssi_signo) {
				case SIGUSR2: log_info("power-off requested (pid %u)", si.ssi_pid); off = 0; break;
				case SIGPWR: log_info("power failure signalled; powering off"); off = 0; break;
				case SIGTERM: log_info("reboot requested (pid %u)", si.ssi_pid); off = 1; break;
				case SIGINT: log_info("Ctrl-Alt-Del pressed"); off = 1; break;
				default: break;
				}
			}
		}
		/* Reap whatever exited: services, and orphans re-parented to us. */
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			const char *svc = service_name(pid);
			if (svc && !strcmp(svc, "supervisor") && WIFEXITED(status) &&
			    WEXITSTATUS(status) == SUPERVISOR_EXIT_POWEROFF) {
				/* Its seed is done: power off rather than restart it. */
				char reason[256];
				service_retire(pid);
				poweroff_reason(reason, sizeof(reason));
				log_info("powering off: %s", reason);
				off = 0;
			} else if (!service_reaped(pid, status, now_seconds())) {
				char why[96];
				describe_status(status, why, sizeof(why));
				log_debug("process %d %s", (int)pid, why);
			}
		}
		service_start_due(now_seconds());
		if (off >= 0)
			power_off_now(off, &data);
	}
}
KVMBOX_COMMAND("init", cmd_init, "PID 1 of the appliance (the kernel runs it as /init)");
