/* A VM's disk image: a raw file or a host block device, opened once, locked,
 * and accessed with positioned vector I/O so that the device thread never
 * copies guest data and never moves a shared file offset.
 *
 * Locking. A writable disk holds an exclusive fcntl OFD lock on the whole
 * file, a read-only one a shared lock, so two VMs never write one image and
 * nobody reads an image while another VM writes it. OFD locks belong to the
 * open file description, not the process: they hold across the VMM's threads
 * and vanish when the VMM exits or is killed, so a crash never leaves a
 * stale lock. A writable block device is also opened O_EXCL, which the
 * kernel refuses while the device is mounted (the appliance's own disks)
 * or opened O_EXCL elsewhere.
 */
#ifndef KVMBOX_BLOCK_DISK_H
#define KVMBOX_BLOCK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct disk {
	int fd;
	bool readonly;
	bool blockdev;     /* a host block device, not a file */
	uint64_t size;     /* bytes the guest may address */
	char path[256];    /* for messages (may be cut) */
};

/* Open path for a VM. On failure returns -errno and err says why in words a
 * user acts on: missing file, a directory, empty, in use by another VM,
 * mounted, no permission. align: the size is rounded down to it. */
int disk_open(struct disk *d, const char *path, bool readonly, unsigned align, char *err, size_t errlen);
void disk_close(struct disk *d);

/* Whole-range I/O at off: 0, or -errno (-EIO for a short transfer that made
 * no progress). The range must have been checked against d->size. */
int disk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off);
int disk_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off);
/* Everything written so far is on stable storage (fdatasync). */
int disk_flush(struct disk *d);
/* The range's blocks may be released (a hole in a file, BLKDISCARD on a
 * device); reads of it may return old data or zeroes. */
int disk_discard(struct disk *d, uint64_t off, uint64_t len);
/* The range reads back as zeroes afterwards; unmap lets it free the space. */
int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap);

#endif
