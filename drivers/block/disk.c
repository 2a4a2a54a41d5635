/* Disk images for virtio-blk; see disk.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/disk.h"

int disk_open(struct disk *d, const char *path, bool readonly, unsigned align, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->readonly = readonly;
	snprintf(d->path, sizeof(d->path), "%s", path);
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "%s is not a disk image or a block device", path);
		return -EINVAL;
	}
	d->blockdev = S_ISBLK(st.st_mode);
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (d->blockdev && !readonly)
		flags |= O_EXCL;
	d->fd = open(path, flags);
	if (d->fd < 0) {
		int e = errno;
		if (e == EBUSY)
			snprintf(err, errlen, "%s is in use (mounted, or held by another VM)", path);
		else if (e == EACCES || e == EPERM || e == EROFS)
			snprintf(err, errlen, "%s: %s%s", path, strerror(e),
				 readonly ? "" : " (add readonly to use it read-only)");
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	struct flock lk = { .l_type = readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(d->fd, F_OFD_SETLK, &lk) < 0) {
		int e = errno;
		if (e == EAGAIN || e == EACCES)
			snprintf(err, errlen, "%s is in use by another VM (%s)", path,
				 readonly ? "it is open for writing" : "it is already open");
		else
			snprintf(err, errlen, "%s: cannot lock it: %s", path, strerror(e));
		disk_close(d);
		return -(e == EACCES ? EAGAIN : e);
	}
	uint64_t size = (uint64_t)st.st_size;
	if (d->blockdev && ioctl(d->fd, BLKGETSIZE64, &size) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot read its size: %s", path, strerror(e));
		disk_close(d);
		return -e;
	}
	if (!align)
		align = 512;
	d->size = size - size % align;
	if (!d->size) {
		snprintf(err, errlen, "%s is %s (%llu bytes; a disk needs at least %u)", path, size ? "too small" : "empty",
			 (unsigned long long)size, align);
		disk_close(d);
		return -EINVAL;
	}
	return 0;
}

void disk_close(struct disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* preadv/pwritev until done: a regular file may transfer less than asked
 * (a signal, a huge request). iov is consumed into a local copy. */
static int disk_rw(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off, bool write)
{
	struct iovec local[64];
	while (iovcnt > 0) {
		int n = iovcnt < 64 ? iovcnt : 64;
		memcpy(local, iov, (size_t)n * sizeof(*iov));
		struct iovec *v = local;
		int left = n;
		while (left > 0) {
			ssize_t r = write ? pwritev(d->fd, v, left, (off_t)off) : preadv(d->fd, v, left, (off_t)off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0) {
				/* Past the end of a file that shrank under us: the guest reads zeroes. */
				if (write)
					return -EIO;
				for (int i = 0; i < left; i++)
					memset(v[i].iov_base, 0, v[i].iov_len);
				break;
			}
			off += (uint64_t)r;
			while (left > 0 && (size_t)r >= v->iov_len) {
				r -= (ssize_t)v->iov_len;
				v++;
				left--;
			}
			if (left > 0) {
				v->iov_base = (uint8_t *)v->iov_base + r;
				v->iov_len -= (size_t)r;
			}
		}
		iov += n;
		iovcnt -= n;
	}
	return 0;
}

int disk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return disk_rw(d, iov, iovcnt, off, false);
}

int disk_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	if (d->readonly)
		return -EROFS;
	return disk_rw(d, iov, iovcnt, off, true);
}

int disk_flush(struct disk *d)
{
	if (d->readonly)
		return 0;
	while (fdatasync(d->fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
	if (d->readonly)
		return -EROFS;
	if (d->blockdev) {
		uint64_t range[2] = { off, len };
		return ioctl(d->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	}
	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		return errno == EOPNOTSUPP ? 0 : -errno; /* discard is a hint: no hole is not an error */
	return 0;
}

/* Zeroes by hand when neither the file system nor the device can. */
static int disk_zero_by_writing(struct disk *d, uint64_t off, uint64_t len)
{
	static uint8_t zero[65536]; /* bss, not 64 KiB of the binary; never written */
	while (len) {
		size_t n = len < sizeof(zero) ? (size_t)len : sizeof(zero);
		struct iovec v = { (void *)zero, n };
		int r = disk_rw(d, &v, 1, off, true);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap)
{
	if (d->readonly)
		return -EROFS;
	if (d->blockdev) {
		uint64_t range[2] = { off, len };
		if (ioctl(d->fd, BLKZEROOUT, range) == 0)
			return 0;
		return disk_zero_by_writing(d, off, len);
	}
	int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(d->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EINVAL)
		return -errno;
	return disk_zero_by_writing(d, off, len);
}
