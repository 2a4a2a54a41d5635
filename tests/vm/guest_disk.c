/* Guest side of the virtio-blk and virtio console tests (tests/vm/disk_test.c),
 * run by the test guest's /init with kvmbox.exec=/bin/guest_disk. The mode
 * comes from the kernel command line, kvmbox.disk=MODE:
 *
 *   write  mke2fs -t ext4 /dev/vda, mount it on /mnt, write /mnt/pattern
 *          (PATTERN_BYTES of the pattern below), fsync, umount.
 *   read   /dev/vda is read-only: /sys/block/vda/ro is 1, the ext4 file
 *          system mounts read-only, /mnt/pattern reads back as written, and
 *          a raw write to /dev/vda is refused.
 *   crash  write 4 KiB records to /dev/vdb with O_DIRECT: record i at
 *          offset i * 4096; after each, fdatasync (a virtio FLUSH) and only
 *          then "flushed i". Runs until the VMM is killed.
 *   info   serial, logical block size and discard of /dev/vda; BLKZEROOUT
 *          and BLKDISCARD on written ranges; a line to /dev/hvc0; 64 bytes
 *          of /dev/hwrng.
 *
 * The pattern: the xorshift64 stream x ^= x << 13; x ^= x >> 7;
 * x ^= x << 17 from x = PATTERN_SEED, each new x stored as 8 little-endian
 * bytes (the first word is the state after one step, not the seed).
 *
 * A crash record (4096 bytes): "KVMBCRSH", then i as a little-endian u64,
 * then 510 words of the same xorshift64 stream started from
 * x = (i + 1) * PATTERN_SEED (mod 2^64).
 *
 * Each result is one line "KVMBOX-GUEST: disk-..." written with one write().
 * Exit status 0 when every check of the mode passed, else 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "guest_util.h"

#define PATTERN_SEED 0x9E3779B97F4A7C15ull
#define PATTERN_BYTES (64u << 20)
#define CHUNK (1u << 20)
#define RECORD 4096u

static int failed;

static void result(const char *name, int good, const char *fmt, ...)
{
	char why[600] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	say("disk-%s=%s %s", name, good ? "ok" : "FAIL", why);
	failed += !good;
}

static uint64_t xorshift64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* n bytes (a multiple of 8) of the stream into buf, little-endian. */
static void fill(unsigned char *buf, size_t n, uint64_t *x)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = xorshift64(x);
		for (int b = 0; b < 8; b++)
			buf[i + (size_t)b] = (unsigned char)(v >> (8 * b));
	}
}

/* The first line of path, or "(why)" when it cannot be read. */
static void read_line(const char *path, char *buf, size_t size)
{
	errno = 0;
	if (read_file(path, buf, size) < 0 && errno)
		snprintf(buf, size, "(%s)", strerror(errno));
	buf[strcspn(buf, "\n")] = '\0';
}

static void *aligned(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 65536, n))
		return NULL;
	memset(p, 0, n);
	return p;
}

