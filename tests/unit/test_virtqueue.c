/* Split virtqueues: rings built in guest RAM the way a Linux driver builds
 * them, popped and pushed by the device side; notification decisions with
 * and without event index, across the 16-bit wrap; and each way a hostile
 * driver can break the rules, which must break the queue with a reason and
 * never touch memory outside guest RAM (ASan watches: guest RAM is its own
 * heap block). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "virtio/virtqueue.h"
#include "x86/guest_mem.h"

#define RAM_SIZE (16u << 20)
#define DESC_GPA 0x10000ULL  /* room for 32768 descriptors up to 0x90000 */
#define AVAIL_GPA 0x90000ULL
#define USED_GPA 0xa0000ULL  /* room for 32768 used elements up to 0xe0006 */
#define TABLE_GPA 0xf0000ULL /* indirect tables */
#define BUF_GPA 0x100000ULL  /* buffers */

#define F_EVENT_IDX (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT (1ULL << VIRTIO_RING_F_INDIRECT_DESC)

static uint8_t *ram;
static struct guest_mem gm;

/* The driver's side of one queue. */
struct drv {
	unsigned size;
	uint16_t avail_idx;
};

static void *gpa(uint64_t a)
{
	return ram + a;
}

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	struct vring_desc *d = (struct vring_desc *)gpa(table) + i;
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void desc_set(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(DESC_GPA, i, addr, len, flags, next);
}

static struct vring_avail *avail(void)
{
	return gpa(AVAIL_GPA);
}

static struct vring_used *used(void)
{
	return gpa(USED_GPA);
}

