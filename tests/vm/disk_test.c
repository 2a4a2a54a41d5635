/* In-appliance test of virtio-blk and the virtio console of `kvmbox vmm`.
 *
 * A test-only initramfs (tests/vm/disk.list) holds the appliance's files
 * plus this program, which the outer QEMU starts as PID 1
 * (rdinit=/disk_test). The outer QEMU gives the appliance two virtio disks,
 * /dev/vda (disk-a.img) and /dev/vdb (disk-b.img), which the VMs here use as
 * backing (the block-device backend); /tmp images exercise the file backend.
 * The guest program is tests/vm/guest_disk.c. kvmbox.disktest= on the
 * command line picks the boot:
 *
 *   write  a VM with --disk /dev/vda makes ext4 and writes /pattern
 *          (tests/vm/disk_test.py then checks it on the host image)
 *   read   the same disk read-only: the pattern reads back, writes are
 *          refused; then --disk FILE,serial=,block-size=4096: serial, block
 *          size, discard, BLKZEROOUT, hvc0 output, hwrng; then the image
 *          lock: a second VM on a writable image in use fails with exit 1
 *          and succeeds once the first one has stopped; --no-hvc
 *   crash  a VM writes flushed records to /dev/vdb; at "flushed N" with
 *          N >= 32 the VMM gets SIGKILL and this prints "crash-flushed N",
 *          upon which the Python side kills the whole outer QEMU (a power
 *          cut) and checks records 0..N on the host image
 *
 * Prints "ok NAME" / "not ok NAME: why", then "disk_test: finished, N
 * failed", then powers off (except after crash-flushed: it waits to die).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VMM_LOG_SIZE 131072
#include "appliance_test.h"

static struct vmm_run vm_a, vm_b;

/* Start `kvmbox vmm` with the test guest; extra: more kernel command line;
 * disks: NULL-terminated, each the value of a --disk, or an option of its
 * own when it starts with "--". */
static void start_vmm(struct vmm_run *v, const char *name, const char *extra, const char *const *disks)
{
	char cmdline[256];
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 quiet %s", extra);
	const char *argv[40] = { "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
				 "--cmdline", cmdline, "--mem", "256M", "--cpus", "1", "--serial", "stdio",
				 "--stop-timeout", "10", "--name", name };
	int argc = 18;
	for (int i = 0; disks && disks[i] && argc < 36; i++) {
		if (strncmp(disks[i], "--", 2))
			argv[argc++] = "--disk";
		argv[argc++] = disks[i];
	}
	argv[argc] = NULL;
	printf("disk_test: start %s:", name);
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
	vmm_spawn(v, argv, -1);
	v->tag = name; /* its lines go to the console as "[name] ..." */
}

/* The guest's result line "KVMBOX-GUEST: disk-KEY=ok ..." as check NAME. */
static void guest_result(const struct vmm_run *v, const char *name, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "KVMBOX-GUEST: disk-%s=", key);
	const char *p = strstr(v->log, pat);
	if (p && !strncmp(p + strlen(pat), "ok", 2)) {
		check(name, 1, NULL);
		return;
	}
	if (p) {
		int n = (int)strcspn(p, "\r\n");
		check(name, 0, "guest said: %.*s", n, p);
	} else {
		check(name, 0, "no '%s' line; %s output:\n%s", pat, v->tag, vmm_tail(v, 2000));
	}
}

/* The value after "KVMBOX-GUEST: disk-KEY=" up to the end of the word. */
static const char *guest_value(const struct vmm_run *v, const char *key, char *out, size_t size)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "KVMBOX-GUEST: disk-%s=", key);
	const char *p = strstr(v->log, pat);
	if (!p)
		snprintf(out, size, "(none)");
	else
		snprintf(out, size, "%.*s", (int)strcspn(p + strlen(pat), " \r\n"), p + strlen(pat));
	return out;
}

