/* In-appliance test of user-mode networking (`kvmbox vmm --net user`).
 *
 * PID 1 of a test-only initramfs (tests/vm/usernet.list). It runs the
 * "outside world" of a usernet guest on the appliance's loopback, which the
 * guest reaches as the gateway 10.0.2.2: a file server (5101), a bulk echo
 * that checks 10 MB up and sends 10 MB down (5102), a resolver on 127.0.0.1:53
 * named in /etc/resolv.conf, and a listener that accepts and holds every
 * connection (5103, for the connection flood). Then it boots a real VM with
 * the real kvmbox binary and tests/vm/guest_usernet.c in it, which takes its
 * address by DHCP and uses all of them; the test reaches the guest's port
 * 8080 through hostfwd=tcp:2280:8080, and it pings 192.0.2.1 (an alias of
 * the appliance's loopback) through usernet's ICMP sockets. The same forward
 * is then reached from outside the appliance: eth0 (a NIC on QEMU's own user
 * network, which forwards a host port to 10.0.2.15:2280; nothing else
 * configures it, there is no init) gets 10.0.2.15/24 here, and once this
 * prints "usernet: outer-forward ready", usernet_test.py connects from the
 * host and checks the answer. Last, the guest floods: 400
 * connections at once and 3000 SYNs from made-up ports; the VMM must hold
 * them to its limits (USERNET_MAX_TCP = 192), keep its RSS bounded and
 * answer a fetch afterwards. A second VM with restrict=on must get DHCP
 * and its forward, and no connection out (refused). Prints "ok NAME" / "not ok NAME: why", then powers off. */
#include <arpa/inet.h>
#include <dirent.h>
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

#define FETCH_BYTES (3u << 20)
#define BULK_BYTES (10u << 20)
#define SEED_UP 0x75706c64u /* as in guest_usernet.c */
#define SEED_DOWN 0x646f776eu
#define SEED_FETCH 0x66657463u
#define MAX_TCP 192         /* USERNET_MAX_TCP */
#define HELD_MAX 4096


static int listen_on(int type, uint16_t port, int backlog)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (type == SOCK_DGRAM)
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (type == SOCK_STREAM && listen(fd, backlog) < 0))
		return -1;
	return fd;
}

/* --- the servers, one thread each --- */

static volatile int stop_servers;
static int fetches, bulk_accepted, dns_queries, release_held;
static char bulk_err[256] = "no connection";
static uint64_t fetch_fnv;

static void *fetch_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	static uint8_t buf[FETCH_BYTES];
	stream_pattern(buf, sizeof(buf), 0, SEED_FETCH);
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < sizeof(buf); i++)
		h = (h ^ buf[i]) * 1099511628211ull;
	fetch_fnv = h;
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			return NULL;
		size_t done = 0;
		while (done < sizeof(buf)) {
			ssize_t w = write(c, buf + done, sizeof(buf) - done);
			if (w <= 0)
				break;
			done += (size_t)w;
		}
		__atomic_add_fetch(&fetches, 1, __ATOMIC_SEQ_CST);
		close(c);
	}
}

static void *bulk_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	static uint8_t buf[65536], want[65536];
	int c = accept(lfd, NULL, NULL);
	if (c < 0)
		return NULL;
	bulk_accepted = 1;
	size_t done = 0;
	ssize_t r;
	bulk_err[0] = '\0';
	while ((r = read(c, buf, sizeof(buf))) > 0) {
		stream_pattern(want, (size_t)r, done, SEED_UP);
		if (memcmp(buf, want, (size_t)r) && !bulk_err[0])
			snprintf(bulk_err, sizeof(bulk_err), "byte %zu and on differ", done);
		done += (size_t)r;
	}
	if (!bulk_err[0] && done != BULK_BYTES)
		snprintf(bulk_err, sizeof(bulk_err), "got %zu bytes, not %u", done, BULK_BYTES);
	for (size_t sent = 0; sent < BULK_BYTES;) {
		size_t l = BULK_BYTES - sent < sizeof(buf) ? BULK_BYTES - sent : sizeof(buf);
		stream_pattern(buf, l, sent, SEED_DOWN);
		ssize_t w = write(c, buf, l);
		if (w <= 0)
			break;
		sent += (size_t)w;
	}
	close(c);
	return NULL;
}

