/* virtio-blk request parsing and execution; see virtio_blk.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "virtio/virtio_blk.h"

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Copy len bytes starting skip bytes into iov into dst; the caller checked
 * that they exist. The guest may change them meanwhile: we use our copy. */
static void iov_gather(const struct iovec *iov, unsigned n, size_t skip, uint8_t *dst, size_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - skip;
		if (take > len)
			take = len;
		memcpy(dst, (const uint8_t *)iov[i].iov_base + skip, take);
		dst += take;
		len -= take;
		skip = 0;
	}
}

/* req->data = the bytes of iov[0..n) from skip on, less drop bytes at the end. */
static void data_slice(struct virtio_blk_req *req, const struct iovec *iov, unsigned n, size_t skip, size_t total,
		       size_t drop)
{
	size_t want = total - skip - drop;
	req->ndata = 0;
	req->data_len = want;
	for (unsigned i = 0; i < n && want; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - skip;
		if (take > want)
			take = want;
		req->data[req->ndata++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, take };
		want -= take;
		skip = 0;
	}
}

int virtio_blk_parse(const struct virtq_chain *c, struct virtio_blk_req *req, char *why, size_t whylen)
{
	uint8_t hdr[16];
	if (c->out_len < sizeof(hdr)) {
		snprintf(why, whylen, "virtio-blk request with a %u-byte header (needs 16 readable bytes)", c->out_len);
		return -EINVAL;
	}
	if (c->in_len < 1 || !c->in_num) {
		snprintf(why, whylen, "virtio-blk request without a writable status byte");
		return -EINVAL;
	}
	iov_gather(c->out_iov, c->out_num, 0, hdr, sizeof(hdr));
	req->type = get_le32(hdr);
	req->sector = get_le64(hdr + 8);
	const struct iovec *last = &c->in_iov[c->in_num - 1];
	req->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_GET_ID:
		data_slice(req, c->in_iov, c->in_num, 0, c->in_len, 1);
		break;
	case VIRTIO_BLK_T_OUT:
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		data_slice(req, c->out_iov, c->out_num, sizeof(hdr), c->out_len, 0);
		break;
	default: /* FLUSH and unknown types carry no data we use */
		req->ndata = 0;
		req->data_len = 0;
		break;
	}
	return 0;
}

/* Is [sector, sector + len) inside the disk, in whole sectors? */
static bool range_ok(const struct disk *d, uint64_t sector, uint64_t len)
{
	if (len % VIRTIO_BLK_SECTOR || sector > d->size / VIRTIO_BLK_SECTOR)
		return false;
	return len <= d->size - sector * VIRTIO_BLK_SECTOR;
}

/* DISCARD / WRITE_ZEROES: the data is an array of 16-byte segments
 * {le64 sector, le32 num_sectors, le32 flags (bit 0: unmap)}. */
