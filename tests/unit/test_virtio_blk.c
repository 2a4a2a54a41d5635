/* virtio-blk requests against a real image file: what a guest reads and
 * writes lands at the right offsets, bad requests get an error status and
 * leave the image alone, chains that cannot be requests are refused, and the
 * image lock keeps a second writer out. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "virtio/virtio_blk.h"

#define IMG_SIZE (1u << 20)

static struct virtq_chain chain;
static struct virtio_blk_req req;

/* A chain of one header (readable), optional data, and a status byte. */
static uint8_t hdr[16], status, data[8192];

static void mkhdr(uint32_t type, uint64_t sector)
{
	memset(hdr, 0, sizeof(hdr));
	for (int i = 0; i < 4; i++)
		hdr[i] = (uint8_t)(type >> (8 * i));
	for (int i = 0; i < 8; i++)
		hdr[8 + i] = (uint8_t)(sector >> (8 * i));
}

/* out: header + data (if write) ; in: data (if read) + status */
static void mkchain(bool data_out, bool data_in, size_t len)
{
	memset(&chain, 0, sizeof(chain));
	chain.out_iov = chain.iov;
	unsigned n = 0;
	chain.iov[n++] = (struct iovec){ hdr, sizeof(hdr) };
	chain.out_len = sizeof(hdr);
	if (data_out && len) {
		chain.iov[n++] = (struct iovec){ data, len };
		chain.out_len += (uint32_t)len;
	}
	chain.out_num = n;
	chain.in_iov = chain.iov + n;
	if (data_in && len) {
		chain.iov[n++] = (struct iovec){ data, len };
		chain.in_len += (uint32_t)len;
	}
	chain.iov[n++] = (struct iovec){ &status, 1 };
	chain.in_len += 1;
	chain.in_num = n - chain.out_num;
}

static uint8_t run(struct disk *d, const struct virtio_blk_params *p, uint32_t *written)
{
	char why[160];
	status = 0xee;
	if (virtio_blk_parse(&chain, &req, why, sizeof(why)) < 0)
		return 0xff;
	*written = virtio_blk_execute(d, p, &req);
	return status;
}

