/* The KVMBOX-DATA partition: VM definitions, images and logs live there.
 *
 * It is found by label (the ext4 volume label, or the GPT partition name), so
 * it works whatever the disk is called on this machine. Without one, or when it
 * fails to mount, the appliance keeps running with state in RAM and says why.
 * kvmbox.data=none on the kernel command line skips it; kvmbox.data=/dev/X
 * names the device.
 *
 * Waiting: a USB stick can still be enumerating when init runs, and nothing in
 * sysfs says "more disks are coming". Without kvmbox.datawait, init waits up to
 * DATA_WAIT_DEFAULT_S only while USB storage is already bound. With it, init
 * waits that long whatever it sees: the disk image's loader entries set it,
 * because a kernel booted from that image knows its data partition exists.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"
#include "log.h"

int init_read_text(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return (int)n;
}

/* Is /dev/name an ext file system, and what is its label? */
static int probe_ext(const char *dev, char *label, size_t size)
{
	uint8_t sb[EXT4_SB_SIZE];
	int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, sb, sizeof(sb), EXT4_SB_OFFSET);
	close(fd);
	if (n != (ssize_t)sizeof(sb))
		return -EIO;
	return ext4_label(sb, sizeof(sb), label, size);
}

/* Look through every block device for the data partition. Returns 1 when found. */
static int find_data(char *dev, size_t size)
{
	DIR *d = opendir("/sys/class/block");
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strncmp(e->d_name, "ram", 3) || !strncmp(e->d_name, "loop", 4))
			continue;
		char path[300], uevent[1024], name[48], label[32];
		snprintf(path, sizeof(path), "/sys/class/block/%s/uevent", e->d_name);
		if (init_read_text(path, uevent, sizeof(uevent)) < 0 || uevent_get(uevent, "DEVNAME", name, sizeof(name)) != 1)
			continue;
		/* Skip empty drives (a CD-ROM without a disc): reading them only
		 * fills the kernel log with I/O errors. */
		char sizetext[32];
		snprintf(path, sizeof(path), "/sys/class/block/%s/size", e->d_name);
		if (init_read_text(path, sizetext, sizeof(sizetext)) <= 0 || atoll(sizetext) == 0)
			continue;
		char partname[64] = "";
		uevent_get(uevent, "PARTNAME", partname, sizeof(partname));
		snprintf(dev, size, "/dev/%s", name);
		if (!strcmp(partname, DATA_LABEL) || (probe_ext(dev, label, sizeof(label)) == 0 && !strcmp(label, DATA_LABEL)))
			found = 1;
	}
	closedir(d);
	return found;
}

/* USB mass storage shows up late; only then is waiting worth it. */
static int usb_storage_present(void)
{
	static const char *const drivers[] = { "/sys/bus/usb/drivers/usb-storage", "/sys/bus/usb/drivers/uas" };
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		DIR *d = opendir(drivers[i]);
		if (!d)
			continue;
		struct dirent *e;
		int any = 0;
		while ((e = readdir(d)))
			if (strchr(e->d_name, ':')) /* bound interfaces look like 1-1:1.0 */
				any = 1;
		closedir(d);
		if (any)
			return 1;
	}
	return 0;
}

void data_mount(const char *cmdline, struct data_state *st)
{
	memset(st, 0, sizeof(*st));
	char opt[64] = "", waitopt[16] = "";
	if (cmdline_get(cmdline, "kvmbox.data", opt, sizeof(opt)) < 0)
		opt[0] = '\0';
	if (!strcmp(opt, "none")) {
		snprintf(st->problem, sizeof(st->problem), "kvmbox.data=none on the kernel command line");
		return;
	}
	double wait_s = DATA_WAIT_DEFAULT_S;
	int explicit_wait = 0;
	if (cmdline_get(cmdline, "kvmbox.datawait", waitopt, sizeof(waitopt)) == 1) {
		wait_s = atof(waitopt);
		explicit_wait = 1;
	}
	if (!(wait_s >= 0 && wait_s <= DATA_WAIT_MAX_S)) { /* also refuses nan and inf */
		wait_s = DATA_WAIT_DEFAULT_S;
		explicit_wait = 0;
	}

	int found = 0;
	if (opt[0] == '/') {
		snprintf(st->device, sizeof(st->device), "%s", opt);
		found = 1;
	} else {
		double deadline = now_seconds() + wait_s;
		int said = 0;
		while (!(found = find_data(st->device, sizeof(st->device)))) {
			if (now_seconds() >= deadline || (!explicit_wait && !usb_storage_present()))
				break;
			if (!said) {
				log_info("waiting up to %g s for the %s partition", wait_s, DATA_LABEL);
				said = 1;
			}
			usleep(100 * 1000);
		}
	}
	if (!found) {
		st->device[0] = '\0';
		snprintf(st->problem, sizeof(st->problem), "no partition labelled %s", DATA_LABEL);
		return;
	}

	char label[32];
	int r = probe_ext(st->device, label, sizeof(label));
	if (r == -EINVAL) {
		snprintf(st->problem, sizeof(st->problem), "%s holds no ext4 file system (format it with: mkfs.ext4 -L %s)",
			 st->device, DATA_LABEL);
		return;
	}
	if (r < 0) {
		snprintf(st->problem, sizeof(st->problem), "cannot read %s: %s", st->device, strerror(-r));
		return;
	}
	mkdir(DATA_MOUNT, 0755);
	if (mount(st->device, DATA_MOUNT, "ext4", MS_NOATIME | MS_NODEV | MS_NOSUID, "") != 0) {
		int err = errno;
		snprintf(st->problem, sizeof(st->problem), "mounting %s on %s failed: %s%s", st->device, DATA_MOUNT,
			 strerror(err),
			 err == EINVAL || err == EUCLEAN ? " (the file system looks damaged; check it with e2fsck on another machine)" : "");
		return;
	}
	st->mounted = 1;
	mkdir(DATA_MOUNT "/log", 0750);
}

void data_unmount(struct data_state *st)
{
	if (!st->mounted)
		return;
	sync();
	if (umount2(DATA_MOUNT, 0) != 0) {
		log_warn("unmounting %s: %s; forcing a lazy unmount", DATA_MOUNT, strerror(errno));
		umount2(DATA_MOUNT, MNT_DETACH);
		sync();
	}
	st->mounted = 0;
}
