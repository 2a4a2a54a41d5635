/* vmbench: PID 1 of the VMM benchmark image (tests/bench/vm_bench.py builds
 * the image and boots it under TCG with rdinit=/vmbench). Static musl.
 *
 * It reads /NAME.conf when run as /NAME (/vmbench.conf), waits for /dev/kvm, then runs every VMM there
 * several times, round-robin (each round starts one VMM later, so that no
 * VMM always runs first), each with its serial console on a pipe:
 *
 *   t_init  seconds from fork() to the line "KVMBOX-GUEST: init"
 *   t_hold  ... to "KVMBOX-GUEST: hold": the guest now sleeps, and we read
 *           /proc/PID/smaps: guest RAM is every mapping at least guest_mib
 *           long, overhead = total Rss - Rss of those mappings
 *   t_done  ... to "KVMBOX-GUEST: done" (the guest powers off next)
 *   t_exit  ... to the VMM's exit (pidfd), then wait4() for status + rusage
 *
 * A trial that runs past `timeout` seconds is killed (SIGKILL). Output, one
 * line each, all starting "VMBENCH ":
 *   VMBENCH start ...
 *   VMBENCH trial round=R vmm=NAME ok=1 status=exit:0 init=... hold=...
 *           done=... exit=... rss_kb=... guest_kb=... overhead_kb=...
 *           hwm_kb=... maxrss_kb=... nguest=... out_bytes=... user=... sys=...
 *           mem_exact=0|1 maps=SIZE_KB:RSS_KB[*],...   (mappings >= guest_mib)
 *   VMBENCH mark vmm=NAME mark=M t=... mmio_exits=N | <line>
 *           for each guest line "KVMBOX-GUEST: mark M ...": when it came, and
 *           how many MMIO exits to the VMM its vCPU has made since the mark
 *           first-access, as the VMM itself counts them (its "stats" line;
 *           -1 and stats_error=WHY when they cannot be read)
 *   VMBENCH tail vmm=NAME | <line>          (the last output of a failed trial)
 *   VMBENCH summary vmm=NAME ok=K/N init=... exit=... overhead_kb=...  (medians)
 *   VMBENCH end
 * then it powers the machine off. It never returns: PID 1 must not exit.
 *
 * /vmbench.conf, one item a line ('#' starts a comment line):
 *   runs N | timeout SECONDS | guest_mib N | warmup N | wait_kvm 0|1
 *   echo 0|1           1: print every line of the VMMs' output as
 *                      "VMBENCH out vmm=NAME t=SECONDS | LINE"
 *   vmm NAME           starts a VMM; the lines after it, up to the next vmm:
 *   arg TEXT           one argv entry, the rest of the line verbatim (argv[0]
 *                      is the program that is executed)
 *   env NAME=VALUE     one environment entry
 *   stats kvmbox|qmp SOCKET  (after vmm) where the VMM's exit counters are:
 *                      kvmbox's control socket, or a QMP socket
 *   setup CMD ARG...   run once before the trials (words split at spaces),
 *                      e.g. binding a device to vfio-pci; a failure ends it
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif


#define MAX_VMMS 8
#define MAX_ARGS 64
#define MAX_ENV 16
#define MAX_RUNS 32
#define TAIL_LINES 25
#define LINE_MAX_LEN 1024

struct trial {
	int ok;
	char status[48];
	double t_init, t_hold, t_done, t_exit;
	long rss_kb, guest_kb, hwm_kb, maxrss_kb;
	int nguest, mem_exact;
	char maps[200];
	long out_bytes;
	double user_s, sys_s;
};

enum stats_kind { STATS_NONE, STATS_KVMBOX, STATS_QMP };

struct vmm {
	char name[32];
	enum stats_kind stats_kind; /* where its exit counters are read */
	char stats_path[108];
	char *argv[MAX_ARGS + 1];
	int argc;
	char *envp[MAX_ENV + 1];
	int envc;
	struct trial trials[MAX_RUNS];
	int ntrials;
};