static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		say("disk-exec %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void do_write(void)
{
	char *mkfs[] = { "/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-L", "KVMBOX-T", "/dev/vda", NULL };
	int r = run(mkfs);
	result("mkfs", r == 0, "mke2fs exit status %d", r);
	if (r)
		return;
	mkdir("/mnt", 0755);
	r = mount("/dev/vda", "/mnt", "ext4", 0, "");
	result("mount", r == 0, "%s", r ? strerror(errno) : "rw");
	if (r)
		return;
	unsigned char *buf = aligned(CHUNK);
	int fd = open("/mnt/pattern", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint64_t x = PATTERN_SEED;
	size_t done = 0;
	int err = fd < 0 || !buf ? errno : 0;
	while (!err && done < PATTERN_BYTES) {
		fill(buf, CHUNK, &x);
		for (size_t off = 0; off < CHUNK;) {
			ssize_t n = write(fd, buf + off, CHUNK - off);
			if (n <= 0) {
				err = n < 0 ? errno : ENOSPC;
				break;
			}
			off += (size_t)n;
		}
		if (!err)
			done += CHUNK;
	}
	if (!err && fsync(fd) < 0)
		err = errno;
	if (fd >= 0 && close(fd) < 0 && !err)
		err = errno;
	result("write-pattern", !err && done == PATTERN_BYTES, "bytes=%zu %s", done, err ? strerror(err) : "");
	r = umount("/mnt");
	result("umount", r == 0, "%s", r ? strerror(errno) : "clean");
	free(buf);
}

static void do_read(void)
{
	char s[64];
	read_line("/sys/block/vda/ro", s, sizeof(s));
	result("ro-sysfs", !strcmp(s, "1"), "ro=%s", s);
	mkdir("/mnt", 0755);
	int r = mount("/dev/vda", "/mnt", "ext4", MS_RDONLY, "");
	result("mount-ro", r == 0, "%s", r ? strerror(errno) : "ro");
	if (!r) {
		unsigned char *buf = aligned(CHUNK), *want = aligned(CHUNK);
		int fd = open("/mnt/pattern", O_RDONLY);
		int err = fd < 0 || !buf || !want ? errno : 0;
		uint64_t x = PATTERN_SEED;
		size_t done = 0;
		long long bad = -1;
		while (!err && bad < 0) {
			size_t got = 0;
			while (got < CHUNK) {
				ssize_t n = read(fd, buf + got, CHUNK - got);
				if (n < 0)
					err = errno;
				if (n <= 0)
					break;
				got += (size_t)n;
			}
			if (!got || err)
				break;
			fill(want, CHUNK, &x);
			for (size_t i = 0; i < got && bad < 0; i++)
				if (buf[i] != want[i])
					bad = (long long)(done + i);
			done += got;
			if (got < CHUNK)
				break;
		}
		if (fd >= 0)
			close(fd);
		result("read-pattern", !err && bad < 0 && done == PATTERN_BYTES, "bytes=%zu first-bad=%lld %s", done, bad,
		       err ? strerror(err) : "");
		/* Writing to a read-only mount must fail too. */
		int wfd = open("/mnt/new", O_WRONLY | O_CREAT, 0644);
		result("ro-mount-refuses-create", wfd < 0 && errno == EROFS, "open: %s", wfd < 0 ? strerror(errno) : "succeeded");
		if (wfd >= 0)
			close(wfd);
		r = umount("/mnt");
		result("umount", r == 0, "%s", r ? strerror(errno) : "clean");
		free(buf);
		free(want);
	}
	/* A raw write: the open or the write must fail with EROFS/EPERM/EACCES. */
	unsigned char *blk = aligned(RECORD);
	int fd = open("/dev/vda", O_WRONLY | O_DIRECT);
	const char *how = "open";
	int e = fd < 0 ? errno : 0;
	if (fd >= 0 && blk) {
		how = "pwrite";
		memset(blk, 0xEE, RECORD);
		ssize_t n = pwrite(fd, blk, RECORD, 1 << 20);
		e = n < 0 ? errno : 0;
		if (!e && fdatasync(fd) < 0) {
			how = "fdatasync";
			e = errno;
		}
		close(fd);
	}
	result("ro-raw-write-refused", e == EROFS || e == EPERM || e == EACCES, "%s: %s", how, e ? strerror(e) : "succeeded");
	free(blk);
}

static void do_crash(void)
{
	unsigned char *rec = aligned(RECORD);
	int fd = open("/dev/vdb", O_RDWR | O_DIRECT);
	if (fd < 0 || !rec) {
		result("crash-open", 0, "/dev/vdb: %s", strerror(errno));
		return;
	}
	uint64_t size = 0;
	ioctl(fd, BLKGETSIZE64, &size);
	say("disk-crash-start records=%llu", (unsigned long long)(size / RECORD));
	for (uint64_t i = 0; (i + 1) * RECORD <= size; i++) {
		memcpy(rec, "KVMBCRSH", 8);
		for (int b = 0; b < 8; b++)
			rec[8 + b] = (unsigned char)(i >> (8 * b));
		uint64_t x = (i + 1) * PATTERN_SEED;
		fill(rec + 16, RECORD - 16, &x);
		ssize_t n = pwrite(fd, rec, RECORD, (off_t)(i * RECORD));
		if (n != (ssize_t)RECORD) {
			result("crash-write", 0, "record %llu: %s", (unsigned long long)i, n < 0 ? strerror(errno) : "short");
			return;
		}
		if (fdatasync(fd) < 0) {
			result("crash-flush", 0, "record %llu: %s", (unsigned long long)i, strerror(errno));
			return;
		}
		say("flushed %llu", (unsigned long long)i);
	}
	say("disk-crash-full");
	for (;;)
		pause();
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* BLKZEROOUT on a range written with non-zero bytes reads back as zeroes;
 * BLKDISCARD on another written range succeeds (the host side checks the
 * hole). Offsets: zero-out at 1 MiB, discard at 8 MiB, 1 MiB each. */
static void zeroout_discard(void)
{
	unsigned char *buf = aligned(CHUNK);
	int fd = open("/dev/vda", O_RDWR | O_DIRECT);
	if (fd < 0 || !buf) {
		result("zeroout", 0, "/dev/vda: %s", strerror(errno));
		free(buf);
		return;
	}
	memset(buf, 0xA5, CHUNK);
	int err = 0;
	if (pwrite(fd, buf, CHUNK, 1 << 20) != CHUNK || pwrite(fd, buf, CHUNK, 8 << 20) != CHUNK || fdatasync(fd) < 0)
		err = errno ? errno : EIO;
	memset(buf, 0, CHUNK);
	if (!err && pread(fd, buf, CHUNK, 1 << 20) != CHUNK)
		err = errno ? errno : EIO;
	int written = !err && buf[0] == 0xA5 && buf[CHUNK - 1] == 0xA5;
	uint64_t range[2] = { 1 << 20, CHUNK };
	int zr = err ? -1 : ioctl(fd, BLKZEROOUT, range);
	int ze = zr < 0 ? errno : 0;
	memset(buf, 0x11, CHUNK);
	ssize_t n = zr < 0 ? -1 : pread(fd, buf, CHUNK, 1 << 20);
	size_t nonzero = 0;
	for (size_t i = 0; n == CHUNK && i < CHUNK; i++)
		nonzero += buf[i] != 0;
	result("zeroout", written && zr == 0 && n == CHUNK && !nonzero, "written=%d ioctl=%s read=%zd nonzero-bytes=%zu %s",
	       written, zr ? strerror(ze) : "0", n, nonzero, err ? strerror(err) : "");
	uint64_t drange[2] = { 8 << 20, CHUNK };
	int dr = ioctl(fd, BLKDISCARD, drange);
	result("discard-ioctl", dr == 0, "%s", dr ? strerror(errno) : "0");
	close(fd);
	free(buf);
}

static void do_info(void)
{
	char s[128];
	read_line("/sys/block/vda/serial", s, sizeof(s));
	say("disk-serial=%s", s);
	read_line("/sys/block/vda/queue/logical_block_size", s, sizeof(s));
	say("disk-lbs=%s", s);
	read_line("/sys/block/vda/queue/discard_max_bytes", s, sizeof(s));
	say("disk-discard=%d (discard_max_bytes=%s)", atoll(s) > 0, s);
	read_line("/sys/block/vda/size", s, sizeof(s));
	say("disk-sectors=%s", s);
	read_line("/sys/block/vda/ro", s, sizeof(s));
	say("disk-ro=%s", s);
	zeroout_discard();

	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	alarm(30);
	int fd = open("/dev/hvc0", O_WRONLY | O_NOCTTY);
	static const char hello[] = "KVMBOX-HVC: hello via hvc0\n";
	ssize_t n = fd < 0 ? -1 : write(fd, hello, sizeof(hello) - 1);
	int e = errno;
	if (fd >= 0) {
		tcdrain(fd);
		close(fd);
	}
	alarm(0);
	result("hvc-write", n == (ssize_t)sizeof(hello) - 1, "%s",
	       n < 0 ? strerror(e) : n < (ssize_t)sizeof(hello) - 1 ? "short write" : "");

	alarm(30);
	fd = open("/dev/hwrng", O_RDONLY);
	unsigned char b[64];
	size_t got = 0;
	e = fd < 0 ? errno : 0;
	while (fd >= 0 && got < sizeof(b)) {
		n = read(fd, b + got, sizeof(b) - got);
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			break;
		}
		got += (size_t)n;
	}
	alarm(0);
	if (fd >= 0)
		close(fd);
	char hex[2 * sizeof(b) + 1] = "";
	for (size_t i = 0; i < got; i++)
		snprintf(hex + 2 * i, sizeof(hex) - 2 * i, "%02x", b[i]);
	result("hwrng", got == sizeof(b), "bytes=%zu hex=%s %s", got, hex, e ? strerror(e) : "");
}

int main(void)
{
	mkdir("/sys", 0555);
	mount("sysfs", "/sys", "sysfs", 0, ""); /* EBUSY when /init has mounted it */
	char cmdline[4096] = "";
	read_line("/proc/cmdline", cmdline, sizeof(cmdline));
	const char *m = strstr(cmdline, "kvmbox.disk=");
	char mode[32] = "";
	if (m)
		snprintf(mode, sizeof(mode), "%.*s", (int)strcspn(m + 12, " "), m + 12);
	say("disk-mode=%s", mode);
	if (!strcmp(mode, "write"))
		do_write();
	else if (!strcmp(mode, "read"))
		do_read();
	else if (!strcmp(mode, "crash"))
		do_crash();
	else if (!strcmp(mode, "info"))
		do_info();
	else
		result("mode", 0, "unknown mode '%s' (write, read, crash, info)", mode);
	sync();
	say("disk-done failed=%d", failed);
	return failed ? 1 : 0;
}