/* Run a guest_disk VM to its end; checks it powered off with status 0. */
static void run_guest(struct vmm_run *v, const char *check_name, const char *mode, const char *const *disks, double timeout)
{
	char extra[128];
	snprintf(extra, sizeof(extra), "kvmbox.exec=/bin/guest_disk kvmbox.disk=%s", mode);
	start_vmm(v, check_name + 4, extra, disks);
	int exited = vmm_wait_exit(v, timeout);
	double took = now() - v->started;
	printf("disk_test: %s ended after %.1f s (status %d)\n", v->tag, took, vmm_exit_code(v));
	check(check_name, exited && vmm_exit_code(v) == 0 && strstr(v->log, "KVMBOX-GUEST: exec-status=0"),
	      "exited=%d status %d after %.1f s; output:\n%s", exited, vmm_exit_code(v), took, vmm_tail(v, 2500));
	vmm_stop(v);
}

static int make_image(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, size) < 0) {
		printf("disk_test: cannot make %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void boot_write(void)
{
	const char *disks[] = { "/dev/vda", NULL };
	run_guest(&vm_a, "blk-write-vm", "write", disks, 600);
	guest_result(&vm_a, "blk-write-mkfs", "mkfs");
	guest_result(&vm_a, "blk-write-mount", "mount");
	guest_result(&vm_a, "blk-write-pattern", "write-pattern");
	guest_result(&vm_a, "blk-write-umount", "umount");
}

static void test_read(void)
{
	const char *disks[] = { "/dev/vda,readonly", NULL };
	run_guest(&vm_a, "blk-read-vm", "read", disks, 600);
	guest_result(&vm_a, "blk-read-ro-sysfs", "ro-sysfs");
	guest_result(&vm_a, "blk-read-mount-ro", "mount-ro");
	guest_result(&vm_a, "blk-read-pattern", "read-pattern");
	guest_result(&vm_a, "blk-read-ro-mount-refuses-create", "ro-mount-refuses-create");
	guest_result(&vm_a, "blk-read-ro-raw-write-refused", "ro-raw-write-refused");
}

static void test_info(void)
{
	const char *img = "/tmp/info.img";
	const off_t size = 64 << 20;
	if (make_image(img, size) < 0) {
		check("blk-info-vm", 0, "no image");
		return;
	}
	const char *disks[] = { "/tmp/info.img,serial=KVMBOX-T1,block-size=4096", NULL };
	struct vmm_run *v = &vm_a;
	run_guest(v, "blk-info-vm", "info", disks, 300);
	char val[128];
	check("blk-serial", !strcmp(guest_value(v, "serial", val, sizeof(val)), "KVMBOX-T1"), "serial is '%s'", val);
	check("blk-block-size", !strcmp(guest_value(v, "lbs", val, sizeof(val)), "4096"), "logical block size '%s'",
	      val);
	check("blk-discard-on", !strcmp(guest_value(v, "discard", val, sizeof(val)), "1"), "discard '%s'", val);
	check("blk-capacity", !strcmp(guest_value(v, "sectors", val, sizeof(val)), "131072"),
	      "%s sectors for a 64 MiB image", val);
	check("blk-info-writable", !strcmp(guest_value(v, "ro", val, sizeof(val)), "0"), "ro '%s'", val);
	guest_result(v, "blk-zeroout", "zeroout");
	guest_result(v, "blk-discard-ioctl", "discard-ioctl");
	guest_result(v, "hvc-guest-write", "hvc-write");
	check("hvc-output", strstr(v->log, "KVMBOX-HVC: hello via hvc0") != NULL,
	      "the hvc0 line is not in the VMM's output:\n%s", vmm_tail(v, 2000));
	guest_result(v, "hwrng-read", "hwrng");
	const char *hex = strstr(v->log, "hex=");
	int nonzero = 0;
	for (int i = 0; hex && i < 128 && hex[4 + i] && hex[4 + i] != ' '; i++)
		nonzero += hex[4 + i] != '0';
	check("hwrng-not-zero", nonzero > 0, "hwrng bytes: %.140s", hex ? hex : "(none)");

	/* What the guest did, seen in the image: BLKZEROOUT left zeroes at
	 * 1 MiB, BLKDISCARD a hole at 8 MiB; the size is unchanged. */
	int fd = open(img, O_RDONLY);
	static unsigned char buf[1 << 20];
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf), 1 << 20);
	size_t nonz = 0;
	for (ssize_t i = 0; i < n; i++)
		nonz += buf[i] != 0;
	check("blk-zeroout-host-zeros", n == (ssize_t)sizeof(buf) && !nonz, "read %zd, %zu non-zero bytes", n, nonz);
	off_t data = fd < 0 ? -1 : lseek(fd, 8 << 20, SEEK_DATA);
	int hole = data >= (off_t)(9 << 20) || (data < 0 && errno == ENXIO);
	n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf), 8 << 20);
	nonz = 0;
	for (ssize_t i = 0; i < n; i++)
		nonz += buf[i] != 0;
	check("blk-discard-punches-hole", hole && n == (ssize_t)sizeof(buf) && !nonz,
	      "first data at or after 8 MiB: %lld (%s); %zu non-zero bytes there", (long long)data,
	      data < 0 ? strerror(errno) : "", nonz);
	struct stat st;
	check("blk-discard-keeps-size", fd >= 0 && fstat(fd, &st) == 0 && st.st_size == size, "size %lld",
	      fd >= 0 ? (long long)st.st_size : -1LL);
	if (fd >= 0)
		close(fd);
	unlink(img);
}