static struct vmm vmms[MAX_VMMS];
static int nvmms;
static int runs = 3, warmup, timeout_s = 120, wait_kvm = 1, echo;
#define MAX_SETUP 4
static char *setup_cmds[MAX_SETUP];
static int nsetup;
static long guest_mib = 128;

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void __attribute__((noreturn)) power_off(void)
{
	out("VMBENCH end\n");
	if (getpid() != 1) /* a dry run on a host */
		exit(0);
	sync();
	reboot(RB_POWER_OFF);
	out("VMBENCH error: reboot(RB_POWER_OFF): %s\n", strerror(errno));
	for (;;)
		pause();
}

static void __attribute__((noreturn)) fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("VMBENCH error: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	power_off();
}

static void read_config(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	char line[4096];
	int lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *val = strchr(line, ' ');
		if (val)
			*val++ = '\0';
		else
			val = line + strlen(line);
		struct vmm *v = nvmms ? &vmms[nvmms - 1] : NULL;
		if (!strcmp(line, "runs")) {
			runs = atoi(val);
		} else if (!strcmp(line, "warmup")) {
			warmup = atoi(val);
		} else if (!strcmp(line, "echo")) {
			echo = atoi(val);
		} else if (!strcmp(line, "wait_kvm")) {
			wait_kvm = atoi(val);
		} else if (!strcmp(line, "timeout")) {
			timeout_s = atoi(val);
		} else if (!strcmp(line, "guest_mib")) {
			guest_mib = atol(val);
		} else if (!strcmp(line, "stats") && v) {
			/* stats kvmbox|qmp SOCKET: see vmm_mmio_exits() */
			char kind[16] = "";
			if (sscanf(val, "%15s %107s", kind, v->stats_path) != 2 || (strcmp(kind, "kvmbox") && strcmp(kind, "qmp")))
				fail("%s:%d: stats kvmbox|qmp SOCKET", path, lineno);
			v->stats_kind = !strcmp(kind, "kvmbox") ? STATS_KVMBOX : STATS_QMP;
		} else if (!strcmp(line, "setup")) {
			if (nsetup == MAX_SETUP)
				fail("%s:%d: more than %d setup lines", path, lineno, MAX_SETUP);
			setup_cmds[nsetup++] = strdup(val);
		} else if (!strcmp(line, "vmm")) {
			if (nvmms == MAX_VMMS)
				fail("%s:%d: more than %d VMMs", path, lineno, MAX_VMMS);
			v = &vmms[nvmms++];
			snprintf(v->name, sizeof(v->name), "%s", val);
		} else if (!strcmp(line, "arg") && v && v->argc < MAX_ARGS) {
			v->argv[v->argc++] = strdup(val);
		} else if (!strcmp(line, "env") && v && v->envc < MAX_ENV) {
			v->envp[v->envc++] = strdup(val);
		} else {
			fail("%s:%d: cannot use '%s'", path, lineno, line);
		}
	}
	fclose(f);
	if (runs < 1 || runs > MAX_RUNS || warmup < 0 || warmup > 3 || timeout_s < 1 || guest_mib < 1 || !nvmms)
		fail("%s: bad settings (runs %d, warmup %d, timeout %d, guest_mib %ld, %d VMMs)", path, runs,
		     warmup, timeout_s, guest_mib, nvmms);
	for (int i = 0; i < nvmms; i++)
		if (!vmms[i].argc)
			fail("%s: VMM %s has no arguments", path, vmms[i].name);
}

