/* libFuzzer target: virtio-blk requests from a hostile guest.
 *
 * The input is one descriptor chain, already translated (the virtqueue has
 * its own target): byte 0 the number of device-readable buffers (1..8),
 * byte 1 the number of device-writable ones (0..8), byte 2 flags (bit 0
 * read-only disk, bit 1 no discard, bit 2 4 KiB blocks); then for each
 * buffer a u16 LE length, and for the readable ones that many bytes (the
 * first 16 of the first are the request header). Writable buffers are
 * separate heap blocks of exact size, so ASan reports any write past them.
 * The disk is a 256 KiB memfd, so the fuzzer never touches real files.
 * Beyond "no crash": a request the parser accepts always gets a status of
 * OK, IOERR or UNSUPP, and the byte count stays within the writable bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/virtio_blk.h"

#define DISK_SIZE (256u << 10)
#define MAX_BUFS 8

static struct disk disk;
static struct virtq_chain chain;
static struct virtio_blk_req req;

static int setup(void)
{
	int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0)
		abort();
	char path[64], err[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (disk_open(&disk, path, false, 512, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	close(fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static int ready;
	if (!ready)
		ready = !setup();
	if (len < 3)
		return 0;
	unsigned nout = in[0] % MAX_BUFS + 1, nin = in[1] % (MAX_BUFS + 1), flags = in[2];
	size_t pos = 3;
	uint8_t *bufs[2 * MAX_BUFS] = { 0 };
	memset(&chain, 0, sizeof(chain));
	chain.out_iov = chain.iov;
	chain.in_iov = chain.iov + nout;
	for (unsigned i = 0; i < nout + nin; i++) {
		size_t n = 0;
		if (pos + 2 <= len)
			n = (size_t)in[pos] | (size_t)in[pos + 1] << 8;
		pos += 2;
		n %= 20000;
		bufs[i] = malloc(n ? n : 1);
		if (i < nout) {
			size_t have = pos < len ? len - pos : 0;
			size_t take = have < n ? have : n;
			memset(bufs[i], 0, n ? n : 1);
			if (take)
				memcpy(bufs[i], in + pos, take);
			pos += take;
			chain.out_len += (uint32_t)n;
		} else {
			memset(bufs[i], 0xcc, n ? n : 1);
			chain.in_len += (uint32_t)n;
		}
		/* Zero-length buffers get no iovec, as in virtq_pop. */
		if (n)
			chain.iov[i < nout ? chain.out_num++ : nout + chain.in_num++] = (struct iovec){ bufs[i], n };
	}
	/* Pack the writable iovecs right after the readable ones. */
	memmove(chain.iov + chain.out_num, chain.iov + nout, chain.in_num * sizeof(struct iovec));
	chain.in_iov = chain.iov + chain.out_num;

	struct virtio_blk_params p = { .readonly = flags & 1, .discard = !(flags & 2),
				       .block_size = flags & 4 ? 4096 : 512, .serial = "FUZZ" };
	disk.readonly = p.readonly;
	char why[160];
	if (virtio_blk_parse(&chain, &req, why, sizeof(why)) == 0) {
		uint32_t w = virtio_blk_execute(&disk, &p, &req);
		if (*req.status > VIRTIO_BLK_S_UNSUPP || w > chain.in_len || w < 1)
			abort();
	} else if (!why[0]) {
		abort();
	}
	for (unsigned i = 0; i < nout + nin; i++)
		free(bufs[i]);
	return 0;
}