static void test_lock(void)
{
	const char *img = "/tmp/lock.img";
	if (make_image(img, 16 << 20) < 0) {
		check("blk-lock-holder-up", 0, "no image");
		return;
	}
	const char *rw[] = { img, NULL };
	const char *ro[] = { "/tmp/lock.img,readonly", NULL };
	start_vmm(&vm_a, "lock-a", "kvmbox.test=wait", rw);
	int up = vmm_wait_output(&vm_a, "KVMBOX-GUEST: waiting", 180);
	check("blk-lock-holder-up", up, "exited=%d; lock-a output:\n%s", waitpid(vm_a.pid, NULL, WNOHANG) == vm_a.pid,
	      vmm_tail(&vm_a, 2000));
	if (!up) {
		vmm_stop(&vm_a);
		return;
	}

	start_vmm(&vm_b, "lock-b", "", rw);
	int exited = vmm_wait_exit(&vm_b, 60);
	check("blk-lock-second-writer-refused",
	      exited && vmm_exit_code(&vm_b) == 1 && strstr(vm_b.log, "is in use by another VM") &&
		      !strstr(vm_b.log, "KVMBOX-GUEST: init"),
	      "exited=%d status %d; lock-b output:\n%s", exited, vmm_exit_code(&vm_b), vmm_tail(&vm_b, 2000));
	vmm_stop(&vm_b);

	start_vmm(&vm_b, "lock-b-ro", "", ro);
	exited = vmm_wait_exit(&vm_b, 60);
	check("blk-lock-reader-refused-while-written",
	      exited && vmm_exit_code(&vm_b) == 1 && strstr(vm_b.log, "is in use by another VM") &&
		      !strstr(vm_b.log, "KVMBOX-GUEST: init"),
	      "exited=%d status %d; lock-b-ro output:\n%s", exited, vmm_exit_code(&vm_b), vmm_tail(&vm_b, 2000));
	vmm_stop(&vm_b);

	/* The holder is still fine, and stops in order. */
	kill(vm_a.pid, SIGTERM);
	exited = vmm_wait_exit(&vm_a, 60);
	check("blk-lock-holder-stops", exited && vmm_exit_code(&vm_a) == 0, "exited=%d status %d; lock-a output:\n%s", exited,
	      vmm_exit_code(&vm_a), vmm_tail(&vm_a, 2000));
	vmm_stop(&vm_a);

	start_vmm(&vm_b, "lock-b-again", "", rw);
	exited = vmm_wait_exit(&vm_b, 180);
	check("blk-lock-released", exited && vmm_exit_code(&vm_b) == 0 && strstr(vm_b.log, "KVMBOX-GUEST: done"),
	      "exited=%d status %d; lock-b-again output:\n%s", exited, vmm_exit_code(&vm_b), vmm_tail(&vm_b, 2000));
	vmm_stop(&vm_b);
	unlink(img);
}

/* --no-hvc: no virtio console (1af4:1043) on the guest's PCI bus, and no
 * disk (1af4:1042) without --disk; the rest is as usual. */
