/* iobench: PID 1 of the I/O benchmark image (tests/bench/io_bench.py builds
 * the image and boots it under TCG with rdinit=/iobench). Static musl.
 *
 * It sets up what both VMMs share: the backing file /tmp/bench.img (tmpfs,
 * so the host's disk is not what is measured), the bridge kvbr0 with
 * 10.0.3.1/24, a persistent tap qtap0 in it for QEMU (kvmbox makes its own
 * tap and joins the bridge itself), and a TCP receiver on port 5001 of all
 * the appliance's addresses (10.0.3.1 for taps, 127.0.0.1 for user-mode NATs:
 * kvmbox usernet and QEMU slirp map their gateway 10.0.2.2 to it) that
 * counts bytes and answers the count. Then it runs every VMM of
 * /NAME.conf (NAME: how it was started, /iobench or /netbench), round-robin,
 * RUNS times, each with its console on a pipe;
 * the guest (tests/bench/vm/io_guest.c) prints "KVMBOX-IO: begin PHASE" and
 * "KVMBOX-IO: end PHASE bytes=.. ops=.. secs=..", and at both lines we read
 * the VMM's CPU time: all its threads (/proc/PID/stat) and its vCPU threads
 * (named "vcpu N" by kvmbox, "CPU N/KVM" by QEMU). Output lines:
 *   IOBENCH start
 *   IOBENCH result round=R vmm=NAME phase=P bytes=N ops=N secs=S cpu=S vcpu=S
 *   IOBENCH fail vmm=NAME why=...   (and IOBENCH tail lines)
 *   IOBENCH end
 *
 * /NAME.conf: runs N | timeout S | mb N | vmm NAME, then arg/env lines
 * as in vmbench.conf.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_VMMS 8
#define MAX_ARGS 64

struct vmm {
	char name[32];
	int argc, envc;
	char *argv[MAX_ARGS + 1];
	char *envp[MAX_ARGS + 1];
};

static struct vmm vmms[MAX_VMMS];
static int nvmms, runs = 3, timeout_s = 300;
static long mb = 64;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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

static void __attribute__((noreturn)) power_off(void)
{
	out("IOBENCH end\n");
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static void __attribute__((noreturn)) fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("IOBENCH error: ");
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
	struct vmm *v = NULL;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *val = strchr(line, ' ');
		val = val ? (*val = '\0', val + 1) : line + strlen(line);
		if (!strcmp(line, "runs"))
			runs = atoi(val);
		else if (!strcmp(line, "timeout"))
			timeout_s = atoi(val);
		else if (!strcmp(line, "mb"))
			mb = atol(val);
		else if (!strcmp(line, "vmm") && nvmms < MAX_VMMS)
			snprintf((v = &vmms[nvmms++])->name, sizeof(v->name), "%s", val);
		else if (!strcmp(line, "arg") && v && v->argc < MAX_ARGS)
			v->argv[v->argc++] = strdup(val);
		else if (!strcmp(line, "env") && v && v->envc < MAX_ARGS)
			v->envp[v->envc++] = strdup(val);
		else
			fail("%s: bad line '%s'", path, line);
	}
	fclose(f);
}

/* --- the network both VMMs join --- */

static int ifreq_do(int s, unsigned long req, const char *name, struct ifreq *ifr)
{
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
	return ioctl(s, req, ifr);
}

static void net_setup(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	if (ioctl(s, SIOCBRADDBR, "kvbr0") < 0 && errno != EEXIST)
		fail("SIOCBRADDBR kvbr0: %s", strerror(errno));
	struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
	a->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.3.1", &a->sin_addr);
	if (ifreq_do(s, SIOCSIFADDR, "kvbr0", &ifr) < 0)
		fail("kvbr0 address: %s", strerror(errno));
	inet_pton(AF_INET, "255.255.255.0", &a->sin_addr);
	ifreq_do(s, SIOCSIFNETMASK, "kvbr0", &ifr);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_UP;
	if (ifreq_do(s, SIOCSIFFLAGS, "kvbr0", &ifr) < 0)
		fail("kvbr0 up: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_UP;
	ifreq_do(s, SIOCSIFFLAGS, "lo", &ifr);

	/* QEMU's tap: persistent, so that QEMU only opens it (no helper scripts). */
	int t = open("/dev/net/tun", O_RDWR);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (t < 0 || ifreq_do(t, TUNSETIFF, "qtap0", &ifr) < 0 || ioctl(t, TUNSETPERSIST, 1) < 0)
		fail("tap qtap0: %s", strerror(errno));
	close(t);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_UP;
	ifreq_do(s, SIOCSIFFLAGS, "qtap0", &ifr);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = (int)if_nametoindex("qtap0");
	if (ifreq_do(s, SIOCBRADDIF, "kvbr0", &ifr) < 0)
		fail("qtap0 into kvbr0: %s", strerror(errno));
	close(s);
}

/* The receiver: each connection is read to EOF, then told the count, on a
 * thread of its own with a receive timeout, so that a guest killed in the
 * middle of a send cannot block the trials after it. */
static void *sink_conn(void *arg)
{
	int c = (int)(intptr_t)arg;
	char *buf = malloc(1 << 18);
	struct timeval tv = { .tv_sec = 30 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint64_t total = 0;
	ssize_t n;
	while (buf && (n = read(c, buf, 1 << 18)) > 0)
		total += (uint64_t)n;
	if (write(c, &total, sizeof(total)) < 0)
		out("IOBENCH note: sink reply: %s\n", strerror(errno));
	close(c);
	free(buf);
	return NULL;
}

static void *sink_thread(void *arg)
{
	int ls = (int)(intptr_t)arg;
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			continue;
		pthread_t t;
		if (pthread_create(&t, NULL, sink_conn, (void *)(intptr_t)c) == 0)
			pthread_detach(t);
		else
			close(c);
	}
	return NULL;
}

static void sink_start(void)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5001), .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 64) < 0)
		fail("receiver on port 5001: %s", strerror(errno));
	pthread_t t;
	pthread_create(&t, NULL, sink_thread, (void *)(intptr_t)ls);
}

