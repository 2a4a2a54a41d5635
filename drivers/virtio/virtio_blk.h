/* virtio-blk requests (virtio 1.2, 5.2.6), split from the device so that the
 * parser and the executor can be unit-tested and fuzzed without a VM.
 *
 * A request is one descriptor chain: a 16-byte header the device reads
 * (type, ioprio, sector), data (device-readable for writes, discard and
 * write-zeroes segments; device-writable for reads and GET_ID) and a final
 * device-writable status byte. Everything in the chain is guest-controlled.
 * A chain that cannot carry an answer (no header, no status byte) breaks the
 * queue; a request that is well-formed but wrong (past the end, misaligned,
 * a write to a read-only disk, an unknown type) gets an error status and
 * the disk is not touched.
 */
#ifndef KVMBOX_VIRTIO_BLK_H
#define KVMBOX_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/disk.h"
#include "virtio/virtqueue.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_SECTOR 512u        /* the unit of the header's sector, whatever the block size */
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
#define VIRTIO_BLK_MAX_DISCARD_SEG 1u   /* one range per request, like Linux sends them */
#define VIRTIO_BLK_CFG_SIZE 60          /* through write_zeroes_may_unmap and its padding */

/* Feature bits (5.2.3) */
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VIRTIO_BLK_F_TOPOLOGY (1ull << 10)
#define VIRTIO_BLK_F_DISCARD (1ull << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ull << 14)

/* Request types and statuses (5.2.6) */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

/* What the device offers and how requests are judged. */
struct virtio_blk_params {
	bool readonly;
	bool discard;           /* DISCARD and WRITE_ZEROES offered */
	unsigned block_size;    /* logical block size, a power of two >= 512 */
	char serial[VIRTIO_BLK_ID_BYTES + 1];
};

/* One parsed request: data points into the chain's buffers (guest RAM). */
struct virtio_blk_req {
	uint32_t type;
	uint64_t sector;
	uint8_t *status;        /* the chain's last writable byte */
	int ndata;
	uint64_t data_len;
	struct iovec data[VIRTQ_MAX_CHAIN];
};

/* Parse chain c into req. 0, or -EINVAL with why filled when the chain
 * cannot be a virtio-blk request at all (the queue must then be broken). */
int virtio_blk_parse(const struct virtq_chain *c, struct virtio_blk_req *req, char *why, size_t whylen);

/* Carry out req on disk d; sets *req->status and returns the byte count
 * written into the chain's writable buffers (data read plus the status). */
uint32_t virtio_blk_execute(struct disk *d, const struct virtio_blk_params *p, struct virtio_blk_req *req);

/* The device configuration space for a disk of size bytes (little endian). */
void virtio_blk_config(const struct virtio_blk_params *p, uint64_t size, unsigned queue_size,
		       uint8_t cfg[VIRTIO_BLK_CFG_SIZE]);
/* The features offered for p (the transport adds VERSION_1 and the ring ones). */
uint64_t virtio_blk_features(const struct virtio_blk_params *p);

#endif