static void test_no_hvc(void)
{
	const char *args[] = { "--no-hvc", NULL };
	start_vmm(&vm_a, "no-hvc", "", args);
	int exited = vmm_wait_exit(&vm_a, 180);
	const char *pci = strstr(vm_a.log, "KVMBOX-GUEST: pci=");
	int n = pci ? (int)strcspn(pci, "\r\n") : 0;
	char line[256];
	snprintf(line, sizeof(line), "%.*s,", n, pci ? pci : "");
	check("hvc-off-with-no-hvc",
	      exited && vmm_exit_code(&vm_a) == 0 && pci && strstr(line, "1af4:1044,") && !strstr(line, "1af4:1043,") &&
		      !strstr(line, "1af4:1042,"),
	      "exited=%d status %d, %s; no-hvc output:\n%s", exited, vmm_exit_code(&vm_a), pci ? line : "no pci line",
	      vmm_tail(&vm_a, 2000));
	vmm_stop(&vm_a);
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, s, strlen(s)) < 0)
		printf("disk_test: %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The last N of a whole line "KVMBOX-GUEST: flushed N", or -1. */
static long last_flushed(const char *log)
{
	long last = -1;
	const char *p = log;
	while ((p = strstr(p, "KVMBOX-GUEST: flushed "))) {
		p += 22;
		char *e;
		long n = strtol(p, &e, 10);
		if (e > p && (*e == '\r' || *e == '\n'))
			last = n;
	}
	return last;
}

/* Never returns: after "crash-flushed N" the outer QEMU is killed. */
static void boot_crash(void)
{
	/* No background writeback in the appliance: a record reaches disk-b.img
	 * only when the VMM flushes it. And the VMM's close of /dev/vdb when
	 * it is killed must not be the last one, which would write back the
	 * device's dirty pages (sync_blockdev) and hide a missing flush. */
	write_file("/proc/sys/vm/dirty_expire_centisecs", "360000");
	write_file("/proc/sys/vm/dirty_writeback_centisecs", "0");
	int hold = open("/dev/vdb", O_RDONLY | O_CLOEXEC);
	check("blk-crash-hold-vdb", hold >= 0, "/dev/vdb: %s", strerror(errno));

	const char *disks[] = { "/dev/vda,readonly", "/dev/vdb", NULL };
	struct vmm_run *v = &vm_a;
	start_vmm(v, "crash", "kvmbox.exec=/bin/guest_disk kvmbox.disk=crash", disks);
	long last = -1;
	double end = now() + 600;
	while (last < 32 && now() < end && vmm_pump(v, 1))
		last = last_flushed(v->log);
	double took = now() - v->started;
	kill(v->pid, SIGKILL);
	waitpid(v->pid, &v->status, 0);
	check("blk-crash-flushed-32", last >= 32, "last flushed record %ld after %.1f s; crash output:\n%s", last, took,
	      vmm_tail(v, 2500));
	check("blk-crash-no-guest-error", !strstr(v->log, "=FAIL"),
	      "crash output:\n%s", vmm_tail(v, 2500));
	printf("disk_test: crash VMM killed after %.1f s\n", took);
	printf("crash-flushed %ld\n", last);
	fflush(stdout);
	/* No sync, no power-off: wait for the power cut. */
	for (;;)
		pause();
}

int main(void)
{
	appliance_start();
	char cmdline[2048] = "";
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
		cmdline[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	const char *m = strstr(cmdline, "kvmbox.disktest=");
	char mode[32] = "";
	if (m)
		snprintf(mode, sizeof(mode), "%.*s", (int)strcspn(m + 16, " \n"), m + 16);
	printf("disk_test: start %s\n", mode);
	fflush(stdout);
	double t0 = now();
	if (!strcmp(mode, "write")) {
		boot_write();
	} else if (!strcmp(mode, "read")) {
		test_read();
		test_info();
		test_lock();
		test_no_hvc();
	} else if (!strcmp(mode, "crash")) {
		boot_crash();
	} else {
		check("blk-disktest-mode", 0, "kvmbox.disktest= is '%s' (write, read, crash)", mode);
	}
	char took[32];
	snprintf(took, sizeof(took), " (%.1f s)", now() - t0);
	appliance_finish("disk_test", took);
	return 0;
}
