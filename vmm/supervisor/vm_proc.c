/* VMM processes: start, stop, the restart policy, console and log pipes.
 *
 * Each running VM is one `kvmbox vmm` child with three pipes: stdin (console
 * input), stdout (the guest's serial output, kept in a ring) and stderr (the
 * VMM's log, kept in a smaller ring), and a control socket in STATE/run for
 * pause, resume, stop and counters. A VMM that dies is noticed through
 * SIGCHLD at once; the exit status says why (see enum vm_stop in vm.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "supervisor/state.h"
#include "supervisor/vms.h"

#define TICK_MS 200 /* how often starting, stopping and restarting VMs are looked at */

#define fail vms_fail

double vms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *vms_state_name(enum vm_state s)
{
	static const char *const names[] = { "stopped", "starting", "running", "paused", "stopping", "restarting",
					     "failed" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

struct sv_vm *vms_find(struct vms *v, const char *name, size_t len)
{
	for (unsigned i = 0; i < v->n; i++)
		if (strlen(v->vm[i]->name) == len && !memcmp(v->vm[i]->name, name, len))
			return v->vm[i];
	return NULL;
}

static void kvm_probe(struct vms *v)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		v->kvm_ok = true;
		return;
	}
	if (errno == ENOENT)
		snprintf(v->kvm_why, sizeof(v->kvm_why), "VMs cannot start here: /dev/kvm is missing (no KVM on this "
			 "machine: enable VT-x or AMD-V in the firmware, or nested virtualization)");
	else
		snprintf(v->kvm_why, sizeof(v->kvm_why), "VMs cannot start here: /dev/kvm: %s", strerror(errno));
}

int vms_init(struct vms *v, const char *state_dir, bool in_ram)
{
	memset(v, 0, sizeof(*v));
	v->epfd = v->timerfd = -1;
	v->in_ram = in_ram;
	snprintf(v->dir, sizeof(v->dir), "%s/vms", state_dir);
	snprintf(v->images, sizeof(v->images), "%s/images", state_dir);
	snprintf(v->run, sizeof(v->run), "%s/run", state_dir);
	int r;
	if ((r = state_mkdirs(v->dir, 0700)) || (r = state_mkdirs(v->images, 0700)) || (r = state_mkdirs(v->run, 0700)))
		return r;
	kvm_probe(v);
	v->epfd = epoll_create1(EPOLL_CLOEXEC);
	v->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (v->epfd < 0 || v->timerfd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->timerfd, &ev))
		return -errno;
	return 0;
}

static void arm_timer(struct vms *v)
{
	bool need = false;
	for (unsigned i = 0; i < v->n; i++) {
		enum vm_state s = v->vm[i]->state;
		need |= s == VM_STARTING || s == VM_STOPPING || s == VM_RESTARTING;
	}
	struct itimerspec t = { 0 };
	if (need)
		t.it_value.tv_nsec = t.it_interval.tv_nsec = TICK_MS * 1000000L;
	timerfd_settime(v->timerfd, 0, &t, NULL);
}

static void ctl_path(const struct vms *v, const struct sv_vm *vm, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s.ctl", v->run, vm->name);
}

