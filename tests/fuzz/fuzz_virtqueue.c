/* libFuzzer target: a split virtqueue driven by a hostile guest.
 *
 * Guest RAM is 64 KiB in two regions that are contiguous in guest-physical
 * space ([0, 48K) and [48K, 64K)) but separate heap blocks of exact size, so
 * ASan reports any read or write outside RAM, including a buffer accepted
 * across the boundary between the two regions.
 *
 * Input:
 *   byte 0     queue size: < 0x80: 1 << (b % 16); else b - 0x80 (0..127, any)
 *   byte 1     bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 kick before
 *              DRIVER_OK, bit 3 ring addresses from bytes 2..7, bit 4 never
 *              set DRIVER_OK
 *   bytes 2..7 desc, avail, used guest addresses (u16 LE each), with bit 3;
 *              else desc at 0, avail after it, used after that (4-aligned)
 *   bytes 8..9 n, the length of the RAM image (u16 LE)
 *   then       n bytes copied to guest-physical 0
 *   then       4-byte operations (op, a, b, c), at most MAX_OPS, that play
 *              the device and the guest changing RAM between device steps;
 *   finally    up to DRAIN pops and pushes.
 * Beyond "no crash, no hang": pop returns only 1, 0 or -EIO; a popped chain
 * respects its limits and every iovec lies in one region (each is touched);
 * a broken queue has a reason and stays broken.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"
#include "x86/guest_mem.h"

#define R0_SIZE 0xc000u
#define R1_SIZE 0x4000u
#define RAM_SIZE (R0_SIZE + R1_SIZE)
#define MAX_OPS 1024
#define DRAIN 64
#define INFLIGHT 64

static uint8_t *r0, *r1;
static struct guest_mem gm;
static struct virtq_chain chain;

static void setup(void)
{
	/* Built by hand: guest_mem_init wants at least 2 MiB, and a small RAM
	 * makes the fuzzer's addresses land inside it often. */
	r0 = malloc(R0_SIZE);
	r1 = malloc(R1_SIZE);
	if (!r0 || !r1)
		abort();
	gm.base = r0;
	gm.size = RAM_SIZE;
	gm.fd = -1;
	gm.page_size = 4096;
	gm.nregions = 2;
	gm.region[0] = (struct guest_mem_region){ .gpa = 0, .size = R0_SIZE, .hva = r0 };
	gm.region[1] = (struct guest_mem_region){ .gpa = R0_SIZE, .size = R1_SIZE, .hva = r1 };
}

static void ram_write(uint64_t gpa, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len && gpa + i < RAM_SIZE; i++) {
		uint64_t a = gpa + i;
		if (a < R0_SIZE)
			r0[a] = src[i];
		else
			r1[a - R0_SIZE] = src[i];
	}
}

static int in_block(const uint8_t *p, size_t len, const uint8_t *block, size_t size)
{
	return p >= block && len <= size && (size_t)(p - block) <= size - len;
}

/* Check what pop returned, and touch each buffer's first and last byte so
 * ASan sees any iovec outside RAM. */
static void chain_check(const struct virtqueue *vq, const struct virtq_chain *c)
{
	if (c->head >= vq->size || c->out_num + c->in_num > VIRTQ_MAX_CHAIN)
		abort();
	if (c->out_iov != c->iov || c->in_iov != c->iov + c->out_num)
		abort();
	uint64_t out = 0, in = 0;
	for (unsigned i = 0; i < c->out_num + c->in_num; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;
		if (!len || !(in_block(p, len, r0, R0_SIZE) || in_block(p, len, r1, R1_SIZE)))
			abort();
		if (i < c->out_num) {
			out += len;
			volatile uint8_t x = p[0];
			x = p[len - 1];
			(void)x;
		} else {
			in += len;
			p[0] = 0x5a;
			p[len - 1] = 0xa5;
		}
	}
	if (out != c->out_len || in != c->in_len || out + in > UINT32_MAX)
		abort();
}

struct run {
	struct virtqueue vq;
	unsigned size;
	uint64_t desc, avail, used, features;
	uint16_t inflight[INFLIGHT];
	unsigned ninflight;
	int start;
};

static struct run r;

static void broken_check(const struct virtqueue *vq)
{
	if (vq->broken && strncmp(vq->reason, "virtqueue 0: ", 13) != 0)
		abort();
}

