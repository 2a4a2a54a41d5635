/* Mediated devices: making and removing instances (issue 5, part 3).
 *
 * An mdev parent (a GPU's or NIC's driver, or the kernel's mtty sample)
 * lists the types it can make under /sys/class/mdev_bus/PARENT/
 * mdev_supported_types/TYPE; writing a UUID to that type's "create" makes an
 * instance at /sys/bus/mdev/devices/UUID, which `kvmbox vmm --device UUID`
 * passes to a guest, and writing 1 to its "remove" destroys it. The kernel's
 * own error for a bad write is only EINVAL or ENODEV, so the reasons a
 * person needs (no such parent, no such type, none left) are found here
 * first, from sysfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfio/host_pci.h"

static void path_of(const struct host_pci_sys *sys, char *buf, size_t size, const char *fmt, const char *a,
		    const char *b)
{
	char tail[512];
	snprintf(tail, sizeof(tail), fmt, a, b);
	snprintf(buf, size, "%s%s", sys && sys->root ? sys->root : "", tail);
}

static int write_text(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, s, strlen(s));
	int e = errno;
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : n < 0 ? -e : -EIO;
}

static int is_name(const char *s)
{
	/* A sysfs directory name: no path tricks. */
	return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 64;
}

int host_mdev_parse_uuid(const char *in, char out[HOST_MDEV_UUID_LEN])
{
	if (strlen(in) != 36)
		return -EINVAL;
	for (int i = 0; i < 36; i++) {
		char c = in[i];
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return -EINVAL;
		out[i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
	}
	out[36] = '\0';
	return 0;
}

static int new_uuid(char out[HOST_MDEV_UUID_LEN])
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4: random */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* the RFC 4122 variant */
	snprintf(out, HOST_MDEV_UUID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

int host_mdev_create(const struct host_pci_sys *sys, const char *parent, const char *type, char uuid[HOST_MDEV_UUID_LEN],
		     char *err, size_t errlen)
{
	char path[600], text[32];
	struct stat st;
	if (!is_name(parent) || !is_name(type)) {
		snprintf(err, errlen, "'%.64s/%.64s' is not an mdev parent and type", parent, type);
		return -EINVAL;
	}
	path_of(sys, path, sizeof(path), "/sys/class/mdev_bus/%s%s", parent, "");
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "no mdev parent %s (kvmbox pci lists them)", parent);
		return -ENODEV;
	}
	path_of(sys, path, sizeof(path), "/sys/class/mdev_bus/%s/mdev_supported_types/%s", parent, type);
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s has no mdev type %s (kvmbox pci lists its types)", parent, type);
		return -ENOENT;
	}
	path_of(sys, path, sizeof(path), "/sys/class/mdev_bus/%s/mdev_supported_types/%s/available_instances", parent,
		type);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		text[n] = '\0';
		if (atoi(text) <= 0) {
			snprintf(err, errlen, "no instances of %s/%s are left (each one in use must be removed first)",
				 parent, type);
			return -ENOSPC;
		}
	}
	if (uuid[0]) {
		char norm[HOST_MDEV_UUID_LEN];
		if (host_mdev_parse_uuid(uuid, norm) < 0) {
			snprintf(err, errlen, "'%.40s' is not a UUID", uuid);
			return -EINVAL;
		}
		memcpy(uuid, norm, sizeof(norm));
	} else if (new_uuid(uuid) < 0) {
		snprintf(err, errlen, "no random numbers for a UUID");
		return -EIO;
	}
	path_of(sys, path, sizeof(path), "/sys/class/mdev_bus/%s/mdev_supported_types/%s/create", parent, type);
	int r = write_text(path, uuid);
	if (r < 0) {
		snprintf(err, errlen, "creating %s on %s/%s: %s%s", uuid, parent, type, strerror(-r),
			 r == -EEXIST ? " (that UUID is taken)" : "");
		return r;
	}
	return 0;
}

int host_mdev_remove(const struct host_pci_sys *sys, const char *uuid, char *err, size_t errlen)
{
	char norm[HOST_MDEV_UUID_LEN], path[600];
	if (host_mdev_parse_uuid(uuid, norm) < 0) {
		snprintf(err, errlen, "'%.40s' is not a UUID", uuid);
		return -EINVAL;
	}
	path_of(sys, path, sizeof(path), "/sys/bus/mdev/devices/%s/remove", norm, "");
	int r = write_text(path, "1");
	if (r == -ENOENT) {
		snprintf(err, errlen, "no mdev %s", norm);
		return -ENODEV;
	}
	if (r < 0) {
		snprintf(err, errlen, "removing mdev %s: %s%s", norm, strerror(-r),
			 r == -EBUSY ? " (a VM is using it)" : "");
		return r;
	}
	return 0;
}