/* Rss of the whole process and of its guest RAM, from /proc/PID/smaps; VmHWM
 * from /proc/PID/status. Guest RAM is each mapping from guest_mib up to twice
 * that long (a VMM may round its RAM mapping up; TCG's code buffer, 1 GiB and
 * more, is no guest RAM). mem_exact is 0 when a guest RAM mapping is longer
 * than guest_mib + 4 MiB: then Rss of a merged neighbour counts as guest RAM
 * and the overhead comes out too low. Every mapping of guest_mib or more is listed in
 * t->maps as SIZE_KB:RSS_KB, '*' marking those counted as guest RAM. */
static void read_memory(pid_t pid, struct trial *t)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	unsigned long guest_bytes = (unsigned long)guest_mib << 20;
	int big = 0, in_guest = 0;
	unsigned long size = 0;
	long total = 0, guest = 0;
	size_t mlen = 0;
	t->nguest = 0;
	t->mem_exact = 1;
	t->maps[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		long kb;
		if (isxdigit((unsigned char)line[0]) && sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			size = end - start;
			big = size >= guest_bytes;
			in_guest = big && size < 2 * guest_bytes;
			t->nguest += in_guest;
			/* Longer than the RAM plus some alignment: the kernel merged
			 * a neighbouring mapping into it, whose Rss we cannot tell
			 * apart from the guest's. */
			if (in_guest && size > guest_bytes + (4UL << 20))
				t->mem_exact = 0;
		} else if (sscanf(line, "Rss: %ld kB", &kb) == 1) {
			total += kb;
			if (in_guest)
				guest += kb;
			if (big && mlen < sizeof(t->maps) - 40)
				mlen += (size_t)snprintf(t->maps + mlen, sizeof(t->maps) - mlen, "%s%lu:%ld%s",
							 mlen ? "," : "", size >> 10, kb, in_guest ? "*" : "");
		}
	}
	fclose(f);
	t->rss_kb = total;
	t->guest_kb = guest;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &t->hwm_kb) == 1)
			break;
	fclose(f);
}

struct tail {
	char lines[TAIL_LINES][LINE_MAX_LEN];
	int next, count;
};

static void tail_add(struct tail *tl, const char *s)
{
	snprintf(tl->lines[tl->next], LINE_MAX_LEN, "%s", s);
	tl->next = (tl->next + 1) % TAIL_LINES;
	if (tl->count < TAIL_LINES)
		tl->count++;
}

/* A request on a unix socket, the reply read until a line holding want (or
 * EOF, or 5 s) into buf. 0, or -1 with the reason in err. */
static int sock_ask(const char *path, const char *const reqs[], int nreq, const char *want, char *buf, size_t size,
		    char *err, size_t errlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(err, errlen, "connect:%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (int i = 0; i < nreq; i++)
		if (write(fd, reqs[i], strlen(reqs[i])) < 0)
			break;
	size_t len = 0;
	buf[0] = '\0';
	double end = now() + 5;
	while (len < size - 1 && !strstr(buf, want) && now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 500) <= 0)
			continue;
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	close(fd);
	if (!strstr(buf, want)) {
		snprintf(err, errlen, "no %s in the reply", want);
		return -1;
	}
	return 0;
}

/* The number after "key" and the next ':' in text at or after from. */
static long long json_number_after(const char *text, const char *key)
{
	const char *k = strstr(text, key);
	const char *c = k ? strchr(k + strlen(key), ':') : NULL;
	return c ? atoll(c + 1) : -1;
}

/* How many MMIO exits to the VMM the guest's vCPU has made: what each VMM
 * says itself, through the socket its conf names (kvmbox: its control
 * socket's counters, which reset on read, so they are summed here; QEMU:
 * QMP's query-stats, KVM's own mmio_exits). KVM's binary stats cannot be
 * read from outside: its vCPU ioctls answer EIO to any other process. */