static void do_pop(struct run *r)
{
	bool was_broken = r->vq.broken;
	int rc = virtq_pop(&r->vq, &gm, &chain);
	if (rc != 1 && rc != 0 && rc != -EIO)
		abort();
	if (was_broken && rc != -EIO)
		abort();
	if (rc == -EIO && !r->vq.broken && r->vq.ready)
		abort(); /* every failure of a started queue is a reason */
	broken_check(&r->vq);
	if (rc == 1) {
		chain_check(&r->vq, &chain);
		if (r->ninflight < INFLIGHT)
			r->inflight[r->ninflight++] = chain.head;
	}
}

static void do_push(struct run *r, uint16_t raw_head, uint32_t len, bool raw)
{
	uint16_t head = raw_head;
	if (!raw) {
		if (!r->ninflight)
			return;
		head = r->inflight[--r->ninflight];
	}
	int rc = virtq_push(&r->vq, &gm, head, len);
	if (rc == 0 && (r->vq.broken || !r->vq.ready || head >= r->vq.size))
		abort();
}

static void queue_up(struct run *r, bool kick_early, bool start)
{
	virtq_init(&r->vq, 0);
	r->ninflight = 0;
	int rc = virtq_setup(&r->vq, &gm, r->size, r->desc, r->avail, r->used, r->features);
	if (rc && (rc != -EINVAL || !r->vq.broken))
		abort();
	broken_check(&r->vq);
	if (kick_early && virtq_kick(&r->vq) != -EIO)
		abort();
	if (start)
		virtq_start(&r->vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!r0)
		setup();
	if (size < 10)
		return 0;
	memset(r0, 0, R0_SIZE);
	memset(r1, 0, R1_SIZE);

	memset(&r, 0, sizeof(r));
	r.size = data[0] < 0x80 ? 1u << (data[0] % 16) : data[0] - 0x80u;
	uint8_t flags = data[1];
	r.features = ((flags & 1) ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0) |
		     ((flags & 2) ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0);
	if (flags & 8) {
		r.desc = data[2] | (unsigned)data[3] << 8;
		r.avail = data[4] | (unsigned)data[5] << 8;
		r.used = data[6] | (unsigned)data[7] << 8;
	} else {
		r.desc = 0;
		r.avail = 16ULL * r.size;
		r.used = (r.avail + 6 + 2ULL * r.size + 3) & ~3ULL;
	}
	size_t n = data[8] | (size_t)data[9] << 8;
	data += 10;
	size -= 10;
	if (n > size)
		n = size;
	ram_write(0, data, n);
	data += n;
	size -= n;

	queue_up(&r, flags & 4, !(flags & 16));

	for (unsigned k = 0; k < MAX_OPS && size >= 4; k++, data += 4, size -= 4) {
		uint8_t a = data[1], b = data[2], c = data[3];
		uint16_t ab = (uint16_t)(a | b << 8);
		switch (data[0] % 8) {
		case 0:
			do_pop(&r);
			break;
		case 1:
			do_push(&r, ab, (uint32_t)c << (a % 24), c & 1);
			break;
		case 2: /* the guest changes a byte of RAM between device steps */
			ram_write(ab, &c, 1);
			break;
		case 3: {
			bool ready = r.vq.ready && !r.vq.broken;
			if (virtq_should_notify(&r.vq, &gm) && !ready)
				abort();
			break;
		}
		case 4:
			virtq_disable_notify(&r.vq, &gm);
			break;
		case 5: {
			int rc = virtq_enable_notify(&r.vq, &gm);
			if (rc != 0 && rc != 1 && rc != -EIO)
				abort();
			break;
		}
		case 6:
			if (virtq_kick(&r.vq) == 0 && (!r.vq.ready || r.vq.broken))
				abort();
			broken_check(&r.vq);
			break;
		case 7: /* a device reset, then the same layout again */
			virtq_reset(&r.vq);
			if (r.vq.broken || r.vq.ready)
				abort();
			queue_up(&r, false, true);
			break;
		}
	}
	for (unsigned k = 0; k < DRAIN; k++) {
		do_pop(&r);
		do_push(&r, 0, 1, false);
		if (r.vq.broken || !r.vq.ready)
			break;
	}
	virtq_should_notify(&r.vq, &gm);
	return 0;
}