/* Answers A kvmbox.test with 192.0.2.77; anything else with NXDOMAIN. */
static void *dns_server(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t q[512];
	static const uint8_t name[] = "\x06kvmbox\x04test";
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q) - 16, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return NULL;
		size_t ql = 12 + sizeof(name) + 4;
		if (n < (ssize_t)ql)
			continue;
		__atomic_add_fetch(&dns_queries, 1, __ATOMIC_SEQ_CST);
		int match = !memcmp(q + 12, name, sizeof(name));
		q[2] = 0x81;
		q[3] = match ? 0x80 : 0x83;
		q[6] = 0;
		q[7] = (uint8_t)match;
		uint8_t *a = q + ql;
		static const uint8_t ans[16] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 77 };
		memcpy(a, ans, sizeof(ans));
		sendto(fd, q, ql + (match ? sizeof(ans) : 0), 0, (struct sockaddr *)&from, fl);
	}
}

/* nheld counts every connection the VMM made to 5103 until release_held:
 * the held ones keep their usernet entries (the guest's FIN only half-closes
 * the host socket), so during the floods it is also how many the VMM had
 * open at once, and a SYN that gets past USERNET_MAX_TCP shows up here. */
static int held[HELD_MAX], nheld;

static void *hold_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		poll(&p, 1, 200);
		if (__atomic_load_n(&release_held, __ATOMIC_SEQ_CST)) {
			for (int i = 0; i < nheld; i++)
				close(held[i]);
			nheld = 0;
			__atomic_store_n(&release_held, 0, __ATOMIC_SEQ_CST);
		}
		if (!(p.revents & POLLIN))
			continue;
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			return NULL;
		if (nheld < HELD_MAX)
			held[nheld++] = c;
		else
			close(c);
	}
}

/* --- the VMM --- */

static long vmm_rss_kib(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "VmRSS:");
	return p ? atol(p + 6) : -1;
}

/* The VMM's open sockets now (its host connections, listeners and flows),
 * from /proc/PID/fd; -1 if unreadable. */
static int vmm_sockets(pid_t pid)
{
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		ssize_t l = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		n += l > 8 && !strncmp(target, "socket:[", 8);
	}
	closedir(d);
	return n;
}

static const char *guest_line(const struct vmm_run *v, const char *key, char *out, size_t size)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "GUEST-UN: %s", key);
	const char *p = strstr(v->log, pat);
	out[0] = '\0';
	if (p)
		snprintf(out, size, "%.*s", (int)strcspn(p + strlen(pat), "\r\n"), p + strlen(pat));
	return p ? out : NULL;
}

static void start_vmm(struct vmm_run *v, const char *net, const char *extra)
{
	static char cmdline[512];
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 quiet kvmbox.exec=/bin/guest_usernet %s", extra);
	const char *argv[] = { "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
			       "--cmdline", cmdline, "--mem", "256M", "--cpus", "1", "--net", net, "--serial", "stdio",
			       NULL };
	vmm_spawn(v, argv, -1);
	v->tag = "vm";
}

/* Through hostfwd: the appliance's 127.0.0.1:port is the guest's 8080. */
static void hostfwd_check(const char *name, uint16_t port)
{
	char buf[64] = "";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 60 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, "ping", 4) == 4;
	size_t got = 0;
	ssize_t r;
	while (ok && got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	check(name, ok && !strcmp(buf, "pong ping"), "connect/write %s, reply '%s'", ok ? "ok" : strerror(errno),
	      buf);
	if (fd >= 0)
		close(fd);
}

