/* sysfs helpers for the test programs on both sides, the in-appliance
 * drivers (tests/vm/NAME_test.c) and the guest programs (tests/vm/guest_NAME.c):
 * both find PCI devices and their drivers through sysfs. Each program is
 * one static binary, so these are static functions (inline, so that a
 * program that does not use one gets no warning).
 *
 *   read_line()   the first line of a file, without its newline ("" if none)
 *   link_base()   the last path element of a symlink's target ("" if none)
 *   write_str()   a string into a sysfs file: 0 or -errno
 *   driver_of()   the driver a PCI function is bound to ("" for none)
 *   group_of()    its IOMMU group, or -1
 *   find_dev()    the first function with vendor and device ("0x1234"...)
 */
#ifndef KVMBOX_SYSFS_UTIL_H
#define KVMBOX_SYSFS_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void read_line(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static inline void link_base(const char *path, char *buf, size_t size)
{
	char t[PATH_MAX];
	ssize_t n = readlink(path, t, sizeof(t) - 1);
	buf[0] = '\0';
	if (n < 0)
		return;
	t[n] = '\0';
	const char *b = strrchr(t, '/');
	snprintf(buf, size, "%.*s", (int)size - 1, b ? b + 1 : t);
}

static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, s, strlen(s));
	int e = errno;
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -e;
}

static inline void driver_of(const char *bdf, char *buf, size_t size)
{
	char p[512];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%.256s/driver", bdf);
	link_base(p, buf, size);
}

static inline int group_of(const char *bdf)
{
	char p[512], g[32];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%.256s/iommu_group", bdf);
	link_base(p, g, sizeof(g));
	return g[0] ? atoi(g) : -1;
}

static inline int find_dev(const char *vendor, const char *device, char *bdf, size_t size)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	int found = 0;
	for (struct dirent *e; d && !found && (e = readdir(d));) {
		char p[512], v[16], dv[16];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%.256s/vendor", e->d_name);
		read_line(p, v, sizeof(v));
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%.256s/device", e->d_name);
		read_line(p, dv, sizeof(dv));
		if (!strcmp(v, vendor) && !strcmp(dv, device)) {
			snprintf(bdf, size, "%.*s", (int)size - 1, e->d_name);
			found = 1;
		}
	}
	if (d)
		closedir(d);
	return found;
}

#endif
