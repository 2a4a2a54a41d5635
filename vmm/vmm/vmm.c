/* `kvmbox vmm`: one VM in this process.
 *
 * The main thread owns the event loop: console input, the control socket,
 * signals and the stop timer. vCPU threads run the guest. The exit status
 * says how the VM ended (see enum vm_stop in vm.h, and README).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "kvm/kvm.h"
#include "log.h"
#include "vmm/config.h"
#include "vmm/control.h"

#define VMM_CONFIG_FILE_MAX (64 * 1024)
#define CTRL_A 0x01

static const char vmm_usage[] =
	"usage: kvmbox vmm --kernel FILE [--initrd FILE] [--cmdline TEXT] [--mem 512M] [--cpus N]\n"
	"                  [--serial stdio|none|socket:PATH] [--control PATH] [--hugepages]\n"
	"                  [--stop-timeout SECONDS] [--config FILE.json] [--name NAME] [--no-rng]\n"
	"                  [--disk PATH[,readonly][,serial=S][,block-size=N][,discard=off]]...\n"
	"                  [--net bridge=BR[,tap=NAME][,mac=MAC][,queues=N]]...\n"
	"                  [--no-hvc] [--console-input serial|hvc]\n"
	"On a terminal, Ctrl-A x stops the VM. Exit status: 0 the guest powered off, 1 error,\n"
	"3 the guest rebooted, 4 stopped from outside, 5 the guest crashed.\n";

struct client {
	int fd;
	size_t len;
	char buf[CONTROL_LINE_MAX];
};

struct vmm {
	struct vm vm;
	struct vmm_state st;
	const struct vmm_config *cfg;
	int epfd, sigfd, timerfd, ctl_listen, ser_listen, ser_client;
	struct client clients[CONTROL_MAX_CLIENTS];
	struct termios saved_tty;
	int tty_raw;
	int ctrl_a; /* the last console byte was Ctrl-A */
};

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int listen_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* SIGTERM and "stop": press the guest's power button, then stop hard if it
 * has not powered off within the timeout. */
static void request_stop(struct vmm_state *s, int force)
{
	struct vmm *m = (struct vmm *)((char *)s - offsetof(struct vmm, st));
	if (force || s->stopping) {
		vm_request_stop(&m->vm, VM_STOP_HOST, force ? "stopped by request (forced)" : "stopped by a second request");
		return;
	}
	s->stopping = 1;
	log_info("asking the guest to power off (ACPI power button); stopping it in %u s otherwise", m->cfg->stop_timeout_s);
	vm_press_power_button(&m->vm);
	struct itimerspec t = { .it_value = { .tv_sec = m->cfg->stop_timeout_s ? m->cfg->stop_timeout_s : 1 } };
	timerfd_settime(m->timerfd, 0, &t, NULL);
}

static void console_input(struct vmm *m, const uint8_t *buf, size_t n)
{
	if (!m->vm.console_input)
		return;
	if (!m->tty_raw) {
		m->vm.console_input(m->vm.console_opaque, buf, (unsigned)n);
		return;
	}
	/* On a terminal, Ctrl-A x quits and Ctrl-A Ctrl-A sends one Ctrl-A, as in QEMU. */
	for (size_t i = 0; i < n; i++) {
		uint8_t c = buf[i];
		if (m->ctrl_a) {
			m->ctrl_a = 0;
			if (c == 'x' || c == 'X') {
				vm_request_stop(&m->vm, VM_STOP_HOST, "Ctrl-A x pressed");
				return;
			}
			if (c != CTRL_A)
				continue;
		} else if (c == CTRL_A) {
			m->ctrl_a = 1;
			continue;
		}
		m->vm.console_input(m->vm.console_opaque, &c, 1);
	}
}