static long long mmio_sum;
static char stats_err[80];
static long long vmm_mmio_exits(const struct vmm *v, int first)
{
	static char buf[65536];
	if (first)
		mmio_sum = 0;
	if (v->stats_kind == STATS_KVMBOX) {
		const char *req[] = { "{\"cmd\":\"counters\"}\n" };
		if (sock_ask(v->stats_path, req, 1, "\n", buf, sizeof(buf), stats_err, sizeof(stats_err)) < 0)
			return -1;
		const char *e = strstr(buf, "\"exits\"");
		long long n = e ? json_number_after(e, "\"mmio\"") : -1;
		if (n < 0)
			return -1;
		mmio_sum += n;
		return mmio_sum;
	}
	if (v->stats_kind == STATS_QMP) {
		const char *req[] = { "{\"execute\":\"qmp_capabilities\"}\n",
				      "{\"execute\":\"query-stats\",\"arguments\":{\"target\":\"vcpu\"}}\n" };
		if (sock_ask(v->stats_path, req, 2, "mmio_exits", buf, sizeof(buf), stats_err, sizeof(stats_err)) < 0)
			return -1;
		return json_number_after(buf, "\"mmio_exits\"");
	}
	snprintf(stats_err, sizeof(stats_err), "no stats line in the conf");
	return -1;
}

static void handle_line(const struct vmm *v, char *s, double t0, pid_t pid, struct trial *t, struct tail *tl)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	/* Drop other carriage returns and escape sequences' bytes that would
	 * garble the console: keep printable ASCII only. */
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '.';
	double t1 = now() - t0;
	if (t->t_init < 0 && strstr(s, "KVMBOX-GUEST: init")) {
		t->t_init = t1;
	} else if (t->t_hold < 0 && strstr(s, "KVMBOX-GUEST: hold")) {
		t->t_hold = t1;
		read_memory(pid, t);
	} else if (t->t_done < 0 && strstr(s, "KVMBOX-GUEST: done")) {
		t->t_done = t1;
	} else if (strstr(s, "KVMBOX-GUEST: mark ")) {
		char mark[32] = "?";
		sscanf(strstr(s, "KVMBOX-GUEST: mark ") + 19, "%31s", mark);
		long long mmio = vmm_mmio_exits(v, !strcmp(mark, "first-access"));
		out("VMBENCH mark vmm=%s mark=%s t=%.3f mmio_exits=%lld%s%s | %s\n", v->name, mark, t1, mmio,
		    mmio < 0 ? " stats_error=" : "", mmio < 0 ? stats_err : "", s);
	}
	tail_add(tl, s);
	if (echo)
		out("VMBENCH out vmm=%s t=%.3f | %s\n", v->name, t1, s);
}