static uint8_t blk_ranges(struct disk *d, const struct virtio_blk_params *p, struct virtio_blk_req *req)
{
	uint8_t seg[16];
	bool zeroes = req->type == VIRTIO_BLK_T_WRITE_ZEROES;
	if (!p->discard)
		return VIRTIO_BLK_S_UNSUPP;
	if (p->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (!req->data_len || req->data_len % sizeof(seg) || req->data_len / sizeof(seg) > VIRTIO_BLK_MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_UNSUPP;
	for (uint64_t off = 0; off < req->data_len; off += sizeof(seg)) {
		iov_gather(req->data, (unsigned)req->ndata, (size_t)off, seg, sizeof(seg));
		uint64_t sector = get_le64(seg);
		uint32_t n = get_le32(seg + 8), flags = get_le32(seg + 12);
		uint64_t len = (uint64_t)n * VIRTIO_BLK_SECTOR;
		/* Only the unmap flag exists, and only for write-zeroes. */
		if ((flags & ~1u) || (!zeroes && flags) || n > VIRTIO_BLK_MAX_DISCARD_SECTORS)
			return VIRTIO_BLK_S_UNSUPP;
		if (!range_ok(d, sector, len))
			return VIRTIO_BLK_S_IOERR;
		if (!len)
			continue;
		int r = zeroes ? disk_write_zeroes(d, sector * VIRTIO_BLK_SECTOR, len, flags & 1)
			       : disk_discard(d, sector * VIRTIO_BLK_SECTOR, len);
		if (r < 0)
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

uint32_t virtio_blk_execute(struct disk *d, const struct virtio_blk_params *p, struct virtio_blk_req *req)
{
	uint8_t st = VIRTIO_BLK_S_OK;
	uint32_t written = 0;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		if (!range_ok(d, req->sector, req->data_len))
			st = VIRTIO_BLK_S_IOERR;
		else if (disk_preadv(d, req->data, req->ndata, req->sector * VIRTIO_BLK_SECTOR) < 0)
			st = VIRTIO_BLK_S_IOERR;
		else
			written = (uint32_t)req->data_len;
		break;
	case VIRTIO_BLK_T_OUT:
		if (p->readonly || !range_ok(d, req->sector, req->data_len))
			st = VIRTIO_BLK_S_IOERR;
		else if (disk_pwritev(d, req->data, req->ndata, req->sector * VIRTIO_BLK_SECTOR) < 0)
			st = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (disk_flush(d) < 0)
			st = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		/* Up to 20 bytes, NUL-padded; not NUL-terminated when it is 20 long. */
		uint8_t id[VIRTIO_BLK_ID_BYTES] = { 0 };
		memcpy(id, p->serial, strnlen(p->serial, sizeof(id)));
		size_t left = sizeof(id);
		for (int i = 0; i < req->ndata && left; i++) {
			size_t n = req->data[i].iov_len < left ? req->data[i].iov_len : left;
			memcpy(req->data[i].iov_base, id + sizeof(id) - left, n);
			left -= n;
			written += (uint32_t)n;
		}
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = blk_ranges(d, p, req);
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	*req->status = st;
	return written + 1;
}

uint64_t virtio_blk_features(const struct virtio_blk_params *p)
{
	uint64_t f = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_TOPOLOGY;
	if (p->readonly)
		f |= VIRTIO_BLK_F_RO;
	else if (p->discard)
		f |= VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

void virtio_blk_config(const struct virtio_blk_params *p, uint64_t size, unsigned queue_size,
		       uint8_t cfg[VIRTIO_BLK_CFG_SIZE])
{
	memset(cfg, 0, VIRTIO_BLK_CFG_SIZE);
	put_le64(cfg + 0, size / VIRTIO_BLK_SECTOR);      /* capacity, in 512-byte sectors */
	put_le32(cfg + 12, queue_size - 2);               /* seg_max: room for header and status */
	put_le32(cfg + 20, p->block_size);                /* blk_size */
	cfg[24] = 0;                                      /* physical_block_exp: physical = logical */
	put_le16(cfg + 26, (uint16_t)(p->block_size / VIRTIO_BLK_SECTOR)); /* min_io_size, in sectors */
	put_le16(cfg + 34, 1);                            /* num_queues */
	put_le32(cfg + 36, VIRTIO_BLK_MAX_DISCARD_SECTORS); /* max_discard_sectors */
	put_le32(cfg + 40, VIRTIO_BLK_MAX_DISCARD_SEG);
	put_le32(cfg + 44, p->block_size / VIRTIO_BLK_SECTOR); /* discard_sector_alignment */
	put_le32(cfg + 48, VIRTIO_BLK_MAX_DISCARD_SECTORS); /* max_write_zeroes_sectors */
	put_le32(cfg + 52, VIRTIO_BLK_MAX_DISCARD_SEG);
	cfg[56] = 1;                                      /* write_zeroes_may_unmap */
}