static void run_main_vm(void)
{
	struct vmm_run v;
	char val[256], want[128];
	/* kvmbox.un.fwds=2: the guest's 8080 answers the appliance, then the
	 * outer host (usernet_test.py, through QEMU's forward and eth0). */
	start_vmm(&v, "user,hostfwd=tcp:2280:8080",
		  "kvmbox.un.bulk=10485760 kvmbox.un.ping=192.0.2.1 kvmbox.un.conns=400 kvmbox.un.syns=3000 "
		  "kvmbox.un.fwds=2");
	double t0 = now();
	int listening = vmm_wait_output(&v, "GUEST-UN: listening", 900);
	if (listening)
		hostfwd_check("usernet-hostfwd", 2280);
	else
		check("usernet-hostfwd", 0, "the guest never listened; output:\n%s", vmm_tail(&v, 2000));
	if (listening) {
		/* The .py connects when it reads this and judges the answer;
		 * here: that the guest saw that connection, before the floods. */
		printf("usernet: outer-forward ready\n");
		fflush(stdout);
		vmm_wait_output(&v, "GUEST-UN: fwd served 2", 180);
	}
	long rss_before = vmm_rss_kib(v.pid), rss_peak = rss_before;
	int sock_before = vmm_sockets(v.pid), sock_peak = sock_before, syn_samples = 0;
	/* The floods: sample the VMM's RSS and sockets meanwhile, often, as
	 * the SYN flood's connections would come and go quickly. */
	double until = now() + 300;
	while (now() < until && !strstr(v.log, "GUEST-UN: flood done") && !v.exited) {
		vmm_wait_output(&v, "GUEST-UN: flood done", 0.05);
		long r = vmm_rss_kib(v.pid);
		if (r > rss_peak)
			rss_peak = r;
		int k = vmm_sockets(v.pid);
		if (k > sock_peak)
			sock_peak = k;
		syn_samples += strstr(v.log, "GUEST-UN: conn flood ") && !strstr(v.log, "GUEST-UN: syn flood ");
	}
	/* Connections the VMM made late in the SYN flood may still wait in
	 * 5103's accept queue: let the hold server take them (the guest
	 * waits 3 s after "flood done" before it fetches). */
	usleep(1000 * 1000);
	int held_at_flood = __atomic_load_n(&nheld, __ATOMIC_SEQ_CST);
	__atomic_store_n(&release_held, 1, __ATOMIC_SEQ_CST);
	vmm_wait_output(&v, "KVMBOX-GUEST: exec-status=", 600);
	vmm_wait_output(&v, "KVMBOX-GUEST: done", 30);
	int exited = vmm_wait_exit(&v, 60);
	vmm_stop(&v);
	double took = now() - t0;

	guest_line(&v, "dhcp ", val, sizeof(val));
	check("usernet-dhcp", !strcmp(val, "ip=10.0.2.15 mask=255.255.255.0 router=10.0.2.2 dns=10.0.2.3"),
	      "guest says '%s'; output:\n%s", val, vmm_tail(&v, 2000));
	snprintf(want, sizeof(want), "bytes=%u fnv=%016llx", FETCH_BYTES, (unsigned long long)fetch_fnv);
	guest_line(&v, "fetch ", val, sizeof(val));
	check("usernet-tcp-fetch", !strcmp(val, want), "guest got '%s', want '%s'", val, want);
	check("usernet-tcp-10mb-up", bulk_accepted && !bulk_err[0], "%s", bulk_err);
	snprintf(want, sizeof(want), "ok %u ", BULK_BYTES);
	guest_line(&v, "bulk down ", val, sizeof(val));
	check("usernet-tcp-10mb-down", !strncmp(val, want, strlen(want)), "guest says 'bulk down %s'", val);
	printf("# usernet: 10 MB up then down: %s\n", val);
	guest_line(&v, "dns ", val, sizeof(val));
	check("usernet-dns", !strcmp(val, "kvmbox.test=192.0.2.77") && dns_queries > 0,
	      "guest says '%s', the resolver saw %d queries", val, dns_queries);
	check("usernet-ping-outside", guest_line(&v, "ping 192.0.2.1 ok", val, sizeof(val)) != NULL,
	      "the guest's echo to 192.0.2.1 got no reply");
	int tried = 0, connected = -1, refused = -1, other = -1;
	if (guest_line(&v, "conn flood ", val, sizeof(val)))
		sscanf(val, "tried=%d connected=%d refused=%d other=%d", &tried, &connected, &refused, &other);
	printf("# usernet: conn flood: %s; the appliance held %d\n", val, held_at_flood);
	check("usernet-conn-flood-limited", tried == 400 && connected >= MAX_TCP / 2 && connected <= MAX_TCP &&
						    refused + connected + other == 400 && refused >= 400 - MAX_TCP - other &&
						    held_at_flood <= MAX_TCP,
	      "'%s', %d held by the appliance", val, held_at_flood);
	guest_line(&v, "syn flood ", val, sizeof(val));
	check("usernet-syn-flood-sent", !strcmp(val, "sent=3000"), "guest says 'syn flood %s'", val);
	/* The conn flood's connections are still held when the SYNs come, so
	 * the SYNs may take only the entries it left free: every one more
	 * reached 5103 (held_at_flood counts them all) and was a socket of
	 * the VMM's at once with the held ones. */
	int syn_conns = held_at_flood - (connected > 0 ? connected : 0);
	printf("# usernet: SYN flood: %d host connections beside the conn flood's %d; VMM sockets %d before the "
	       "floods, %d at most during them (%d samples in the SYN flood)\n",
	       syn_conns, connected, sock_before, sock_peak, syn_samples);
	check("usernet-syn-flood-limited",
	      !strcmp(val, "sent=3000") && connected >= 0 && held_at_flood <= MAX_TCP && sock_before > 0 &&
		      sock_peak - sock_before <= MAX_TCP && sock_peak - sock_before >= connected / 2,
	      "%d connections reached 5103 (%d of them past the conn flood's %d), VMM sockets %d -> %d (limit %d more)",
	      held_at_flood, syn_conns, connected, sock_before, sock_peak, MAX_TCP);
	snprintf(want, sizeof(want), "bytes=%u fnv=%016llx", FETCH_BYTES, (unsigned long long)fetch_fnv);
	guest_line(&v, "after-flood ", val, sizeof(val));
	check("usernet-responsive-after-floods", !strcmp(val, want), "fetch after the floods: '%s'", val);
	printf("# usernet: VMM RSS %ld KiB before the floods, %ld KiB at most during them\n", rss_before, rss_peak);
	check("usernet-rss-bounded", rss_before > 0 && rss_peak - rss_before < 48 * 1024,
	      "RSS went from %ld to %ld KiB", rss_before, rss_peak);
	check("usernet-guest-ok", strstr(v.log, "KVMBOX-GUEST: exec-status=0") != NULL, "output:\n%s", vmm_tail(&v, 2000));
	check("usernet-vmm-exit", exited && WIFEXITED(v.status) && WEXITSTATUS(v.status) == 0, "exited=%d status=0x%x",
	      exited, v.status);
	printf("# usernet: VM run %.1f s\n", took);
}

