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
 *   all_drivers() "bdf=driver" of every function, to see that nothing moved
 *   find_nonviable()  a non-viable IOMMU group: a target and the member in its way
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

/* Every device's driver, one "bdf=driver" line each, to see that nothing
 * changed. */
static inline void all_drivers(char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	DIR *d = opendir("/sys/bus/pci/devices");
	for (struct dirent *e; d && (e = readdir(d));) {
		char drv[64];
		if (e->d_name[0] == '.')
			continue;
		driver_of(e->d_name, drv, sizeof(drv));
		int n = snprintf(buf + len, size - len, "%s=%s\n", e->d_name, drv);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	if (d)
		closedir(d);
}

/* A group with two or more endpoints of which one is on a driver other than
 * vfio-pci or pci-stub: pick another member as the target. */
static inline int find_nonviable(char *target, size_t tsize, char *blocker, size_t bsize)
{
	DIR *d = opendir("/sys/kernel/iommu_groups");
	int found = 0;
	for (struct dirent *g; d && !found && (g = readdir(d));) {
		char p[1024];
		if (g->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%s/devices", g->d_name);
		DIR *m = opendir(p);
		char members[16][32];
		int n = 0;
		for (struct dirent *e; m && (e = readdir(m));)
			if (e->d_name[0] != '.' && n < 16)
				snprintf(members[n++], sizeof(members[0]), "%.*s", (int)sizeof(members[0]) - 1, e->d_name);
		if (m)
			closedir(m);
		for (int i = 0; i < n && !found; i++) {
			char drv[64], cls[16];
			driver_of(members[i], drv, sizeof(drv));
			snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/class", members[i]);
			read_line(p, cls, sizeof(cls));
			if (!drv[0] || !strcmp(drv, "vfio-pci") || !strcmp(drv, "pci-stub") || !strncmp(cls, "0x0604", 6) ||
			    !strncmp(cls, "0x0600", 6))
				continue;
			for (int j = 0; j < n && !found; j++)
				if (j != i) {
					snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/class", members[j]);
					read_line(p, cls, sizeof(cls));
					if (!strncmp(cls, "0x0604", 6) || !strncmp(cls, "0x0600", 6))
						continue;
					memcpy(target, members[j], tsize < sizeof(members[0]) ? tsize : sizeof(members[0]));
					memcpy(blocker, members[i], bsize < sizeof(members[0]) ? bsize : sizeof(members[0]));
					target[tsize - 1] = blocker[bsize - 1] = '\0';
					found = 1;
				}
		}
	}
	if (d)
		closedir(d);
	return found;
}

#endif