/* --- CPU time --- */

static double ticks(const char *stat_path, char *comm, size_t commlen)
{
	char buf[1024];
	int fd = open(stat_path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r)
		return 0;
	if (comm)
		snprintf(comm, commlen, "%.*s", (int)(r - l - 1), l + 1);
	unsigned long ut = 0, st = 0;
	/* after ")": state, then fields 4..13, then utime (14) and stime (15) */
	sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* All threads, and the vCPU threads alone, in seconds. */
static void cpu_sample(pid_t pid, double *all, double *vcpu)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	*all = ticks(path, NULL, 0);
	*vcpu = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[300], comm[32];
		snprintf(p, sizeof(p), "/proc/%d/task/%s/stat", pid, e->d_name);
		double t = ticks(p, comm, sizeof(comm));
		if (!strncmp(comm, "vcpu ", 5) || (!strncmp(comm, "CPU ", 4) && strstr(comm, "/KVM")))
			*vcpu += t;
	}
	if (d)
		closedir(d);
}

/* --- one trial --- */

static void trial(int round, struct vmm *v)
{
	int p[2];
	if (pipe(p) < 0)
		fail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		execve(v->argv[0], v->argv, v->envp);
		_exit(127);
	}
	close(p[1]);
	static char log[1 << 16];
	size_t len = 0;
	double cpu0 = 0, vcpu0 = 0, end = now() + timeout_s;
	int ok = 1;
	char line[512];
	size_t ll = 0;
	while (now() < end) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		char c[4096];
		ssize_t n = read(p[0], c, sizeof(c));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (len + 1 < sizeof(log))
				log[len++] = c[i];
			if (c[i] != '\n') {
				if (ll + 1 < sizeof(line))
					line[ll++] = c[i];
				continue;
			}
			while (ll && line[ll - 1] == '\r')
				ll--;
			line[ll] = '\0';
			ll = 0;
			char *k = strstr(line, "KVMBOX-IO: ");
			if (!k)
				continue;
			k += 11;
			double cpu, vcpu;
			if (!strncmp(k, "begin ", 6)) {
				cpu_sample(pid, &cpu0, &vcpu0);
			} else if (!strncmp(k, "end ", 4)) {
				cpu_sample(pid, &cpu, &vcpu);
				char phase[32] = "";
				unsigned long long bytes = 0, ops = 0;
				double secs = 0;
				sscanf(k + 4, "%31s bytes=%llu ops=%llu secs=%lf", phase, &bytes, &ops, &secs);
				out("IOBENCH result round=%d vmm=%s phase=%s bytes=%llu ops=%llu secs=%.4f cpu=%.3f vcpu=%.3f\n",
				    round, v->name, phase, bytes, ops, secs, cpu - cpu0, vcpu - vcpu0);
			} else if (!strncmp(k, "error", 5) || (!strncmp(k, "done rc=", 8) && strcmp(k, "done rc=0"))) {
				ok = 0;
			}
		}
	}
	int status = 0;
	/* EOF on the pipe comes before the VMM is a zombie: give it a moment. */
	for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(100 * 1000);
	if (kill(pid, 0) == 0 && waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		ok = 0;
		waitpid(pid, &status, 0);
	}
	close(p[0]);
	if (!ok || !WIFEXITED(status) || WEXITSTATUS(status)) {
		log[len] = '\0';
		out("IOBENCH fail vmm=%s status=0x%x\n", v->name, status);
		char *s = len > 3000 ? log + len - 3000 : log;
		for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n"))
			out("IOBENCH tail vmm=%s | %s\n", v->name, l);
	}
}

int main(int argc, char **argv)
{
	char conf[64];
	const char *self = argc > 0 && strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : "iobench";
	snprintf(conf, sizeof(conf), "/%s.conf", self[0] ? self : "iobench");
	mount("proc", "/proc", "proc", 0, "");
	mount("sysfs", "/sys", "sysfs", 0, "");
	mount("devtmpfs", "/dev", "devtmpfs", 0, "");
	mkdir("/tmp", 01777);
	mount("tmpfs", "/tmp", "tmpfs", 0, "size=1g");
	int con = open("/dev/console", O_RDWR);
	if (con >= 0) {
		dup2(con, 1);
		dup2(con, 2);
	}
	signal(SIGPIPE, SIG_IGN);
	read_config(conf);
	for (int i = 0; i < 100 && access("/dev/kvm", R_OK | W_OK); i++)
		usleep(100 * 1000);
	/* The disk: written once with non-zero bytes, so reads are of real data. */
	int fd = open("/tmp/bench.img", O_CREAT | O_RDWR, 0644);
	static char chunk[1 << 20];
	memset(chunk, 0x5a, sizeof(chunk));
	for (long i = 0; fd >= 0 && i < mb; i++)
		if (write(fd, chunk, sizeof(chunk)) != sizeof(chunk))
			fail("/tmp/bench.img: %s", strerror(errno));
	if (fd < 0)
		fail("/tmp/bench.img: %s", strerror(errno));
	close(fd);
	net_setup();
	sink_start();
	out("IOBENCH start runs=%d mb=%ld vmms=%d\n", runs, mb, nvmms);
	for (int r = 0; r < runs; r++)
		for (int i = 0; i < nvmms; i++)
			trial(r, &vmms[(i + r) % nvmms]);
	power_off();
}