/* restrict=on: DHCP still, the outside no more. */
static void run_restricted_vm(void)
{
	struct vmm_run v;
	char val[256];
	int before = fetches;
	start_vmm(&v, "user,restrict=on,hostfwd=tcp:2281:8080", "kvmbox.un.restricted=1");
	if (vmm_wait_output(&v, "GUEST-UN: listening", 600))
		hostfwd_check("usernet-restricted-hostfwd", 2281);
	else
		check("usernet-restricted-hostfwd", 0, "the guest never listened; output:\n%s", vmm_tail(&v, 2000));
	vmm_wait_output(&v, "KVMBOX-GUEST: exec-status=", 600);
	vmm_wait_output(&v, "KVMBOX-GUEST: done", 30);
	vmm_wait_exit(&v, 60);
	vmm_stop(&v);
	guest_line(&v, "dhcp ", val, sizeof(val));
	check("usernet-restricted-dhcp", !strncmp(val, "ip=10.0.2.15 ", 13), "guest says '%s'; output:\n%s", val,
	      vmm_tail(&v, 2000));
	check("usernet-restricted-no-outbound",
	      guest_line(&v, "error fetch connect: Connection refused", val, sizeof(val)) && fetches == before,
	      "the guest fetched (%d connections reached the server); output:\n%s", fetches - before, vmm_tail(&v, 2000));
}

