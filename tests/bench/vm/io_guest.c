/* /init of the I/O benchmark guest (tests/bench/io_bench.py): the same
 * program runs under kvmbox vmm and under QEMU, so both move the same bytes
 * the same way. Static musl.
 *
 * kvmbox.io=blk: on /dev/vda with O_DIRECT (the guest's page cache stays out
 *   of it, every byte goes through the virtio device):
 *     seqwrite  kvmbox.mb MiB in 1 MiB writes, then fdatasync
 *     seqread   the same MiB back, 1 MiB reads
 *     randread  kvmbox.ops 4 KiB reads at random 4 KiB offsets, queue depth 1
 * kvmbox.io=net: eth0 gets 10.0.3.2/24, connects to 10.0.3.1:5001 and
 *     sends kvmbox.mb MiB (tcpsend); the phase ends when the receiver has
 *     acknowledged every byte, so it measures delivery, not our send buffer.
 *     kvmbox.ip=A.B.C.D and kvmbox.dst=A.B.C.D change the two addresses
 *     (tests/bench/net_bench.py: 10.0.2.15 and 10.0.2.2 behind a user-mode
 *     NAT). kvmbox.conns=N (default 0: none) adds tcpconn: N connections
 *     one after another, each connect, shutdown(SHUT_WR), the receiver's
 *     8-byte count read, close; ops=N.
 *
 * Each phase prints, on the console:
 *   KVMBOX-IO: begin PHASE
 *   KVMBOX-IO: end PHASE bytes=N ops=N secs=S
 * (the driver samples the VMM's CPU time at both lines), then powers off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define GUEST_SAY_PREFIX "KVMBOX-IO: "
#include "../../vm/guest_util.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long arg_long(const char *cmdline, const char *key, long def)
{
	const char *p = strstr(cmdline, key);
	return p ? atol(p + strlen(key)) : def;
}

static void phase_end(const char *name, uint64_t bytes, uint64_t ops, double t0)
{
	say("end %s bytes=%llu ops=%llu secs=%.4f", name, (unsigned long long)bytes, (unsigned long long)ops,
	    now() - t0);
}

static int bench_blk(long mb, long ops)
{
	int fd = open("/dev/vda", O_RDWR | O_DIRECT);
	if (fd < 0) {
		say("error /dev/vda: %s", strerror(errno));
		return 1;
	}
	size_t chunk = 1 << 20;
	uint8_t *buf = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < chunk; i++)
		buf[i] = (uint8_t)(i * 131 + 7);

	say("begin seqwrite");
	double t0 = now();
	for (long i = 0; i < mb; i++)
		if (pwrite(fd, buf, chunk, (off_t)i * (off_t)chunk) != (ssize_t)chunk) {
			say("error write: %s", strerror(errno));
			return 1;
		}
	fdatasync(fd);
	phase_end("seqwrite", (uint64_t)mb << 20, (uint64_t)mb, t0);

	say("begin seqread");
	t0 = now();
	for (long i = 0; i < mb; i++)
		if (pread(fd, buf, chunk, (off_t)i * (off_t)chunk) != (ssize_t)chunk) {
			say("error read: %s", strerror(errno));
			return 1;
		}
	phase_end("seqread", (uint64_t)mb << 20, (uint64_t)mb, t0);

	uint64_t x = 0x9e3779b97f4a7c15ull, blocks = (uint64_t)mb << 8; /* 4 KiB blocks */
	say("begin randread");
	t0 = now();
	for (long i = 0; i < ops; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (pread(fd, buf, 4096, (off_t)((x % blocks) * 4096)) != 4096) {
			say("error randread: %s", strerror(errno));
			return 1;
		}
	}
	phase_end("randread", (uint64_t)ops * 4096, (uint64_t)ops, t0);
	close(fd);
	return 0;
}

