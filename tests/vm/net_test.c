/* In-appliance test of virtio-net on a tap (`kvmbox vmm --net`).
 *
 * A test-only initramfs holds the appliance's files plus this program, which
 * the outer QEMU starts as PID 1 (rdinit=/net_test). It makes bridge kvbr0
 * with 10.0.3.1/24, listens on TCP port 5000 and runs real VMs with the real
 * kvmbox binary (/init); the guest (tests/vm/guest_net.c) takes 10.0.3.2,
 * connects, sends a byte pattern that is checked here, and checks the one
 * sent back. Checks: the guest's MAC is the configured one (or the derived
 * one), the offloads negotiated, both directions byte for byte, the tap sits
 * on the bridge and goes away with the VMM, a guest that posts no receive
 * buffers costs the VMM no CPU while frames keep coming, two queue pairs
 * with queues=2, and a clear failure for a bridge that does not exist. Prints "ok NAME" / "not ok NAME: why", then
 * powers off. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream_pattern.h"
#include "appliance_test.h"

#define BRIDGE "kvbr0"
#define HOST_IP "10.0.3.1"
#define GUEST_IP "10.0.3.2"
#define PORT 5000
#define SEED_UP 0x75706c64u   /* as in guest_net.c */
#define SEED_DOWN 0x646f776eu


/* --- the bridge --- */

static int ifr_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int r = s >= 0 && ioctl(s, req, ifr) == 0 ? 0 : -errno;
	if (s >= 0)
		close(s);
	return r;
}

static int bridge_setup(char *why, size_t size)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || ioctl(s, SIOCBRADDBR, BRIDGE) < 0) {
		snprintf(why, size, "SIOCBRADDBR: %s", strerror(errno));
		return -1;
	}
	close(s);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), BRIDGE);
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, HOST_IP, &sin->sin_addr);
	int r = ifr_ioctl(SIOCSIFADDR, &ifr);
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	if (!r)
		r = ifr_ioctl(SIOCSIFNETMASK, &ifr);
	if (!r)
		r = ifr_ioctl(SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (!r)
		r = ifr_ioctl(SIOCSIFFLAGS, &ifr);
	if (r)
		snprintf(why, size, "configuring %s: %s", BRIDGE, strerror(-r));
	return r;
}

/* The bridge's ports, "a,b". */
static void bridge_ports(char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	DIR *d = opendir("/sys/class/net/" BRIDGE "/brif");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int w = snprintf(out + n, size - n, "%s%s", n ? "," : "", e->d_name);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	if (d)
		closedir(d);
}

/* CPU seconds the process has used (user + system). */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Send raw frames to mac through the bridge for seconds; returns how many. */
static long flood(const uint8_t mac[6], double seconds)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (s < 0)
		return -1;
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(BRIDGE), .sll_halen = 6 };
	memcpy(a.sll_addr, mac, 6);
	uint8_t f[1000] = { 0 };
	memcpy(f, mac, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x88, f[13] = 0xb5; /* the local experimental EtherType */
	long sent = 0;
	for (double end = now() + seconds; now() < end;)
		for (int i = 0; i < 64; i++)
			sent += sendto(s, f, sizeof(f), MSG_DONTWAIT, (struct sockaddr *)&a, sizeof(a)) > 0;
	close(s);
	return sent;
}

/* --- the TCP side --- */

struct server {
	int lfd;
	size_t bytes;
	double timeout;
	int accepted;
	int cfd;           /* the connection, closed by main once the VM is gone */
	char ports[256];   /* the bridge's ports while the guest was connected */
	char up_err[256];  /* "" when the guest's bytes were right */
	char down_err[256];
	double t_up, t_down; /* seconds each direction took */
};