int main(void)
{
	char path[] = "/tmp/kvmbox-blk-XXXXXX";
	int fd = mkstemp(path);
	CHECK("blk image created", fd >= 0 && ftruncate(fd, IMG_SIZE) == 0);
	close(fd);
	char err[400];
	struct disk d, d2;
	struct virtio_blk_params p = { .discard = true, .block_size = 512 };
	snprintf(p.serial, sizeof(p.serial), "SERIAL-1");
	CHECK("blk open", disk_open(&d, path, false, 512, err, sizeof(err)) == 0 && d.size == IMG_SIZE);

	/* The lock: a second writer, and a reader, are refused while d is open. */
	CHECK("blk second writer refused", disk_open(&d2, path, false, 512, err, sizeof(err)) < 0 &&
						   strstr(err, "is in use by another VM"));
	CHECK("blk reader refused while written", disk_open(&d2, path, true, 512, err, sizeof(err)) < 0 &&
							  strstr(err, "in use by another VM"));

	uint32_t w;
	/* Write 4 KiB at sector 8, read it back through the file and through a request. */
	for (unsigned i = 0; i < 4096; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	mkhdr(VIRTIO_BLK_T_OUT, 8);
	mkchain(true, false, 4096);
	CHECK("blk write ok", run(&d, &p, &w) == VIRTIO_BLK_S_OK && w == 1);
	uint8_t back[4096];
	int rfd = open(path, O_RDONLY);
	CHECK("blk write lands at sector 8", pread(rfd, back, 4096, 8 * 512) == 4096 && !memcmp(back, data, 4096));
	memset(data, 0, 4096);
	mkhdr(VIRTIO_BLK_T_IN, 8);
	mkchain(false, true, 4096);
	CHECK("blk read ok", run(&d, &p, &w) == VIRTIO_BLK_S_OK && w == 4097);
	CHECK("blk read returns the bytes", !memcmp(back, data, 4096));

	/* Out of range, partly out of range, huge sector (overflow), misaligned length. */
	mkhdr(VIRTIO_BLK_T_IN, IMG_SIZE / 512);
	mkchain(false, true, 512);
	CHECK("blk read past end is IOERR", run(&d, &p, &w) == VIRTIO_BLK_S_IOERR && w == 1);
	mkhdr(VIRTIO_BLK_T_OUT, IMG_SIZE / 512 - 1);
	mkchain(true, false, 1024);
	CHECK("blk write across end is IOERR", run(&d, &p, &w) == VIRTIO_BLK_S_IOERR);
	mkhdr(VIRTIO_BLK_T_OUT, UINT64_MAX / 256);
	mkchain(true, false, 512);
	CHECK("blk sector overflow is IOERR", run(&d, &p, &w) == VIRTIO_BLK_S_IOERR);
	mkhdr(VIRTIO_BLK_T_OUT, 0);
	mkchain(true, false, 100);
	CHECK("blk misaligned length is IOERR", run(&d, &p, &w) == VIRTIO_BLK_S_IOERR);
	CHECK("blk bad writes left the image alone", pread(rfd, back, 512, 0) == 512 && back[0] == 0 &&
							     pread(rfd, back, 512, IMG_SIZE - 512) == 512 && back[511] == 0);

	mkhdr(VIRTIO_BLK_T_FLUSH, 0);
	mkchain(false, false, 0);
	CHECK("blk flush ok", run(&d, &p, &w) == VIRTIO_BLK_S_OK);

	mkhdr(VIRTIO_BLK_T_GET_ID, 0);
	mkchain(false, true, 20);
	CHECK("blk get_id", run(&d, &p, &w) == VIRTIO_BLK_S_OK && w == 21 && !memcmp(data, "SERIAL-1\0", 9));

	mkhdr(99, 0);
	mkchain(false, false, 0);
	CHECK("blk unknown type is UNSUPP", run(&d, &p, &w) == VIRTIO_BLK_S_UNSUPP);

	/* Write-zeroes over the 4 KiB written above, then discard. */
	uint8_t seg[16] = { 0 };
	seg[0] = 8;     /* sector 8 */
	seg[8] = 8;     /* 8 sectors */
	memcpy(data, seg, 16);
	mkhdr(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	mkchain(true, false, 16);
	CHECK("blk write-zeroes ok", run(&d, &p, &w) == VIRTIO_BLK_S_OK);
	memset(back, 0xaa, 4096);
	CHECK("blk write-zeroes zeroed", pread(rfd, back, 4096, 8 * 512) == 4096 && back[0] == 0 && back[4095] == 0 &&
						 !memcmp(back, back + 1, 4095));
	seg[12] = 2; /* an undefined flag */
	memcpy(data, seg, 16);
	CHECK("blk write-zeroes unknown flag is UNSUPP", run(&d, &p, &w) == VIRTIO_BLK_S_UNSUPP);
	seg[12] = 0;
	seg[0] = 0xff, seg[1] = 0xff; /* past the end */
	memcpy(data, seg, 16);
	mkhdr(VIRTIO_BLK_T_DISCARD, 0);
	mkchain(true, false, 16);
	CHECK("blk discard past end is IOERR", run(&d, &p, &w) == VIRTIO_BLK_S_IOERR);
	mkchain(true, false, 20);
	CHECK("blk discard ragged segment is UNSUPP", run(&d, &p, &w) == VIRTIO_BLK_S_UNSUPP);

	/* Chains that cannot be requests. */
	char why[160];
	mkhdr(VIRTIO_BLK_T_IN, 0);
	mkchain(false, true, 512);
	chain.out_len = 8;
	chain.iov[0].iov_len = 8;
	CHECK("blk short header refused", virtio_blk_parse(&chain, &req, why, sizeof(why)) < 0 && strstr(why, "header"));
	mkchain(true, false, 512);
	chain.in_num = 0;
	chain.in_len = 0;
	CHECK("blk no status refused", virtio_blk_parse(&chain, &req, why, sizeof(why)) < 0 && strstr(why, "status"));

	/* Read-only: writes fail, the file is untouched, RO is offered. */
	disk_close(&d);
	CHECK("blk lock released on close", disk_open(&d, path, true, 512, err, sizeof(err)) == 0);
	CHECK("blk two readers share", disk_open(&d2, path, true, 512, err, sizeof(err)) == 0);
	disk_close(&d2);
	struct virtio_blk_params ro = p;
	ro.readonly = true;
	memset(data, 0x55, 512);
	mkhdr(VIRTIO_BLK_T_OUT, 0);
	mkchain(true, false, 512);
	CHECK("blk write to read-only is IOERR", run(&d, &ro, &w) == VIRTIO_BLK_S_IOERR);
	CHECK("blk read-only image untouched", pread(rfd, back, 512, 0) == 512 && back[0] == 0);
	CHECK("blk read-only offers RO, no discard",
	      (virtio_blk_features(&ro) & VIRTIO_BLK_F_RO) && !(virtio_blk_features(&ro) & VIRTIO_BLK_F_DISCARD));

	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	struct virtio_blk_params big = p;
	big.block_size = 4096;
	virtio_blk_config(&big, IMG_SIZE, 256, cfg);
	CHECK("blk config capacity in sectors", cfg[0] == 0x00 && cfg[1] == 0x08 && cfg[2] == 0);
	CHECK("blk config block size", cfg[20] == 0x00 && cfg[21] == 0x10);
	CHECK("blk config seg_max", cfg[12] == 254);
	disk_close(&d);
	close(rfd);

	/* Bad images: missing, a directory, empty. */
	CHECK("blk missing image", disk_open(&d, "/nonexistent/x.img", false, 512, err, sizeof(err)) < 0 &&
					   strstr(err, "No such file"));
	CHECK("blk directory refused", disk_open(&d, "/tmp", false, 512, err, sizeof(err)) < 0 &&
					       strstr(err, "not a disk image"));
	CHECK("blk empty image refused", truncate(path, 0) == 0 && disk_open(&d, path, false, 512, err, sizeof(err)) < 0 &&
						 strstr(err, "empty"));
	unlink(path);
	return CHECK_DONE();
}