/* Make head available and publish the new idx, as virtqueue_add does. */
static void drv_add(struct drv *d, uint16_t head)
{
	avail()->ring[d->avail_idx & (d->size - 1)] = head;
	d->avail_idx++;
	__atomic_store_n(&avail()->idx, d->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t *used_event(const struct drv *d)
{
	return &avail()->ring[d->size];
}

static uint16_t *avail_event(const struct drv *d)
{
	return (uint16_t *)(void *)&used()->ring[d->size];
}

/* A fresh, started queue over clean rings. */
static void queue_new(struct virtqueue *vq, struct drv *d, unsigned size, uint64_t features)
{
	memset(gpa(DESC_GPA), 0, BUF_GPA - DESC_GPA);
	d->size = size;
	d->avail_idx = 0;
	virtq_init(vq, 0);
	if (virtq_setup(vq, &gm, size, DESC_GPA, AVAIL_GPA, USED_GPA, features) ||
	    virtq_start(vq)) {
		printf("not ok queue setup: %s\n", vq->reason);
		exit(1);
	}
}

static void test_setup(void)
{
	struct virtqueue vq;
	virtq_init(&vq, 3);

	CHECK("setup size 256", virtq_setup(&vq, &gm, 256, DESC_GPA, AVAIL_GPA, USED_GPA, 0) == 0 &&
					!vq.broken && vq.size == 256 && !vq.ready);
	CHECK("setup max size 32768",
	      virtq_setup(&vq, &gm, 32768, DESC_GPA, AVAIL_GPA, USED_GPA, 0) == 0);
	CHECK("setup size 1", virtq_setup(&vq, &gm, 1, DESC_GPA, AVAIL_GPA, USED_GPA, 0) == 0);
	CHECK("setup features", virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA,
					    F_EVENT_IDX | F_INDIRECT) == 0 &&
					vq.event_idx && vq.indirect);

	static const unsigned bad_sizes[] = { 0, 3, 100, 65536, 32769, 49152 };
	for (unsigned k = 0; k < sizeof(bad_sizes) / sizeof(bad_sizes[0]); k++) {
		char name[64];
		virtq_reset(&vq);
		snprintf(name, sizeof(name), "setup refuses size %u", bad_sizes[k]);
		CHECK(name, virtq_setup(&vq, &gm, bad_sizes[k], DESC_GPA, AVAIL_GPA, USED_GPA, 0) ==
					-EINVAL &&
				    vq.broken && strstr(vq.reason, "power of two") &&
				    strstr(vq.reason, "virtqueue 3:"));
		CHECK("setup refused: start fails", virtq_start(&vq) == -EIO);
	}

	virtq_reset(&vq);
	CHECK("setup desc misaligned",
	      virtq_setup(&vq, &gm, 8, DESC_GPA + 8, AVAIL_GPA, USED_GPA, 0) == -EINVAL &&
		      strstr(vq.reason, "descriptor table") && strstr(vq.reason, "aligned"));
	virtq_reset(&vq);
	CHECK("setup avail misaligned",
	      virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA + 1, USED_GPA, 0) == -EINVAL &&
		      strstr(vq.reason, "available ring") && strstr(vq.reason, "aligned"));
	virtq_reset(&vq);
	CHECK("setup used misaligned",
	      virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, 0) == -EINVAL &&
		      strstr(vq.reason, "used ring") && strstr(vq.reason, "aligned"));
	virtq_reset(&vq);
	/* The table starts inside RAM but its last descriptors do not. */
	CHECK("setup desc runs past RAM",
	      virtq_setup(&vq, &gm, 256, RAM_SIZE - 16 * 128, AVAIL_GPA, USED_GPA, 0) == -EINVAL &&
		      strstr(vq.reason, "outside guest RAM"));
	virtq_reset(&vq);
	/* 6 + 2 * 8 = 22 bytes: 20 fit, the used_event slot does not. */
	CHECK("setup avail event slot past RAM",
	      virtq_setup(&vq, &gm, 8, DESC_GPA, RAM_SIZE - 20, USED_GPA, 0) == -EINVAL &&
		      strstr(vq.reason, "available ring") && strstr(vq.reason, "outside guest RAM"));
	virtq_reset(&vq);
	CHECK("setup used in the PCI hole",
	      virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA, 0xfee00000ULL, 0) == -EINVAL &&
		      strstr(vq.reason, "used ring") && strstr(vq.reason, "outside guest RAM"));
	virtq_reset(&vq);
	CHECK("setup address wraps",
	      virtq_setup(&vq, &gm, 8, 0xfffffffffffffff0ULL, AVAIL_GPA, USED_GPA, 0) == -EINVAL &&
		      strstr(vq.reason, "outside guest RAM"));
	CHECK("setup on a broken queue refused",
	      virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 0) == -EIO && vq.broken);
	virtq_reset(&vq);
	CHECK("reset clears broken", !vq.broken && vq.reason[0] == 0 && vq.index == 3);
	CHECK("start without setup", virtq_start(&vq) == -EINVAL);
}

static void test_before_driver_ok(void)
{
	struct virtqueue vq;
	struct drv d = { .size = 8 };
	struct virtq_chain c;

	memset(gpa(DESC_GPA), 0, BUF_GPA - DESC_GPA);
	virtq_init(&vq, 1);
	CHECK("early: setup", virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 0) == 0);
	desc_set(0, BUF_GPA, 64, 0, 0);
	drv_add(&d, 0);
	CHECK("early: pop before DRIVER_OK fails", virtq_pop(&vq, &gm, &c) == -EIO && !vq.broken);
	CHECK("early: push before DRIVER_OK fails", virtq_push(&vq, &gm, 0, 0) == -EIO &&
							    used()->idx == 0);
	CHECK("early: no interrupt before DRIVER_OK", !virtq_should_notify(&vq, &gm));
	CHECK("early: enable_notify before DRIVER_OK fails", virtq_enable_notify(&vq, &gm) == -EIO);
	CHECK("early: kick before DRIVER_OK breaks", virtq_kick(&vq) == -EIO && vq.broken &&
							     strstr(vq.reason, "DRIVER_OK"));
	CHECK("early: start after break fails", virtq_start(&vq) == -EIO);
	CHECK("early: pop after break fails", virtq_pop(&vq, &gm, &c) == -EIO);

	virtq_reset(&vq);
	CHECK("early: setup after reset",
	      virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 0) == 0);
	CHECK("early: start", virtq_start(&vq) == 0 && vq.ready);
	CHECK("early: kick after DRIVER_OK", virtq_kick(&vq) == 0);
	CHECK("early: pop after DRIVER_OK", virtq_pop(&vq, &gm, &c) == 1 && c.head == 0 &&
						    c.out_num == 1 && c.out_len == 64);
}