static void *server_run(void *arg)
{
	struct server *sv = arg;
	static uint8_t buf[65536], want[65536];
	snprintf(sv->up_err, sizeof(sv->up_err), "no connection from the guest");
	snprintf(sv->down_err, sizeof(sv->down_err), "no connection from the guest");
	struct pollfd p = { .fd = sv->lfd, .events = POLLIN };
	if (poll(&p, 1, (int)(sv->timeout * 1000)) <= 0)
		return NULL;
	int c = accept(sv->lfd, NULL, NULL);
	if (c < 0)
		return NULL;
	sv->accepted = 1;
	__atomic_store_n(&sv->cfd, c, __ATOMIC_RELEASE);
	bridge_ports(sv->ports, sizeof(sv->ports));
	struct timeval tv = { .tv_sec = 300 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	size_t done = 0;
	sv->up_err[0] = '\0';
	double t0 = now();
	while (done < sv->bytes) {
		size_t l = sv->bytes - done < sizeof(buf) ? sv->bytes - done : sizeof(buf);
		ssize_t r = read(c, buf, l);
		if (r <= 0) {
			snprintf(sv->up_err, sizeof(sv->up_err), "got %zu of %zu bytes: %s", done, sv->bytes,
				 r ? strerror(errno) : "closed");
			break;
		}
		stream_pattern(want, (size_t)r, done, SEED_UP);
		if (memcmp(buf, want, (size_t)r)) {
			size_t at = 0;
			while (buf[at] == want[at])
				at++;
			snprintf(sv->up_err, sizeof(sv->up_err), "byte %zu differs: 0x%02x, not 0x%02x", done + at, buf[at],
				 want[at]);
			break;
		}
		done += (size_t)r;
	}
	sv->t_up = now() - t0;
	snprintf(sv->down_err, sizeof(sv->down_err), "not sent");
	if (!sv->up_err[0]) {
		t0 = now();
		for (done = 0; done < sv->bytes;) {
			size_t l = sv->bytes - done < sizeof(buf) ? sv->bytes - done : sizeof(buf);
			stream_pattern(buf, l, done, SEED_DOWN);
			ssize_t w = write(c, buf, l);
			if (w <= 0) {
				snprintf(sv->down_err, sizeof(sv->down_err), "send at %zu: %s", done, strerror(errno));
				break;
			}
			done += (size_t)w;
		}
		if (done == sv->bytes)
			sv->down_err[0] = '\0';
	}
	/* Done when the guest has it all: it closes then. */
	if (read(c, buf, 1) >= 0)
		sv->t_down = now() - t0;
	return NULL;
}

static int listen_tcp(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

/* --- the VMM --- */

static void start_vmm(struct vmm_run *v, const char *net, const char *cmdline, const char *cpus)
{
	const char *argv[] = { "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
			       "--cmdline", cmdline, "--mem", "256M", "--cpus", cpus, "--net", net, "--serial", "stdio",
			       NULL };
	vmm_spawn(v, argv, -1);
}

/* The value after "GUEST-NET: key=" in the log, or "". */
static const char *guest_value(const struct vmm_run *v, const char *key, char *out, size_t size)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "GUEST-NET: %s=", key);
	const char *p = strstr(v->log, pat);
	out[0] = '\0';
	if (p)
		snprintf(out, size, "%.*s", (int)strcspn(p + strlen(pat), "\r\n"), p + strlen(pat));
	return out;
}

/* One VM: boot, transfer bytes each way, power off. */
static void run_vm(const char *tag, const char *net, const char *cpus, const char *extra, size_t bytes,
		   const char *want_mac, int want_pairs, int idle_test)
{
	char name[96], cmdline[512], val[128];
	int lfd = listen_tcp();
	if (lfd < 0) {
		check(tag, 0, "listen on port %d: %s", PORT, strerror(errno));
		return;
	}
	struct server sv = { .lfd = lfd, .bytes = bytes, .timeout = 400, .cfd = -1 };
	pthread_t th;
	pthread_create(&th, NULL, server_run, &sv);
	snprintf(cmdline, sizeof(cmdline),
		 "console=ttyS0 quiet kvmbox.exec=/bin/guest_net kvmbox.net.ip=%s kvmbox.net.peer=%s "
		 "kvmbox.net.bytes=%zu %s",
		 GUEST_IP, HOST_IP, bytes, extra);
	struct vmm_run v;
	double t0 = now();
	start_vmm(&v, net, cmdline, cpus);
	double idle_cpu = -1;
	long flooded = 0;
	if (idle_test && vmm_wait_output(&v, "GUEST-NET: idle", 500)) {
		/* The guest posts no more receive buffers: once its ring is full
		 * the VMM must stop reading the tap, not spin on it. */
		const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
		flooded = flood(mac, 1);
		double c0 = cpu_seconds(v.pid), t1 = now();
		flooded += flood(mac, 3);
		idle_cpu = (cpu_seconds(v.pid) - c0) / (now() - t1);
	}
	vmm_wait_output(&v, "KVMBOX-GUEST: exec-status=", 500);
	vmm_wait_output(&v, "KVMBOX-GUEST: done", 30);
	int exited = vmm_wait_exit(&v, 60);
	vmm_stop(&v); /* killed if it still ran */
	int status = v.status;
	double took = now() - t0;
	/* Wake the server wherever it waits: the guest is gone. */
	shutdown(lfd, SHUT_RDWR);
	int cfd = __atomic_load_n(&sv.cfd, __ATOMIC_ACQUIRE);
	if (cfd >= 0)
		shutdown(cfd, SHUT_RDWR);
	pthread_join(th, NULL);
	if (sv.cfd >= 0)
		close(sv.cfd);
	close(lfd);

	snprintf(name, sizeof(name), "%s-nic-mac", tag);
	guest_value(&v, "mac", val, sizeof(val));
	check(name, want_mac && !strncmp(val, want_mac, strlen(want_mac)), "guest eth0 mac '%s', want '%s'; output:\n%s",
	      val, want_mac, vmm_tail(&v, 1500));
	snprintf(name, sizeof(name), "%s-offloads", tag);
	guest_value(&v, "features", val, sizeof(val));
	/* CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4, MRG_RXBUF, STATUS, and VERSION_1 */
	static const int bits[] = { 0, 1, 7, 11, 15, 16, 32 };
	int all = strlen(val) > 32;
	for (unsigned i = 0; all && i < sizeof(bits) / sizeof(bits[0]); i++)
		all = val[bits[i]] == '1';
	check(name, all, "negotiated features '%s'", val);
	if (idle_test) {
		snprintf(name, sizeof(name), "%s-idle-guest-costs-nothing", tag);
		check(name, idle_cpu >= 0 && idle_cpu < 0.2 && flooded > 1000,
		      "the VMM used %.0f%% of a CPU while %ld frames came for a guest that reads none", idle_cpu * 100,
		      flooded);
		printf("# %s: %ld frames for the idle guest; the VMM used %.1f%% of a CPU meanwhile\n", tag, flooded,
		       idle_cpu * 100);
	}
	if (want_pairs > 1) {
		snprintf(name, sizeof(name), "%s-queue-pairs", tag);
		check(name, !strcmp(guest_value(&v, "rx-1", val, sizeof(val)), "yes"), "rx-1=%s", val);
	}
	snprintf(name, sizeof(name), "%s-tap-on-bridge", tag);
	check(name, sv.accepted && !strncmp(sv.ports, "kvmbox", 6), "bridge ports while connected: '%s'", sv.ports);
	snprintf(name, sizeof(name), "%s-guest-to-appliance", tag);
	check(name, !sv.up_err[0], "%s", sv.up_err);
	snprintf(name, sizeof(name), "%s-appliance-to-guest", tag);
	snprintf(val, sizeof(val), "GUEST-NET: received %zu ok", bytes);
	check(name, !sv.down_err[0] && strstr(v.log, val), "%s; output:\n%s", sv.down_err[0] ? sv.down_err : "",
	      vmm_tail(&v, 1500));
	snprintf(name, sizeof(name), "%s-vmm-exit", tag);
	check(name, exited && WIFEXITED(status) && WEXITSTATUS(status) == 0, "exited=%d status=0x%x", exited, status);
	snprintf(name, sizeof(name), "%s-tap-gone", tag);
	bridge_ports(val, sizeof(val));
	check(name, !val[0], "bridge ports after the VMM exited: '%s'", val);
	const char *info = strstr(v.log, "virtio-net0: tap");
	if (info)
		printf("# %s: vmm: %.*s\n", tag, (int)strcspn(info, "\r\n"), info);
	printf("# %s: %zu bytes each way: guest->appliance %.1f MB/s, appliance->guest %.1f MB/s; VM run %.1f s\n",
	       tag, bytes, sv.t_up > 0 ? bytes / sv.t_up / 1e6 : 0, sv.t_down > 0 ? bytes / sv.t_down / 1e6 : 0, took);
}