static void run_trial(struct vmm *v, struct trial *t)
{
	memset(t, 0, sizeof(*t));
	t->t_init = t->t_hold = t->t_done = t->t_exit = -1;
	t->rss_kb = t->guest_kb = t->hwm_kb = t->maxrss_kb = -1;
	static struct tail tl;
	tl.next = tl.count = 0;

	int outp[2], inp[2];
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(inp, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* stdin: a pipe that stays open and silent; stdout and stderr:
		 * our pipe. dup2 leaves the new descriptors without CLOEXEC. */
		dup2(inp[0], 0);
		dup2(outp[1], 1);
		dup2(outp[1], 2);
		setsid();
		execve(v->argv[0], v->argv, v->envp);
		dprintf(2, "vmbench: exec %s: %s\n", v->argv[0], strerror(errno));
		_exit(127);
	}
	close(outp[1]);
	close(inp[0]);
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	double deadline = t0 + timeout_s;
	char buf[LINE_MAX_LEN];
	size_t len = 0;
	int eof = 0, status = 0, reaped = 0, timed_out = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	while (!reaped) {
		struct pollfd fds[2];
		int nf = 0;
		if (!eof)
			fds[nf++] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
		if (pfd >= 0)
			fds[nf++] = (struct pollfd){ .fd = pfd, .events = POLLIN };
		double left = deadline - now();
		if (left <= 0 && !timed_out) {
			timed_out = 1;
			kill(pid, SIGKILL);
			deadline = now() + 30; /* a SIGKILLed VMM still has to go */
			continue;
		}
		if (left <= 0)
			fail("VMM %s (PID %d) survives SIGKILL", v->name, (int)pid);
		/* Without a pidfd (an old kernel), look for the exit every 5 ms. */
		int ms = pfd >= 0 ? (int)(left * 1000) + 1 : 5;
		if (ms > (int)(left * 1000) + 1)
			ms = (int)(left * 1000) + 1;
		int r = poll(fds, (nfds_t)nf, ms);
		if (r < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (!eof && r > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(outp[0], buf + len, sizeof(buf) - 1 - len);
			if (n <= 0) {
				eof = 1;
			} else {
				t->out_bytes += n;
				len += (size_t)n;
				buf[len] = '\0';
				char *nl;
				while ((nl = memchr(buf, '\n', len))) {
					*nl = '\0';
					handle_line(v, buf, t0, pid, t, &tl);
					size_t used = (size_t)(nl - buf) + 1;
					memmove(buf, nl + 1, len - used);
					len -= used;
				}
				if (len == sizeof(buf) - 1) { /* a line too long: cut it */
					buf[len] = '\0';
					handle_line(v, buf, t0, pid, t, &tl);
					len = 0;
				}
			}
		}
		pid_t w = wait4(pid, &status, WNOHANG, &ru);
		if (w == pid) {
			t->t_exit = now() - t0;
			reaped = 1;
		} else if (w < 0 && errno != EINTR) {
			fail("wait4(%d): %s", (int)pid, strerror(errno));
		}
	}
	/* What it wrote just before it exited. */
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(outp[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		t->out_bytes += n;
		len += (size_t)n;
		buf[len] = '\0';
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			handle_line(v, buf, t0, pid, t, &tl);
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, nl + 1, len - used);
			len -= used;
		}
		if (len == sizeof(buf) - 1)
			len = 0;
	}
	if (len) {
		buf[len] = '\0';
		handle_line(v, buf, t0, pid, t, &tl);
	}
	close(outp[0]);
	close(inp[1]);
	if (pfd >= 0)
		close(pfd);
	/* Orphans (none expected) end up with PID 1: reap them. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;

	t->maxrss_kb = ru.ru_maxrss;
	t->user_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	t->sys_s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	if (timed_out)
		snprintf(t->status, sizeof(t->status), "timeout:%ds", timeout_s);
	else if (WIFEXITED(status))
		snprintf(t->status, sizeof(t->status), "exit:%d", WEXITSTATUS(status));
	else
		snprintf(t->status, sizeof(t->status), "signal:%d", WTERMSIG(status));
	t->ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 && t->t_init >= 0 &&
		t->t_hold >= 0 && t->t_done >= 0 && t->nguest > 0;

	if (!t->ok)
		for (int i = 0; i < tl.count; i++)
			out("VMBENCH tail vmm=%s | %s\n", v->name,
			    tl.lines[(tl.next - tl.count + i + TAIL_LINES) % TAIL_LINES]);
}

static void print_trial(const char *round, const struct vmm *v, const struct trial *t)
{
	out("VMBENCH trial round=%s vmm=%s ok=%d status=%s init=%.3f hold=%.3f done=%.3f exit=%.3f "
	    "rss_kb=%ld guest_kb=%ld overhead_kb=%ld hwm_kb=%ld maxrss_kb=%ld nguest=%d out_bytes=%ld "
	    "user=%.3f sys=%.3f mem_exact=%d maps=%s\n",
	    round, v->name, t->ok, t->status, t->t_init, t->t_hold, t->t_done, t->t_exit, t->rss_kb,
	    t->guest_kb, t->rss_kb >= 0 && t->guest_kb >= 0 ? t->rss_kb - t->guest_kb : -1, t->hwm_kb,
	    t->maxrss_kb, t->nguest, t->out_bytes, t->user_s, t->sys_s, t->mem_exact, t->maps[0] ? t->maps : "-");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *x, int n)
{
	if (n == 0)
		return -1;
	qsort(x, (size_t)n, sizeof(*x), cmp_double);
	return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

static void summary(struct vmm *v)
{
	double init[MAX_RUNS], exit_[MAX_RUNS], ov[MAX_RUNS];
	int n = 0, nov = 0;
	for (int i = 0; i < v->ntrials; i++) {
		struct trial *t = &v->trials[i];
		if (!t->ok)
			continue;
		init[n] = t->t_init;
		exit_[n] = t->t_exit;
		n++;
		if (t->mem_exact)
			ov[nov++] = (double)(t->rss_kb - t->guest_kb);
	}
	out("VMBENCH summary vmm=%s ok=%d/%d init=%.3f exit=%.3f overhead_kb=%.0f (of %d)\n", v->name, n,
	    v->ntrials, median(init, n), median(exit_, n), median(ov, nov), nov);
}

static void mount_base(void)
{
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
	mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	/* /NAME.conf for /NAME: one driver serves several benchmark images. */
	char conf_buf[128];
	const char *base = strrchr(argv[0], '/');
	snprintf(conf_buf, sizeof(conf_buf), "/%s.conf", base ? base + 1 : argv[0]);
	const char *conf = argc > 1 ? argv[1] : conf_buf;
	if (getpid() == 1)
		mount_base();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	char cmdline[1024] = "";
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
		cmdline[n > 0 ? n : 0] = '\0';
		cmdline[strcspn(cmdline, "\n")] = '\0';
		close(fd);
	}
	struct utsname u;
	uname(&u);
	read_config(conf);
	out("VMBENCH start kernel=%s cpus=%ld runs=%d warmup=%d timeout=%d guest_mib=%ld vmms=%d uptime_clock=%.3f "
	    "cmdline=%s\n", u.release, sysconf(_SC_NPROCESSORS_ONLN), runs, warmup, timeout_s, guest_mib, nvmms,
	    now(), cmdline);

	double t0 = now();
	struct stat st;
	while (wait_kvm && stat("/dev/kvm", &st) < 0) {
		if (now() - t0 > 30)
			fail("no /dev/kvm after 30 s");
		sleep_s(0.05);
	}
	for (int i = 0; i < nsetup; i++) {
		char *argv[16], *save = NULL;
		int argc = 0;
		for (char *w = strtok_r(setup_cmds[i], " ", &save); w && argc < 15; w = strtok_r(NULL, " ", &save))
			argv[argc++] = w;
		argv[argc] = NULL;
		pid_t pid = argc ? fork() : -1;
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		int status = -1;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			fail("setup '%s' failed (status %d)", argv[0] ? argv[0] : "", status);
		out("VMBENCH setup ok %s\n", argv[0]);
	}
	for (int i = 0; i < nvmms; i++)
		out("VMBENCH vmm name=%s exe=%s size=%lld\n", vmms[i].name, vmms[i].argv[0],
		    stat(vmms[i].argv[0], &st) == 0 ? (long long)st.st_size : -1LL);

	static struct trial scratch;
	for (int w = 0; w < warmup; w++)
		for (int i = 0; i < nvmms; i++) {
			run_trial(&vmms[i], &scratch);
			print_trial("warmup", &vmms[i], &scratch);
		}
	for (int r = 0; r < runs; r++)
		for (int k = 0; k < nvmms; k++) {
			struct vmm *v = &vmms[(r + k) % nvmms];
			struct trial *t = &v->trials[v->ntrials++];
			run_trial(v, t);
			char round[16];
			snprintf(round, sizeof(round), "%d", r + 1);
			print_trial(round, v, t);
		}
	for (int i = 0; i < nvmms; i++)
		summary(&vmms[i]);
	power_off();
}