int main(void)
{
	appliance_start();
	printf("usernet_test: start\n");
	fflush(stdout);
	struct ifreq lo = { .ifr_name = "lo" };
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &lo) == 0) {
		lo.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &lo);
	}
	/* eth0: the NIC on QEMU's user network that usernet_test.py gives the
	 * appliance, QEMU's default guest address, so that QEMU's forward
	 * reaches the VMM's hostfwd listener (bound to every address). */
	struct ifreq en = { .ifr_name = "eth0" };
	struct sockaddr_in *ea = (struct sockaddr_in *)(void *)&en.ifr_addr;
	ea->sin_family = AF_INET;
	ea->sin_addr.s_addr = htonl(0x0a00020f); /* 10.0.2.15 */
	int eth_ok = s >= 0 && ioctl(s, SIOCSIFADDR, &en) == 0;
	ea->sin_addr.s_addr = htonl(0xffffff00);
	eth_ok = eth_ok && ioctl(s, SIOCSIFNETMASK, &en) == 0 && ioctl(s, SIOCGIFFLAGS, &en) == 0;
	en.ifr_flags |= IFF_UP;
	eth_ok = eth_ok && ioctl(s, SIOCSIFFLAGS, &en) == 0;
	check("usernet-outer-nic", eth_ok, "eth0 10.0.2.15/24 up: %s", strerror(errno));
	/* An address of the appliance's besides loopback, for the guest to
	 * ping, and unprivileged ICMP sockets allowed, which usernet uses. */
	struct ifreq al = { .ifr_name = "lo:1" };
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&al.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
	int pg = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
	check("usernet-ping-setup", s >= 0 && ioctl(s, SIOCSIFADDR, &al) == 0 && pg >= 0 &&
					    write(pg, "0 2147483647", 12) == 12,
	      "lo:1 192.0.2.1 or ping_group_range: %s", strerror(errno));
	if (pg >= 0)
		close(pg);
	mkdir("/etc", 0755);
	int rc = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	check("usernet-resolv-conf", rc >= 0 && write(rc, "nameserver 127.0.0.1\n", 21) == 21, "%s", strerror(errno));
	if (rc >= 0)
		close(rc);
	int fds[4] = { listen_on(SOCK_STREAM, 5101, 16), listen_on(SOCK_STREAM, 5102, 16), listen_on(SOCK_DGRAM, 53, 0),
		       listen_on(SOCK_STREAM, 5103, 4096) };
	void *(*fns[4])(void *) = { fetch_server, bulk_server, dns_server, hold_server };
	int up = 1;
	for (int i = 0; i < 4; i++) {
		pthread_t t;
		up &= fds[i] >= 0 && pthread_create(&t, NULL, fns[i], (void *)(intptr_t)fds[i]) == 0;
	}
	check("usernet-servers", up, "a listener or thread failed: %s", strerror(errno));
	if (up) {
		run_main_vm();
		run_restricted_vm();
	}
	appliance_finish("usernet_test", NULL);
	return 0;
}