static void client_read(struct vmm *m, struct client *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* a stale event, or nothing yet: clients are non-blocking */
	if (n <= 0) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->len += (size_t)n;
	char *nl;
	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t line = (size_t)(nl - c->buf);
		char reply[CONTROL_REPLY_MAX];
		size_t rl = control_handle(&m->st, c->buf, line, reply, sizeof(reply));
		if (write(c->fd, reply, rl) != (ssize_t)rl) {
			close(c->fd);
			c->fd = -1;
			return;
		}
		memmove(c->buf, nl + 1, c->len - line - 1);
		c->len -= line + 1;
	}
	if (c->len == sizeof(c->buf)) {
		static const char msg[] = "{\"ok\":false,\"error\":\"request longer than 4096 bytes\"}\n";
		if (write(c->fd, msg, sizeof(msg) - 1) < 0)
			log_debug("control client went away");
		close(c->fd);
		c->fd = -1;
	}
}

static void set_raw(struct vmm *m)
{
	if (!isatty(0) || tcgetattr(0, &m->saved_tty) < 0)
		return;
	struct termios t = m->saved_tty;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR; /* keep our own log lines readable */
	if (tcsetattr(0, TCSANOW, &t) == 0)
		m->tty_raw = 1;
}

static int vmm_loop(struct vmm *m)
{
	struct vm *vm = &m->vm;
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(m->epfd, evs, 16, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == vm->stop_efd) {
				return 0;
			} else if (fd == m->sigfd) {
				struct signalfd_siginfo si;
				while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
					log_info("%s received", strsignal((int)si.ssi_signo));
					request_stop(&m->st, si.ssi_signo == SIGQUIT);
				}
			} else if (fd == m->timerfd) {
				uint64_t x;
				if (read(m->timerfd, &x, sizeof(x)) > 0) {
					char why[96];
					snprintf(why, sizeof(why), "the guest did not power off within %u s; stopped hard", m->cfg->stop_timeout_s);
					vm_request_stop(vm, VM_STOP_HOST, why);
				}
			} else if (fd == 0 || fd == m->ser_client) {
				uint8_t buf[512];
				ssize_t r = read(fd, buf, sizeof(buf));
				if (r > 0) {
					console_input(m, buf, (size_t)r);
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					epoll_ctl(m->epfd, EPOLL_CTL_DEL, fd, NULL);
					if (fd == m->ser_client) {
						vm_serial_set_output(&vm->serial, -1);
						close(fd);
						m->ser_client = -1;
					}
				}
			} else if (fd == m->ser_listen) {
				int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (c >= 0) {
					/* One console client: the newest wins. The UART stops
					 * using the old fd before it is closed. */
					int old = vm_serial_set_output(&vm->serial, c);
					if (old >= 0) {
						epoll_ctl(m->epfd, EPOLL_CTL_DEL, old, NULL);
						close(old);
					}
					m->ser_client = c;
					epoll_add(m->epfd, c);
				}
			} else if (fd == m->ctl_listen) {
				/* Non-blocking: a client that never reads its replies must
				 * not stall this loop; a reply that does not fit drops it. */
				int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (c < 0)
					continue;
				int slot = -1;
				for (int k = 0; k < CONTROL_MAX_CLIENTS; k++)
					if (m->clients[k].fd < 0)
						slot = k;
				if (slot < 0) {
					close(c); /* named limit: CONTROL_MAX_CLIENTS */
					continue;
				}
				m->clients[slot].fd = c;
				m->clients[slot].len = 0;
				epoll_add(m->epfd, c);
			} else {
				for (int k = 0; k < CONTROL_MAX_CLIENTS; k++)
					if (m->clients[k].fd == fd)
						client_read(m, &m->clients[k]);
			}
		}
	}
}

static const char *stop_words(enum vm_stop s)
{
	switch (s) {
	case VM_STOP_POWEROFF: return "the guest powered off";
	case VM_STOP_REBOOT: return "the guest rebooted";
	case VM_STOP_HOST: return "stopped from outside";
	case VM_STOP_CRASH: return "the guest crashed";
	default:
		if (s >= VM_STOP_EXIT_BASE && s <= VM_STOP_EXIT_MAX)
			return "the guest exited through the exit port";
		return "the VMM failed";
	}
}