static void test_simple(void)
{
	struct virtqueue vq;
	struct drv d;
	struct virtq_chain c;
	queue_new(&vq, &d, 16, 0);

	CHECK("simple: empty queue", virtq_pop(&vq, &gm, &c) == 0);
	desc_set(5, BUF_GPA, 100, 0, 0);
	drv_add(&d, 5);
	CHECK("simple: pop one", virtq_pop(&vq, &gm, &c) == 1);
	CHECK("simple: head", c.head == 5);
	CHECK("simple: one readable", c.out_num == 1 && c.in_num == 0 && c.out_len == 100 &&
					      c.in_len == 0);
	CHECK("simple: iov is the buffer",
	      c.out_iov[0].iov_base == gpa(BUF_GPA) && c.out_iov[0].iov_len == 100);
	CHECK("simple: then empty", virtq_pop(&vq, &gm, &c) == 0);
	CHECK("simple: push", virtq_push(&vq, &gm, 5, 0) == 0);
	CHECK("simple: used idx", used()->idx == 1);
	CHECK("simple: used elem", used()->ring[0].id == 5 && used()->ring[0].len == 0);
	CHECK("simple: push bad head", virtq_push(&vq, &gm, 16, 0) == -EINVAL && !vq.broken &&
					       used()->idx == 1);

	/* A request as virtio-blk makes it: header (read), data (write),
	 * status (write), chained out of order in the table. */
	desc_set(2, BUF_GPA + 0x1000, 16, VRING_DESC_F_NEXT, 9);
	desc_set(9, BUF_GPA + 0x2000, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
	desc_set(0, BUF_GPA + 0x3000, 1, VRING_DESC_F_WRITE, 0);
	drv_add(&d, 2);
	CHECK("rw: pop", virtq_pop(&vq, &gm, &c) == 1 && c.head == 2);
	CHECK("rw: counts", c.out_num == 1 && c.in_num == 2);
	CHECK("rw: lengths", c.out_len == 16 && c.in_len == 4097);
	CHECK("rw: out iov", c.out_iov[0].iov_base == gpa(BUF_GPA + 0x1000) &&
				     c.out_iov[0].iov_len == 16);
	CHECK("rw: in iovs", c.in_iov == c.iov + 1 && c.in_iov[0].iov_base == gpa(BUF_GPA + 0x2000) &&
				     c.in_iov[0].iov_len == 4096 &&
				     c.in_iov[1].iov_base == gpa(BUF_GPA + 0x3000) &&
				     c.in_iov[1].iov_len == 1);
	CHECK("rw: push", virtq_push(&vq, &gm, 2, 4097) == 0 && used()->idx == 2 &&
				  used()->ring[1].id == 2 && used()->ring[1].len == 4097);

	/* Only writable buffers (a virtio-rng or rx request). */
	desc_set(3, BUF_GPA, 32, VRING_DESC_F_WRITE, 0);
	drv_add(&d, 3);
	CHECK("write only", virtq_pop(&vq, &gm, &c) == 1 && c.out_num == 0 && c.in_num == 1 &&
				    c.in_iov == c.iov && c.in_len == 32);

	/* Zero-length descriptors are allowed: checked, but no iovec. */
	desc_set(4, BUF_GPA, 0, VRING_DESC_F_NEXT, 6);
	desc_set(6, BUF_GPA, 8, VRING_DESC_F_NEXT, 7);
	desc_set(7, 0xdead00000000ULL, 0, VRING_DESC_F_WRITE, 0);
	drv_add(&d, 4);
	CHECK("zero length", virtq_pop(&vq, &gm, &c) == 1 && c.out_num == 1 && c.in_num == 0 &&
				     c.out_len == 8 && !vq.broken);

	/* The last byte of RAM is a valid buffer. */
	desc_set(8, RAM_SIZE - 1, 1, VRING_DESC_F_WRITE, 0);
	drv_add(&d, 8);
	CHECK("last byte of RAM", virtq_pop(&vq, &gm, &c) == 1 &&
					  c.in_iov[0].iov_base == gpa(RAM_SIZE - 1));

	/* A batch: the device sees all of it, in order. */
	for (unsigned i = 0; i < 16; i++) {
		desc_set(i, BUF_GPA + i, 1, 0, 0);
		drv_add(&d, (uint16_t)(15 - i));
	}
	int ok = 1;
	for (unsigned i = 0; i < 16; i++)
		ok &= virtq_pop(&vq, &gm, &c) == 1 && c.head == 15 - i;
	CHECK("full ring in order", ok);
	CHECK("full ring then empty", virtq_pop(&vq, &gm, &c) == 0);

	struct virtq_chain *copy = malloc(sizeof(*copy));
	desc_set(1, BUF_GPA, 4, VRING_DESC_F_NEXT, 2);
	desc_set(2, BUF_GPA + 8, 4, VRING_DESC_F_WRITE, 0);
	drv_add(&d, 1);
	CHECK("copy: pop", virtq_pop(&vq, &gm, &c) == 1);
	virtq_chain_copy(copy, &c);
	CHECK("copy: pointers into the copy", copy->out_iov == copy->iov &&
						      copy->in_iov == copy->iov + 1 &&
						      copy->in_iov[0].iov_base == gpa(BUF_GPA + 8));
	free(copy);
}

static void test_indirect(void)
{
	struct virtqueue vq;
	struct drv d;
	struct virtq_chain c;
	queue_new(&vq, &d, 8, F_INDIRECT);

	/* As Linux builds it: one ring descriptor, the whole request in a
	 * table chained 0, 1, 2. */
	desc_at(TABLE_GPA, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc_at(TABLE_GPA, 1, BUF_GPA + 0x1000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc_at(TABLE_GPA, 2, BUF_GPA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
	desc_set(3, TABLE_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 3);
	CHECK("indirect: pop", virtq_pop(&vq, &gm, &c) == 1 && c.head == 3);
	CHECK("indirect: counts", c.out_num == 1 && c.in_num == 2 && c.out_len == 16 &&
					  c.in_len == 513);
	CHECK("indirect: iovs", c.out_iov[0].iov_base == gpa(BUF_GPA) &&
					c.in_iov[0].iov_base == gpa(BUF_GPA + 0x1000) &&
					c.in_iov[1].iov_base == gpa(BUF_GPA + 0x2000));
	CHECK("indirect: push", virtq_push(&vq, &gm, 3, 513) == 0 && used()->ring[0].id == 3);

	/* Direct descriptors, then an indirect table that ends the chain; the
	 * WRITE flag on the indirect descriptor itself means nothing. A
	 * misaligned table address is fine: only the length must be whole. */
	desc_at(TABLE_GPA + 0x808, 0, BUF_GPA + 0x3000, 8, VRING_DESC_F_WRITE, 0);
	desc_set(0, BUF_GPA + 0x4000, 24, VRING_DESC_F_NEXT, 1);
	desc_set(1, TABLE_GPA + 0x808, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	drv_add(&d, 0);
	CHECK("mixed: pop", virtq_pop(&vq, &gm, &c) == 1 && c.head == 0 && c.out_num == 1 &&
				    c.in_num == 1 && c.out_len == 24 && c.in_len == 8 &&
				    c.in_iov[0].iov_base == gpa(BUF_GPA + 0x3000));

	/* A table may be longer than the queue (Linux does this for large
	 * requests); its entries count against VIRTQ_MAX_CHAIN instead. */
	for (unsigned i = 0; i < 100; i++)
		desc_at(TABLE_GPA, i, BUF_GPA + 16 * i, 16,
			(uint16_t)(i < 99 ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	desc_set(2, TABLE_GPA, 100 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 2);
	CHECK("indirect longer than the queue", virtq_pop(&vq, &gm, &c) == 1 && c.out_num == 100 &&
							c.out_len == 1600);
	/* A table chain may stop before the table's end. */
	desc_at(TABLE_GPA, 0, BUF_GPA, 16, 0, 0);
	drv_add(&d, 2);
	CHECK("indirect chain shorter than its table",
	      virtq_pop(&vq, &gm, &c) == 1 && c.out_num == 1 && !vq.broken);
}

static void test_notify(void)
{
	struct virtqueue vq;
	struct drv d;
	struct virtq_chain c;

	/* Without event index: the NO_INTERRUPT flag decides. */
	queue_new(&vq, &d, 8, 0);
	desc_set(0, BUF_GPA, 8, 0, 0);
	CHECK("flags: nothing pushed, no interrupt", !virtq_should_notify(&vq, &gm));
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("flags: interrupt", virtq_should_notify(&vq, &gm));
	CHECK("flags: not twice for one push", !virtq_should_notify(&vq, &gm));
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("flags: NO_INTERRUPT respected", !virtq_should_notify(&vq, &gm));

	virtq_disable_notify(&vq, &gm);
	CHECK("flags: disable sets NO_NOTIFY", used()->flags == VRING_USED_F_NO_NOTIFY);
	CHECK("flags: enable on an empty queue", virtq_enable_notify(&vq, &gm) == 0 &&
							 used()->flags == 0);
	virtq_disable_notify(&vq, &gm);
	drv_add(&d, 0); /* arrives while the device drains: no kick */
	CHECK("flags: enable sees the late buffer", virtq_enable_notify(&vq, &gm) == 1);
	CHECK("flags: and it pops", virtq_pop(&vq, &gm, &c) == 1);

	/* With event index: used_event decides, the flags are ignored. */
	queue_new(&vq, &d, 8, F_EVENT_IDX);
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	desc_set(0, BUF_GPA, 8, 0, 0);
	*used_event(&d) = 0; /* interrupt when used idx passes 0 */
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("event: interrupt at used_event 0", virtq_should_notify(&vq, &gm));
	*used_event(&d) = 2; /* hear once the entry at used idx 2 is filled */
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("event: not yet at used idx 2", !virtq_should_notify(&vq, &gm));
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("event: interrupt at used idx 3", virtq_should_notify(&vq, &gm));
	*used_event(&d) = 1; /* already passed: no interrupt until it wraps */
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("event: past used_event, no interrupt", !virtq_should_notify(&vq, &gm));
	/* Several pushes in one batch that cross used_event: one interrupt. */
	*used_event(&d) = 5;
	for (int k = 0; k < 3; k++) {
		drv_add(&d, 0);
		virtq_pop(&vq, &gm, &c);
		virtq_push(&vq, &gm, 0, 0);
	}
	CHECK("event: batch crossing used_event", virtq_should_notify(&vq, &gm));

	virtq_disable_notify(&vq, &gm);
	CHECK("event: disable leaves flags alone", used()->flags == 0);
	CHECK("event: enable writes avail_event", virtq_enable_notify(&vq, &gm) == 0 &&
							  *avail_event(&d) == d.avail_idx);
	drv_add(&d, 0);
	CHECK("event: enable sees a new buffer", virtq_enable_notify(&vq, &gm) == 1);

	/* Around the wrap of the 16-bit indices: run the ring to 65533. */
	queue_new(&vq, &d, 8, F_EVENT_IDX);
	desc_set(0, BUF_GPA, 8, 0, 0);
	*used_event(&d) = 0;
	int ok = 1;
	while (d.avail_idx != 65533) {
		drv_add(&d, 0);
		ok &= virtq_pop(&vq, &gm, &c) == 1;
		ok &= virtq_push(&vq, &gm, 0, 0) == 0;
	}
	virtq_should_notify(&vq, &gm);
	CHECK("wrap: 65533 requests", ok && vq.used_idx == 65533 && used()->idx == 65533);
	*used_event(&d) = 65535; /* interrupt once used idx passes 65535 */
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("wrap: 65534 no interrupt", !virtq_should_notify(&vq, &gm));
	/* Two more: 65535 and 0; used_event 65535 lies in [65534, 0). */
	for (int k = 0; k < 2; k++) {
		drv_add(&d, 0);
		ok &= virtq_pop(&vq, &gm, &c) == 1;
		virtq_push(&vq, &gm, 0, 0);
	}
	CHECK("wrap: indices wrapped", ok && used()->idx == 0 && avail()->idx == 0 &&
					       vq.last_avail_idx == 0);
	CHECK("wrap: interrupt across 65535 -> 0", virtq_should_notify(&vq, &gm));
	*used_event(&d) = 0;
	drv_add(&d, 0);
	virtq_pop(&vq, &gm, &c);
	virtq_push(&vq, &gm, 0, 0);
	CHECK("wrap: interrupt at used_event 0 after the wrap", virtq_should_notify(&vq, &gm));
	CHECK("wrap: enable_notify after the wrap", virtq_enable_notify(&vq, &gm) == 0 &&
							    *avail_event(&d) == 1);

	CHECK("need_event: inside", virtq_need_event(5, 6, 5));
	CHECK("need_event: before", !virtq_need_event(5, 5, 4));
	CHECK("need_event: after", !virtq_need_event(5, 7, 6));
	CHECK("need_event: wrap inside", virtq_need_event(65535, 1, 65534));
	CHECK("need_event: wrap at 0", virtq_need_event(0, 1, 65535));
	CHECK("need_event: wrap outside", !virtq_need_event(1, 1, 65535));
	CHECK("need_event: no progress", !virtq_need_event(3, 3, 3));
}

/* A hostile ring must fail the pop, mark the queue broken with words that
 * name the problem, and keep failing. */
static void expect_broken(const char *name, struct virtqueue *vq, const char *words)
{
	struct virtq_chain c;
	char buf[160];
	int rc = virtq_pop(vq, &gm, &c);
	snprintf(buf, sizeof(buf), "%s: pop fails", name);
	CHECK(buf, rc == -EIO);
	snprintf(buf, sizeof(buf), "%s: broken with the reason", name);
	CHECK(buf, vq->broken && strstr(vq->reason, words));
	if (!strstr(vq->reason, words))
		printf("# reason: %s\n", vq->reason);
	rc = virtq_pop(vq, &gm, &c);
	snprintf(buf, sizeof(buf), "%s: later pops fail", name);
	CHECK(buf, rc == -EIO);
	snprintf(buf, sizeof(buf), "%s: pushes and interrupts stop", name);
	uint16_t before = used()->idx;
	CHECK(buf, virtq_push(vq, &gm, 0, 0) == -EIO && used()->idx == before &&
			   !virtq_should_notify(vq, &gm) && virtq_enable_notify(vq, &gm) == -EIO &&
			   virtq_kick(vq) == -EIO);
}

static void test_hostile(void)
{
	struct virtqueue vq;
	struct drv d;

	queue_new(&vq, &d, 8, 0);
	desc_set(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	desc_set(1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	drv_add(&d, 0);
	expect_broken("loop of two", &vq, "(a loop)");

	queue_new(&vq, &d, 8, 0);
	desc_set(3, BUF_GPA, 8, VRING_DESC_F_NEXT, 3);
	drv_add(&d, 3);
	expect_broken("self loop", &vq, "loop");

	queue_new(&vq, &d, 4, 0);
	for (unsigned i = 0; i < 4; i++)
		desc_set(i, BUF_GPA, 8, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 4));
	drv_add(&d, 0);
	expect_broken("chain longer than the queue", &vq, "longer than the queue size 4");

	/* A chain of exactly the queue size is fine. */
	queue_new(&vq, &d, 4, 0);
	for (unsigned i = 0; i < 4; i++)
		desc_set(i, BUF_GPA, 8, (uint16_t)(i < 3 ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	drv_add(&d, 0);
	struct virtq_chain c;
	CHECK("chain as long as the queue", virtq_pop(&vq, &gm, &c) == 1 && c.out_num == 4);

	queue_new(&vq, &d, 2048, 0);
	for (unsigned i = 0; i < 2048; i++)
		desc_set(i, BUF_GPA, 8, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	drv_add(&d, 0);
	expect_broken("chain over VIRTQ_MAX_CHAIN", &vq, "more than 1024 descriptors");

	queue_new(&vq, &d, 8, 0);
	desc_set(0, RAM_SIZE - 100, 4096, 0, 0);
	drv_add(&d, 0);
	expect_broken("buffer runs past RAM", &vq, "descriptor 0 points outside guest RAM");

	queue_new(&vq, &d, 8, 0);
	desc_set(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 5);
	desc_set(5, 0xffff0000ULL, 4096, VRING_DESC_F_WRITE, 0);
	drv_add(&d, 0);
	expect_broken("buffer in the PCI hole", &vq,
		      "descriptor 5 points outside guest RAM (0xffff0000+4096)");

	queue_new(&vq, &d, 8, 0);
	desc_set(0, 0xfffffffffffff000ULL, 0x2000, 0, 0);
	drv_add(&d, 0);
	expect_broken("addr + len wraps", &vq, "outside guest RAM");

	queue_new(&vq, &d, 8, 0);
	desc_set(0, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc_set(1, BUF_GPA, 8, 0, 0);
	drv_add(&d, 0);
	expect_broken("readable after writable", &vq, "wrong direction");

	/* Even a zero-length readable descriptor must not follow a writable. */
	queue_new(&vq, &d, 8, 0);
	desc_set(0, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc_set(1, BUF_GPA, 0, 0, 0);
	drv_add(&d, 0);
	expect_broken("zero-length readable after writable", &vq, "wrong direction");

	/* 257 descriptors of all 16 MiB of RAM: over 4 GiB in total. */
	queue_new(&vq, &d, 512, 0);
	for (unsigned i = 0; i < 300; i++)
		desc_set(i, 0, RAM_SIZE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, (uint16_t)(i + 1));
	drv_add(&d, 0);
	expect_broken("length overflow", &vq, "length overflow");

	queue_new(&vq, &d, 8, 0);
	desc_set(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 8);
	drv_add(&d, 0);
	expect_broken("next out of range", &vq, "descriptor 0: next index 8 is out of range");

	queue_new(&vq, &d, 8, 0);
	drv_add(&d, 8);
	expect_broken("head out of range", &vq, "names descriptor 8");

	queue_new(&vq, &d, 8, 0);
	desc_set(0, BUF_GPA, 8, 0, 0);
	avail()->idx = 9;
	expect_broken("avail idx jump", &vq, "avail idx jumped by 9");

	queue_new(&vq, &d, 8, 0);
	avail()->idx = 65535; /* backwards by one is a jump by 65535 */
	expect_broken("avail idx backwards", &vq, "avail idx jumped by 65535");

	/* Indirect tables. */
	queue_new(&vq, &d, 8, 0);
	desc_at(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	desc_set(0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 0);
	expect_broken("indirect not negotiated", &vq, "not negotiated");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_at(TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
	desc_at(TABLE_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	desc_at(TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	desc_set(0, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 0);
	expect_broken("nested indirect", &vq, "nested indirect");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_set(0, TABLE_GPA, 24, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 0);
	expect_broken("indirect length not a multiple of 16", &vq, "24 bytes, not a nonzero multiple of 16");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_set(0, TABLE_GPA, 0, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 0);
	expect_broken("empty indirect table", &vq, "multiple of 16");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_set(0, 0, (VIRTQ_MAX_SIZE + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 0);
	expect_broken("indirect table too big", &vq, "entries, more than 32768");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_at(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	desc_set(0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	desc_set(1, BUF_GPA, 8, 0, 0);
	drv_add(&d, 0);
	expect_broken("indirect with NEXT", &vq, "both INDIRECT and NEXT");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_set(0, RAM_SIZE - 32, 64, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 0);
	expect_broken("indirect table past RAM", &vq, "indirect table of descriptor 0 points outside guest RAM");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_at(TABLE_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	desc_at(TABLE_GPA, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	desc_set(2, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 2);
	expect_broken("loop inside an indirect table", &vq, "longer than its 2 entries (a loop)");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_at(TABLE_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 2);
	desc_set(2, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 2);
	expect_broken("indirect next out of range", &vq, "next index 2 is out of range (the table has 2)");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_at(TABLE_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc_at(TABLE_GPA, 1, 0xffffffffffffff00ULL, 0x200, VRING_DESC_F_WRITE, 0);
	desc_set(2, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 2);
	expect_broken("indirect buffer wraps", &vq,
		      "indirect descriptor 1 (table of descriptor 2) points outside guest RAM");

	queue_new(&vq, &d, 8, F_INDIRECT);
	desc_set(0, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc_set(1, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	desc_at(TABLE_GPA, 0, BUF_GPA, 8, 0, 0); /* readable after the direct writable */
	drv_add(&d, 0);
	expect_broken("indirect readable after direct writable", &vq, "wrong direction");

	/* A table of 2000 entries chained in order passes the queue's own
	 * bound but not VIRTQ_MAX_CHAIN. */
	queue_new(&vq, &d, 8, F_INDIRECT);
	for (unsigned i = 0; i < 2000; i++)
		desc_at(BUF_GPA, i, BUF_GPA, 1, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	desc_set(0, BUF_GPA, 2000 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_add(&d, 0);
	expect_broken("indirect chain over VIRTQ_MAX_CHAIN", &vq, "more than 1024 descriptors");

	/* After a reset and a new setup, the queue works again. */
	virtq_reset(&vq);
	memset(gpa(DESC_GPA), 0, BUF_GPA - DESC_GPA);
	d.avail_idx = 0;
	CHECK("reset: setup again",
	      virtq_setup(&vq, &gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 0) == 0 &&
		      virtq_start(&vq) == 0);
	desc_set(0, BUF_GPA, 8, 0, 0);
	drv_add(&d, 0);
	CHECK("reset: pop works", virtq_pop(&vq, &gm, &c) == 1 && !vq.broken);

	/* A device can break the queue for its own reasons. */
	virtq_mark_broken(&vq, "request header is %d bytes", 3);
	virtq_mark_broken(&vq, "second reason");
	CHECK("mark_broken keeps the first reason",
	      vq.broken && strcmp(vq.reason, "virtqueue 0: request header is 3 bytes") == 0);
}

int main(void)
{
	char err[256];
	ram = malloc(RAM_SIZE);
	if (!ram || guest_mem_init(&gm, ram, RAM_SIZE, err, sizeof(err))) {
		printf("not ok guest memory: %s\n", ram ? err : "out of memory");
		return 1;
	}
	memset(ram, 0, RAM_SIZE);
	test_setup();
	test_before_driver_ok();
	test_simple();
	test_indirect();
	test_notify();
	test_hostile();
	free(ram);
	return CHECK_DONE();
}