static int ctl_connect(const struct vms *v, const struct sv_vm *vm)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char p[sizeof(v->run) + VMS_NAME_MAX + 8];
	ctl_path(v, vm, p, sizeof(p));
	if (strlen(p) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, p, strlen(p) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Only for the supervisor's own VMs; they live in struct vms, found by
 * address from the request handlers. */
static struct vms *owner;

int vms_control(struct sv_vm *vm, const char *request, char *reply, size_t size, struct vms_err *e)
{
	int fd = ctl_connect(owner, vm);
	if (fd < 0)
		return fail(e, 502, "cannot reach VM %s's VMM (its control socket: %s)", vm->name, strerror(-fd));
	size_t rl = strlen(request);
	int r = -1;
	if (write(fd, request, rl) != (ssize_t)rl || write(fd, "\n", 1) != 1) {
		fail(e, 502, "cannot send to VM %s's VMM: %s", vm->name, strerror(errno));
		goto out;
	}
	size_t got = 0;
	double end = vms_now() + VMS_CONTROL_TIMEOUT_MS / 1000.0;
	while (got + 1 < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = (int)((end - vms_now()) * 1000);
		if (ms <= 0 || poll(&p, 1, ms) <= 0) {
			fail(e, 504, "VM %s's VMM did not answer within %d ms", vm->name, VMS_CONTROL_TIMEOUT_MS);
			goto out;
		}
		ssize_t n = read(fd, reply + got, size - 1 - got);
		if (n <= 0) {
			fail(e, 502, "VM %s's VMM closed its control socket", vm->name);
			goto out;
		}
		got += (size_t)n;
		reply[got] = '\0';
		if (memchr(reply, '\n', got)) {
			r = 0;
			break;
		}
	}
	if (r)
		fail(e, 502, "VM %s's VMM sent a reply longer than %zu bytes", vm->name, size);
	else if (!strstr(reply, "\"ok\":true"))
		r = fail(e, 409, "VM %s's VMM refused: %.400s", vm->name, reply);
out:
	close(fd);
	return r;
}

/* Write the VMM's part of the definition for `kvmbox vmm --config`. */
static int write_run_config(struct vms *v, struct sv_vm *vm, char *path, size_t size, struct vms_err *e)
{
	char *json;
	size_t len;
	if (vms_def_vmm_json(v, vm, &json, &len, e))
		return -1;
	char file[VMS_NAME_MAX + 8];
	snprintf(file, sizeof(file), "%s.json", vm->name);
	snprintf(path, size, "%s/%s", v->run, file);
	int r = state_write_file(v->run, file, json, len, 0600);
	free(json);
	if (r)
		return fail(e, 500, "cannot write %s: %s", path, strerror(-r));
	return 0;
}

static void watch(struct vms *v, struct sv_vm *vm, int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = vm };
	epoll_ctl(v->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int spawn(struct vms *v, struct sv_vm *vm, struct vms_err *e)
{
	char cfg[sizeof(v->run) + VMS_NAME_MAX + 8], ctl[sizeof(v->run) + VMS_NAME_MAX + 8];
	if (write_run_config(v, vm, cfg, sizeof(cfg), e))
		return -1;
	ctl_path(v, vm, ctl, sizeof(ctl));
	if (strlen(ctl) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(e, 500, "the control socket path %s is too long for a unix socket; use a shorter --state", ctl);
	unlink(ctl);
	int in[2], out[2], err[2];
	if (pipe2(in, O_CLOEXEC))
		return fail(e, 503, "pipe: %s", strerror(errno));
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return fail(e, 503, "pipe: %s", strerror(errno));
	}
	if (pipe2(err, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return fail(e, 503, "pipe: %s", strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0) {
		int r = errno;
		close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(err[0]), close(err[1]);
		return fail(e, 503, "fork: %s", strerror(r));
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* A VMM outliving the supervisor would be a VM nobody can see or
		 * stop: it gets SIGTERM, its orderly stop, when we go. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setsid();
		if (chdir(v->images))
			_exit(126);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execl("/proc/self/exe", "kvmbox", "vmm", "--config", cfg, "--serial", "stdio", "--control", ctl,
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	vm->pid = pid;
	vm->in_fd = in[1];
	fcntl(vm->in_fd, F_SETFL, fcntl(vm->in_fd, F_GETFL) | O_NONBLOCK);
	vm->out_fd = out[0];
	vm->err_fd = err[0];
	watch(v, vm, vm->out_fd);
	watch(v, vm, vm->err_fd);
	vm->state = VM_STARTING;
	vm->started = vms_now();
	vm->stop_requested = vm->reboot_requested = false;
	vm->pending = false;
	vm->last_log[0] = '\0';
	char mark[160];
	int n = snprintf(mark, sizeof(mark), "\r\n[kvmbox: VM %s starting]\r\n", vm->name);
	sv_ring_write(&vm->log, mark + 2, (size_t)n - 2);
	log_info("vms: starting %s (vmm pid %d)", vm->name, (int)pid);
	arm_timer(v);
	return 0;
}

int vms_start(struct vms *v, struct sv_vm *vm, struct vms_err *e)
{
	if (vm->state != VM_STOPPED && vm->state != VM_FAILED)
		return fail(e, 409, "VM %s is %s; only a stopped or failed VM can be started", vm->name,
			    vms_state_name(vm->state));
	if (!v->kvm_ok)
		return fail(e, 503, "%s", v->kvm_why);
	vm->backoff_s = 0;
	vm->restarts = 0;
	return spawn(v, vm, e);
}

static void signal_vmm(struct sv_vm *vm, int sig)
{
	if (vm->pid > 0)
		kill(vm->pid, sig);
}

int vms_stop(struct vms *v, struct sv_vm *vm, bool force, struct vms_err *e)
{
	char reply[512];
	struct vms_err ce;
	switch (vm->state) {
	case VM_RESTARTING: /* nothing runs: just do not start it again */
		vm->state = VM_STOPPED;
		log_info("vms: %s will not be restarted (stopped by request)", vm->name);
		arm_timer(v);
		return 0;
	case VM_STOPPING:
		if (!force)
			return fail(e, 409, "VM %s is already stopping; stop it with {\"force\": true} to end it now",
				    vm->name);
		if (vms_control(vm, "{\"cmd\":\"stop\",\"force\":true}", reply, sizeof(reply), &ce))
			signal_vmm(vm, SIGKILL);
		return 0;
	case VM_STARTING:
		/* Not listening yet: a signal is the VMM's orderly stop too. */
		signal_vmm(vm, force ? SIGKILL : SIGTERM);
		break;
	case VM_PAUSED:
		/* A paused guest cannot see the power button. */
		vms_control(vm, "{\"cmd\":\"resume\"}", reply, sizeof(reply), &ce);
		/* fall through */
	case VM_RUNNING:
		if (vms_control(vm, force ? "{\"cmd\":\"stop\",\"force\":true}" : "{\"cmd\":\"stop\"}", reply,
				sizeof(reply), &ce))
			signal_vmm(vm, force ? SIGKILL : SIGTERM);
		break;
	default:
		return fail(e, 409, "VM %s is %s, not running", vm->name, vms_state_name(vm->state));
	}
	vm->stop_requested = true;
	vm->state = VM_STOPPING;
	vm->deadline = vms_now() + (vm->stop_timeout_s ? vm->stop_timeout_s : 10) + VMS_KILL_GRACE_S;
	log_info("vms: stopping %s%s", vm->name, force ? " (forced)" : "");
	arm_timer(v);
	return 0;
}

int vms_reboot(struct vms *v, struct sv_vm *vm, struct vms_err *e)
{
	if (vm->state != VM_RUNNING && vm->state != VM_PAUSED)
		return fail(e, 409, "VM %s is %s; only a running or paused VM can be rebooted", vm->name,
			    vms_state_name(vm->state));
	if (vms_stop(v, vm, false, e))
		return -1;
	vm->stop_requested = false;
	vm->reboot_requested = true;
	return 0;
}

int vms_pause(struct vms *v, struct sv_vm *vm, bool pause, struct vms_err *e)
{
	(void)v;
	if (vm->state != (pause ? VM_RUNNING : VM_PAUSED))
		return fail(e, 409, "VM %s is %s; only a %s VM can be %s", vm->name, vms_state_name(vm->state),
			    pause ? "running" : "paused", pause ? "paused" : "resumed");
	char reply[512];
	if (vms_control(vm, pause ? "{\"cmd\":\"pause\"}" : "{\"cmd\":\"resume\"}", reply, sizeof(reply), e))
		return -1;
	vm->state = pause ? VM_PAUSED : VM_RUNNING;
	log_info("vms: %s %s", vm->name, pause ? "paused" : "resumed");
	return 0;
}

int vms_console_input(struct vms *v, struct sv_vm *vm, const void *buf, size_t len, struct vms_err *e)
{
	(void)v;
	if (vm->in_fd < 0 || (vm->state != VM_RUNNING && vm->state != VM_PAUSED && vm->state != VM_STARTING))
		return fail(e, 409, "VM %s is %s; its console takes input only while it runs", vm->name,
			    vms_state_name(vm->state));
	if (len > VMS_INPUT_MAX)
		return fail(e, 413, "at most %d bytes of console input per request", VMS_INPUT_MAX);
	ssize_t n = write(vm->in_fd, buf, len);
	if (n < 0 && errno == EAGAIN)
		return fail(e, 503, "VM %s is not reading its console input; try again", vm->name);
	if (n < 0)
		return fail(e, 502, "VM %s's console: %s", vm->name, strerror(errno));
	if ((size_t)n < len)
		return fail(e, 503, "VM %s took %zd of %zu bytes of console input; send the rest again", vm->name, n,
			    len);
	return 0;
}

void vms_console_subscribe(struct sv_vm *vm, struct vms_console_sub *s)
{
	s->prev = NULL;
	s->next = vm->subs;
	if (vm->subs)
		vm->subs->prev = s;
	vm->subs = s;
}

void vms_console_unsubscribe(struct sv_vm *vm, struct vms_console_sub *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		vm->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* Console bytes: into the ring and to its viewers; for seed VMs also whole
 * lines to the log. */
/* Whole lines of p to the supervisor's log as "[name] line"; a partial
 * line waits in line[] (one buffer per stream, so they do not mix). */
static void mirror_lines(struct sv_vm *vm, char *line, size_t *len, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\n' || *len == VMS_MIRROR_LINE - 1) {
			size_t l = *len;
			if (l && line[l - 1] == '\r')
				l--;
			log_plain(LOG_INFO, "[%s] %.*s", vm->name, (int)l, line);
			*len = 0;
			if (c == '\n')
				continue;
		}
		line[(*len)++] = c;
	}
}

static void console_bytes(struct sv_vm *vm, const char *p, size_t n)
{
	uint64_t at = vm->console.total;
	sv_ring_write(&vm->console, p, n);
	for (struct vms_console_sub *s = vm->subs; s; s = s->next)
		s->bytes(s, p, n, at);
	if (vm->mirror)
		mirror_lines(vm, vm->line, &vm->line_len, p, n);
}

static void log_bytes(struct sv_vm *vm, const char *p, size_t n)
{
	sv_ring_write(&vm->log, p, n);
	/* A CI job reads only the appliance's console: a seed VM's VMM errors
	 * (a bad kernel, too little memory) must be there too. */
	if (vm->mirror)
		mirror_lines(vm, vm->eline, &vm->eline_len, p, n);
	/* Keep the last complete line: it says why a VMM failed. */
	const char *end = p + n;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	const char *s = end;
	while (s > p && s[-1] != '\n')
		s--;
	if (end > s) {
		size_t l = (size_t)(end - s) < sizeof(vm->last_log) - 1 ? (size_t)(end - s) : sizeof(vm->last_log) - 1;
		memcpy(vm->last_log, s, l);
		vm->last_log[l] = '\0';
	}
}

/* Read what fd has; false at end of stream (then closed). */
static bool drain(struct vms *v, struct sv_vm *vm, int *fdp)
{
	char buf[16384];
	for (;;) {
		ssize_t n = read(*fdp, buf, sizeof(buf));
		if (n > 0) {
			if (fdp == &vm->out_fd)
				console_bytes(vm, buf, (size_t)n);
			else
				log_bytes(vm, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		epoll_ctl(v->epfd, EPOLL_CTL_DEL, *fdp, NULL);
		close(*fdp);
		*fdp = -1;
		return false;
	}
}

static void exit_reason(struct sv_vm *vm, int status)
{
	static const char *const words[] = { "the guest powered off", "the VMM failed", "the VMM refused its settings",
					     "the guest rebooted", "stopped by request", "the guest crashed" };
	vm->guest_status = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) >= VMS_EXIT_PORT_BASE &&
	    WEXITSTATUS(status) < VMS_EXIT_PORT_BASE + 64) {
		vm->exit_code = WEXITSTATUS(status);
		vm->guest_status = vm->exit_code - VMS_EXIT_PORT_BASE;
		snprintf(vm->exit_reason, sizeof(vm->exit_reason), "the guest exited with status %d (exit port)",
			 vm->guest_status);
	} else if (WIFEXITED(status)) {
		int c = WEXITSTATUS(status);
		vm->exit_code = c;
		const char *w = c < (int)(sizeof(words) / sizeof(words[0])) ? words[c] : "the VMM exited";
		if ((c == 1 || c == 2 || c >= 5) && vm->last_log[0])
			snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s: %.120s", w, vm->last_log);
		else
			snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s", w);
	} else {
		vm->exit_code = 128 + WTERMSIG(status);
		snprintf(vm->exit_reason, sizeof(vm->exit_reason), "the VMM was killed by signal %d%s",
			 WTERMSIG(status), vm->stop_requested ? " (stopped by request)" : "");
	}
	vm->has_exit = true;
}


/* The VMM of vm exited with status: what happens next. */
static void vm_ended(struct vms *v, struct sv_vm *vm, int status)
{
	while (vm->out_fd >= 0 && drain(v, vm, &vm->out_fd)) {
	}
	while (vm->err_fd >= 0 && drain(v, vm, &vm->err_fd)) {
	}
	if (vm->in_fd >= 0)
		close(vm->in_fd);
	vm->in_fd = -1;
	vm->pid = 0;
	char p[sizeof(v->run) + VMS_NAME_MAX + 8];
	ctl_path(v, vm, p, sizeof(p));
	unlink(p);
	exit_reason(vm, status);
	double ran = vms_now() - vm->started;
	log_info("vms: %s ended after %.1f s: %s (exit %d)", vm->name, ran, vm->exit_reason, vm->exit_code);
	char mark[256];
	int n = snprintf(mark, sizeof(mark), "[kvmbox: VM %s ended: %s]\n", vm->name, vm->exit_reason);
	sv_ring_write(&vm->log, mark, (size_t)n);

	struct vms_err e;
	bool failed = vm->guest_status >= 0 ? vm->guest_status != 0
					     : vm->exit_code != 0 && vm->exit_code != 3 && vm->exit_code != 4;
	/* A guest that reboots comes back, except a seed's: a CI run must end,
	 * as QEMU's -no-reboot makes it, and the reboot is its result (3). */
	if (vm->reboot_requested || (!vm->stop_requested && vm->exit_code == 3 && !vm->mirror)) {
		vm->state = VM_STOPPED;
		if (spawn(v, vm, &e)) {
			vm->state = VM_FAILED;
			log_error("vms: %s: cannot start it again: %s", vm->name, e.msg);
		}
	} else if (vm->stop_requested) {
		vm->state = VM_STOPPED;
	} else if (vm->restart == RESTART_ALWAYS || (vm->restart == RESTART_ON_FAILURE && failed)) {
		if (ran >= VMS_STABLE_S)
			vm->backoff_s = 0;
		vm->backoff_s = vm->backoff_s ? vm->backoff_s * 2 : 1;
		if (vm->backoff_s > VMS_BACKOFF_MAX_S)
			vm->backoff_s = VMS_BACKOFF_MAX_S;
		vm->state = VM_RESTARTING;
		vm->deadline = vms_now() + vm->backoff_s;
		log_info("vms: %s restarts in %u s (restart policy %s)", vm->name, vm->backoff_s,
			 vm->restart == RESTART_ALWAYS ? "always" : "on-failure");
	} else {
		vm->state = failed ? VM_FAILED : VM_STOPPED;
	}
	arm_timer(v);
	vms_seed_check(v);
}

void vms_reap(struct vms *v)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned i = 0; i < v->n; i++)
			if (v->vm[i]->pid == pid) {
				vm_ended(v, v->vm[i], status);
				break;
			}
	}
}

static void tick(struct vms *v)
{
	double now = vms_now();
	for (unsigned i = 0; i < v->n; i++) {
		struct sv_vm *vm = v->vm[i];
		if (vm->state == VM_STARTING) {
			int fd = ctl_connect(v, vm);
			if (fd >= 0) {
				close(fd);
				vm->state = VM_RUNNING;
				log_info("vms: %s is running", vm->name);
			}
		} else if (vm->state == VM_STOPPING && now >= vm->deadline && vm->pid > 0) {
			log_warn("vms: %s's VMM has not stopped; killing it", vm->name);
			signal_vmm(vm, SIGKILL);
			vm->deadline = now + 3600;
		} else if (vm->state == VM_RESTARTING && now >= vm->deadline) {
			struct vms_err e;
			vm->state = VM_STOPPED;
			vm->restarts++;
			if (spawn(v, vm, &e)) {
				vm->state = VM_FAILED;
				log_error("vms: %s: cannot restart it: %s", vm->name, e.msg);
			}
		}
	}
	arm_timer(v);
}

void vms_events(struct vms *v)
{
	owner = v;
	struct epoll_event evs[32];
	int n = epoll_wait(v->epfd, evs, 32, 0);
	for (int i = 0; i < n; i++) {
		struct sv_vm *vm = evs[i].data.ptr;
		if (!vm) {
			uint64_t x;
			if (read(v->timerfd, &x, sizeof(x)) == (ssize_t)sizeof(x))
				tick(v);
			continue;
		}
		/* Which pipe: both may be ready; draining one that is empty
		 * costs one EAGAIN. */
		if (vm->out_fd >= 0)
			drain(v, vm, &vm->out_fd);
		if (vm->err_fd >= 0)
			drain(v, vm, &vm->err_fd);
	}
}

void vms_autostart(struct vms *v)
{
	owner = v;
	for (unsigned i = 0; i < v->n; i++) {
		struct sv_vm *vm = v->vm[i];
		if (!vm->autostart)
			continue;
		struct vms_err e;
		if (vms_start(v, vm, &e))
			log_error("vms: autostart of %s: %s", vm->name, e.msg);
	}
}

void vms_stop_all(struct vms *v, double wait_s)
{
	owner = v;
	unsigned running = 0;
	for (unsigned i = 0; i < v->n; i++) {
		struct sv_vm *vm = v->vm[i];
		struct vms_err e;
		if (vm->pid > 0) {
			running++;
			vm->restart = RESTART_NO;
			if (vm->state != VM_STOPPING)
				vms_stop(v, vm, false, &e);
		} else if (vm->state == VM_RESTARTING) {
			vm->state = VM_STOPPED;
		}
	}
	if (!running)
		return;
	log_info("vms: stopping %u VM(s), at most %.0f s", running, wait_s);
	double end = vms_now() + wait_s;
	for (;;) {
		bool any = false;
		for (unsigned i = 0; i < v->n; i++)
			any |= v->vm[i]->pid > 0;
		if (!any)
			return;
		if (vms_now() >= end)
			break;
		vms_events(v);
		vms_reap(v);
		usleep(50 * 1000);
	}
	for (unsigned i = 0; i < v->n; i++)
		if (v->vm[i]->pid > 0) {
			log_warn("vms: %s did not stop in time; killing it", v->vm[i]->name);
			signal_vmm(v->vm[i], SIGKILL);
		}
	for (unsigned i = 0; i < v->n; i++) {
		if (v->vm[i]->pid > 0) {
			int status;
			if (waitpid(v->vm[i]->pid, &status, 0) > 0)
				vm_ended(v, v->vm[i], status);
		}
	}
}

void vms_write_json(const struct vms *v, const struct sv_vm *vm, struct json_writer *w)
{
	(void)v;
	json_w_begin_object(w);
	json_w_key(w, "name");
	json_w_string(w, vm->name);
	json_w_key(w, "state");
	json_w_string(w, vms_state_name(vm->state));
	json_w_key(w, "definition");
	json_w_raw(w, vm->def, vm->def_len);
	json_w_key(w, "autostart");
	json_w_bool(w, vm->autostart);
	json_w_key(w, "restart");
	json_w_string(w, vm->restart == RESTART_ALWAYS ? "always" : vm->restart == RESTART_ON_FAILURE ? "on-failure" : "no");
	if (vm->pid > 0) {
		json_w_key(w, "pid");
		json_w_int(w, vm->pid);
		/* Tenths of a second are enough, and 0.1 has no exact double. */
		char up[32];
		int n = snprintf(up, sizeof(up), "%.1f", vms_now() - vm->started);
		json_w_key(w, "uptime_s");
		json_w_raw(w, up, (size_t)n);
	}
	json_w_key(w, "restarts");
	json_w_uint(w, vm->restarts);
	json_w_key(w, "last_exit");
	if (vm->has_exit) {
		json_w_begin_object(w);
		json_w_key(w, "code");
		json_w_int(w, vm->exit_code);
		json_w_key(w, "reason");
		json_w_string(w, vm->exit_reason);
		if (vm->guest_status >= 0) {
			json_w_key(w, "guest_status");
			json_w_int(w, vm->guest_status);
		}
		json_w_end(w);
	} else {
		json_w_null(w);
	}
	json_w_key(w, "pending_changes");
	json_w_bool(w, vm->pending);
	json_w_key(w, "transient");
	json_w_bool(w, vm->transient);
	json_w_end(w);
}

/* ---- the seed: VMs to run at boot, and power off when they end ---- */

void vms_seed_check(struct vms *v)
{
	if (!v->seed_vms || !v->poweroff_fn)
		return;
	int worst = 0;
	char why[512];
	size_t off = (size_t)snprintf(why, sizeof(why), "seed: all VMs ended (");
	unsigned seen = 0;
	for (unsigned i = 0; i < v->n; i++) {
		struct sv_vm *vm = v->vm[i];
		if (!vm->mirror)
			continue;
		if (vm->state != VM_STOPPED && vm->state != VM_FAILED)
			return;
		/* The guest's own status when it gave one, else the VMM's. */
		int code = vm->guest_status >= 0 ? vm->guest_status : vm->exit_code;
		if (code && !worst)
			worst = code;
		int k = snprintf(why + off, sizeof(why) - off, "%s%s=%d", seen++ ? " " : "", vm->name, code);
		if (k > 0 && (size_t)k < sizeof(why) - off)
			off += (size_t)k;
	}
	if (off < sizeof(why))
		snprintf(why + off, sizeof(why) - off, "); result %d", worst);
	v->seed_vms = 0;
	if (v->seed_poweroff)
		v->poweroff_fn(v->poweroff_arg, worst, why);
	else
		log_info("%s; the appliance stays up (the seed did not ask for a power-off)", why);
}