/* A bad --net: the VMM must stop at once with exit status 1 and say why. */
static void test_bad_bridge(const char *name, const char *net, const char *want)
{
	struct vmm_run v;
	start_vmm(&v, net, "console=ttyS0 quiet", "1");
	vmm_wait_output(&v, NULL, 60);
	int exited = vmm_wait_exit(&v, 30);
	vmm_stop(&v); /* killed if it still ran */
	int status = v.status;
	const char *line = strstr(v.log, want);
	if (line) {
		while (line > v.log && line[-1] != '\n')
			line--;
		printf("# %s: vmm: %.*s\n", name, (int)strcspn(line, "\r\n"), line);
	}
	check(name, exited && WIFEXITED(status) && WEXITSTATUS(status) == 1 && line, "exited=%d status=0x%x output:\n%s",
	      exited, status, vmm_tail(&v, 1500));
}

int main(void)
{
	appliance_start();
	printf("net_test: start\n");
	fflush(stdout);
	char why[256];
	struct ifreq lo = { .ifr_name = "lo" };
	if (!ifr_ioctl(SIOCGIFFLAGS, &lo)) {
		lo.ifr_flags |= IFF_UP;
		ifr_ioctl(SIOCSIFFLAGS, &lo);
	}
	int br = bridge_setup(why, sizeof(why));
	check("net-bridge-setup", br == 0, "%s", why);
	if (!br) {
		run_vm("net", "bridge=" BRIDGE ",mac=52:54:00:12:34:56", "1", "kvmbox.net.idle=6", 8 << 20,
		       "52:54:00:12:34:56", 1, 1);
		/* No mac=: the derived one, 02:6b:62:...; two queue pairs. */
		run_vm("net-mq", "bridge=" BRIDGE ",queues=2", "1", "kvmbox.net.pairs=2", 8 << 20, "02:6b:62:", 2, 0);
	}
	test_bad_bridge("net-no-such-bridge", "bridge=nosuchbr", "bridge 'nosuchbr' does not exist");
	test_bad_bridge("net-not-a-bridge", "bridge=lo", "'lo' is not a bridge");
	appliance_finish("net_test", NULL);
	return 0;
}