static int if_set(int s, unsigned long req, struct ifreq *ifr, const char *what)
{
	if (ioctl(s, req, ifr) < 0) {
		say("error %s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

/* The receiver's count for one connection; -1 on error. */
static int64_t exchange(int fd)
{
	uint64_t acked = 0;
	shutdown(fd, SHUT_WR);
	return read(fd, &acked, sizeof(acked)) == sizeof(acked) ? (int64_t)acked : -1;
}

static int bench_conns(const struct sockaddr_in *dst, long conns)
{
	struct timeval tv = { .tv_sec = 20 };
	say("begin tcpconn");
	double t0 = now();
	for (long i = 0; i < conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
			say("error connection %ld: connect: %s", i, strerror(errno));
			return 1;
		}
		if (exchange(fd) != 0) {
			say("error connection %ld: no count from the receiver: %s", i, strerror(errno));
			return 1;
		}
		close(fd);
	}
	phase_end("tcpconn", 0, (uint64_t)conns, t0);
	return 0;
}

static int bench_net(long mb, const char *ip, const char *dst_ip, long conns)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "eth0");
	struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
	a->sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) {
		say("error bad kvmbox.ip '%s'", ip);
		return 1;
	}
	if (if_set(s, SIOCSIFADDR, &ifr, "eth0 address") < 0)
		return 1;
	inet_pton(AF_INET, "255.255.255.0", &a->sin_addr);
	if (if_set(s, SIOCSIFNETMASK, &ifr, "eth0 netmask") < 0 || if_set(s, SIOCGIFFLAGS, &ifr, "eth0 flags") < 0)
		return 1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (if_set(s, SIOCSIFFLAGS, &ifr, "eth0 up") < 0)
		return 1;
	close(s);
	say("note eth0 %s is up; connecting to %s:5001", ip, dst_ip);

	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(5001) };
	if (inet_pton(AF_INET, dst_ip, &dst.sin_addr) != 1) {
		say("error bad kvmbox.dst '%s'", dst_ip);
		return 1;
	}
	int fd = -1;
	/* Timeouts on both directions: a lost peer fails the trial in seconds,
	 * not at the driver's limit. */
	struct timeval tv = { .tv_sec = 20 };
	for (int tries = 0; tries < 30; tries++) { /* the link may take a moment */
		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0)
			break;
		if (tries % 10 == 0)
			say("note connect %s:5001: %s; trying again", dst_ip, strerror(errno));
		close(fd);
		fd = -1;
		usleep(100 * 1000);
	}
	if (fd < 0) {
		say("error connect %s:5001: %s", dst_ip, strerror(errno));
		return 1;
	}
	static uint8_t buf[256 << 10];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	uint64_t total = (uint64_t)mb << 20, sent = 0;
	say("begin tcpsend");
	double t0 = now();
	while (sent < total) {
		size_t n = total - sent < sizeof(buf) ? (size_t)(total - sent) : sizeof(buf);
		ssize_t w = write(fd, buf, n);
		if (w <= 0) {
			say("error send: %s", strerror(errno));
			return 1;
		}
		sent += (uint64_t)w;
	}
	shutdown(fd, SHUT_WR);
	uint64_t acked = 0;
	ssize_t r = read(fd, &acked, sizeof(acked)); /* the receiver's byte count */
	phase_end("tcpsend", r == sizeof(acked) ? acked : 0, (uint64_t)mb, t0);
	close(fd);
	if (acked != total)
		return 1;
	return conns > 0 ? bench_conns(&dst, conns) : 0;
}

/* The value of KEY (up to the next space) in DST, else DEF. */
static const char *arg_str(const char *cmdline, const char *key, char *dst, size_t len, const char *def)
{
	const char *p = strstr(cmdline, key);
	if (!p)
		return def;
	p += strlen(key);
	snprintf(dst, len, "%.*s", (int)strcspn(p, " \n"), p);
	return dst;
}

int main(void)
{
	mkdir("/proc", 0555);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, "");
	mount("devtmpfs", "/dev", "devtmpfs", 0, "");
	int con = open("/dev/console", O_RDWR);
	if (con >= 0) {
		dup2(con, 1);
		dup2(con, 2);
	}
	char cmdline[1024];
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	long mb = arg_long(cmdline, "kvmbox.mb=", 64), ops = arg_long(cmdline, "kvmbox.ops=", 4000);
	char ip[32], dst[32];
	int rc = strstr(cmdline, "kvmbox.io=net")
		 ? bench_net(mb, arg_str(cmdline, "kvmbox.ip=", ip, sizeof(ip), "10.0.3.2"),
			     arg_str(cmdline, "kvmbox.dst=", dst, sizeof(dst), "10.0.3.1"),
			     arg_long(cmdline, "kvmbox.conns=", 0))
		 : bench_blk(mb, ops);
	say("done rc=%d", rc);
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