static int cmd_vmm(int argc, char **argv)
{
	double t_start = mono_now();
	log_set_tag("vmm");
	log_add_console(2);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(vmm_usage, stdout);
			return 0;
		}
	static struct vmm_config cfg;
	vmm_config_defaults(&cfg);
	char err[512] = "";
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (!path)
			continue;
		static char text[VMM_CONFIG_FILE_MAX + 1];
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text));
		if (fd >= 0)
			close(fd);
		if (n < 0 || n > VMM_CONFIG_FILE_MAX) {
			log_error("config %s: %s", path, n < 0 ? strerror(errno) : "larger than 64 KiB");
			return VM_STOP_ERROR;
		}
		if (vmm_config_from_json(&cfg, text, (size_t)n, err, sizeof(err)) < 0) {
			log_error("config %s: %s", path, err);
			return VM_STOP_ERROR;
		}
	}
	if (vmm_config_from_args(&cfg, argc, argv, err, sizeof(err)) < 0 || vmm_config_check(&cfg, err, sizeof(err)) < 0) {
		log_error("%s ('kvmbox vmm --help' lists the options)", err);
		return VM_STOP_ERROR;
	}

	static char tag[VMM_NAME_MAX + 8];
	snprintf(tag, sizeof(tag), "vmm %s", cfg.name);
	log_set_tag(tag);

	static struct vmm m;
	m.cfg = &cfg;
	m.ctl_listen = m.ser_listen = m.ser_client = -1;
	for (int k = 0; k < CONTROL_MAX_CLIENTS; k++)
		m.clients[k].fd = -1;
	/* Signals come through a signalfd; block them before any thread starts. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct vm *vm = &m.vm;
	int r = vm_create(vm, &cfg);
	if (r < 0) {
		vm_destroy(vm);
		return VM_STOP_ERROR;
	}

	m.epfd = epoll_create1(EPOLL_CLOEXEC);
	m.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	m.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	epoll_add(m.epfd, vm->stop_efd);
	epoll_add(m.epfd, m.sigfd);
	epoll_add(m.epfd, m.timerfd);
	if (cfg.serial == SERIAL_STDIO) {
		struct stat st;
		if (fstat(0, &st) == 0 && !S_ISREG(st.st_mode)) { /* epoll refuses regular files */
			set_raw(&m);
			fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
			epoll_add(m.epfd, 0);
		}
	} else if (cfg.serial == SERIAL_SOCKET) {
		m.ser_listen = listen_unix(cfg.serial_path);
		if (m.ser_listen < 0) {
			log_error("serial socket %s: %s", cfg.serial_path, strerror(-m.ser_listen));
			vm_destroy(vm);
			return VM_STOP_ERROR;
		}
		epoll_add(m.epfd, m.ser_listen);
	}
	if (cfg.control_path[0]) {
		m.ctl_listen = listen_unix(cfg.control_path);
		if (m.ctl_listen < 0) {
			log_error("control socket %s: %s", cfg.control_path, strerror(-m.ctl_listen));
			vm_destroy(vm);
			return VM_STOP_ERROR;
		}
		epoll_add(m.epfd, m.ctl_listen);
	}
	m.st = (struct vmm_state){ .vm = vm, .mem_mib = (unsigned)(cfg.mem_bytes >> 20), .request_stop = request_stop };

	m.st.started = mono_now();
	log_info("started %u vCPU(s), %llu MiB; setup took %.2f ms from process start to the first KVM_RUN", cfg.cpus,
		 (unsigned long long)(cfg.mem_bytes >> 20), (m.st.started - t_start) * 1e3);
	if (vm_start(vm) == 0)
		vmm_loop(&m);
	enum vm_stop why = vm_join(vm);
	if (m.tty_raw)
		tcsetattr(0, TCSANOW, &m.saved_tty);
	log_info("%s: %s (after %.1f s)", stop_words(why), vm->stop_detail, mono_now() - m.st.started);
	vm_destroy(vm);
	if (cfg.control_path[0])
		unlink(cfg.control_path);
	if (cfg.serial == SERIAL_SOCKET)
		unlink(cfg.serial_path);
	return (int)why;
}
KVMBOX_COMMAND("vmm", cmd_vmm, "run one virtual machine (see kvmbox vmm --help)");
