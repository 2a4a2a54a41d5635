/* The device side of a virtio 1.x split virtqueue (virtio 1.2, section 2.7).
 *
 * The driver shares three structures with us in guest RAM: the descriptor
 * table, the available ring (driver to device) and the used ring (device to
 * driver). The guest can rewrite any of them while we look, so:
 *  - each ring field is read once, with an atomic load, into a local that is
 *    then checked and used; descriptors are copied out before they are looked
 *    at (desc_read), so no check can be undone by a second fetch;
 *  - the ring addresses are translated through guest_mem_ptr() on each use,
 *    with their whole extent, so nothing here holds a pointer between calls;
 *  - every buffer is translated with its whole length, overflow-safe;
 *  - walks are bounded by the table size and VIRTQ_MAX_CHAIN.
 * Virtio 1.x rings are little-endian whatever the host; the le*toh calls cost
 * nothing on x86 and keep the code honest.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "virtio/virtqueue.h"

/* Offsets inside the rings (virtio 1.2, 2.7.6 and 2.7.8). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4

static uint64_t desc_bytes(unsigned size)
{
	return 16ULL * size;
}

/* Both rings end with an event index: used_event in the available ring,
 * avail_event in the used ring. The spec sizes them with it whether or not
 * VIRTIO_RING_F_EVENT_IDX is negotiated, and so do we. */
static uint64_t avail_bytes(unsigned size)
{
	return 6ULL + 2ULL * size;
}

static uint64_t used_bytes(unsigned size)
{
	return 6ULL + 8ULL * size;
}

void virtq_mark_broken(struct virtqueue *vq, const char *fmt, ...)
{
	if (vq->broken)
		return; /* the first reason is the one that explains the rest */
	vq->broken = true;
	vq->ready = false;
	int n = snprintf(vq->reason, sizeof(vq->reason), "virtqueue %u: ", vq->index);
	if (n < 0 || (size_t)n >= sizeof(vq->reason))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vq->reason + n, sizeof(vq->reason) - (size_t)n, fmt, ap);
	va_end(ap);
}

void virtq_init(struct virtqueue *vq, unsigned index)
{
	memset(vq, 0, sizeof(*vq));
	vq->index = index;
}

void virtq_reset(struct virtqueue *vq)
{
	virtq_init(vq, vq->index);
}

static int check_ring(struct virtqueue *vq, const struct guest_mem *gm, const char *what,
		      uint64_t gpa, uint64_t len, uint64_t align)
{
	if (gpa & (align - 1)) {
		virtq_mark_broken(vq, "%s at 0x%" PRIx64 " is not %" PRIu64 "-byte aligned", what,
				  gpa, align);
		return -EINVAL;
	}
	void *p = guest_mem_ptr(gm, gpa, len);
	if (!p) {
		virtq_mark_broken(vq, "%s 0x%" PRIx64 "+%" PRIu64 " lies outside guest RAM", what,
				  gpa, len);
		return -EINVAL;
	}
	/* The atomic loads and stores below need the host address aligned as
	 * well; guest RAM is page-aligned in practice, but say so if not. */
	if ((uintptr_t)p & (align - 1)) {
		virtq_mark_broken(vq, "%s at 0x%" PRIx64 " is misaligned in the host mapping",
				  what, gpa);
		return -EINVAL;
	}
	return 0;
}

int virtq_setup(struct virtqueue *vq, const struct guest_mem *gm, unsigned size,
		uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa, uint64_t features)
{
	/* A broken queue stays broken until the device is reset, even if the
	 * driver writes a new layout. */
	if (vq->broken)
		return -EIO;
	virtq_reset(vq);
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1))) {
		virtq_mark_broken(vq, "queue size %u is not a power of two between 1 and %u", size,
				  VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	int rc = check_ring(vq, gm, "descriptor table", desc_gpa, desc_bytes(size),
			    VRING_DESC_ALIGN_SIZE);
	if (!rc)
		rc = check_ring(vq, gm, "available ring", avail_gpa, avail_bytes(size),
				VRING_AVAIL_ALIGN_SIZE);
	if (!rc)
		rc = check_ring(vq, gm, "used ring", used_gpa, used_bytes(size),
				VRING_USED_ALIGN_SIZE);
	if (rc)
		return rc;
	vq->size = size;
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->features = features;
	vq->event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	return 0;
}

int virtq_start(struct virtqueue *vq)
{
	if (vq->broken)
		return -EIO;
	if (!vq->size)
		return -EINVAL;
	vq->ready = true;
	return 0;
}

int virtq_kick(struct virtqueue *vq)
{
	if (vq->broken)
		return -EIO;
	if (!vq->ready) {
		virtq_mark_broken(vq, "the driver notified the queue before DRIVER_OK");
		return -EIO;
	}
	return 0;
}

/* The host addresses of the three rings for this call. They were checked at
 * setup, so failing here means guest RAM changed under us: say so rather
 * than trust a stale layout. */
struct rings {
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;
};

static int rings_map(struct virtqueue *vq, const struct guest_mem *gm, struct rings *r)
{
	if (vq->broken || !vq->ready)
		return -EIO;
	r->desc = guest_mem_ptr(gm, vq->desc_gpa, desc_bytes(vq->size));
	r->avail = guest_mem_ptr(gm, vq->avail_gpa, avail_bytes(vq->size));
	r->used = guest_mem_ptr(gm, vq->used_gpa, used_bytes(vq->size));
	if (!r->desc || !r->avail || !r->used) {
		virtq_mark_broken(vq, "the rings are no longer inside guest RAM");
		return -EIO;
	}
	return 0;
}

static uint16_t ring_load16(const uint8_t *p, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, order));
}

static void ring_store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), order);
}

static void ring_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/* One descriptor, copied out of guest RAM once. Indirect tables need not be
 * aligned, hence memcpy; the compiler barrier stops the compiler from
 * re-reading guest RAM instead of the copy (a double fetch). */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void desc_read(struct desc *d, const uint8_t *table, unsigned i)
{
	struct vring_desc raw;
	memcpy(&raw, table + 16ULL * i, sizeof(raw));
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

/* Where a descriptor is, for messages: "descriptor 5" in the queue's table,
 * "indirect descriptor 3 (table of descriptor 5)" inside an indirect one. */
struct walk {
	const uint8_t *table; /* the table being walked */
	unsigned n;           /* its entries */
	bool in_indirect;
	uint16_t indirect_desc; /* the descriptor that pointed to the table */
	char where[64];
};

static const char *walk_where(struct walk *w, unsigned i)
{
	if (w->in_indirect)
		snprintf(w->where, sizeof(w->where), "indirect descriptor %u (table of descriptor %u)",
			 i, w->indirect_desc);
	else
		snprintf(w->where, sizeof(w->where), "descriptor %u", i);
	return w->where;
}

/* Enter the indirect table that descriptor d (index i in the queue's table)
 * points to. Rules from virtio 1.2, 2.7.5.3: only with the feature; not from
 * inside another indirect table; never together with NEXT, since the table
 * ends the chain; a whole number of descriptors. */
static int walk_indirect(struct virtqueue *vq, const struct guest_mem *gm, struct walk *w,
			 const struct desc *d, unsigned i)
{
	if (!vq->indirect) {
		virtq_mark_broken(vq, "%s is INDIRECT, but VIRTIO_RING_F_INDIRECT_DESC was not negotiated",
				  walk_where(w, i));
		return -EIO;
	}
	if (w->in_indirect) {
		virtq_mark_broken(vq, "%s is INDIRECT inside an indirect table (nested indirect)",
				  walk_where(w, i));
		return -EIO;
	}
	if (d->flags & VRING_DESC_F_NEXT) {
		virtq_mark_broken(vq, "descriptor %u has both INDIRECT and NEXT", i);
		return -EIO;
	}
	if (d->len == 0 || d->len % 16) {
		virtq_mark_broken(vq, "indirect table of descriptor %u is %" PRIu32
				  " bytes, not a nonzero multiple of 16",
				  i, d->len);
		return -EIO;
	}
	if (d->len / 16 > VIRTQ_MAX_SIZE) {
		virtq_mark_broken(vq, "indirect table of descriptor %u has %" PRIu32
				  " entries, more than %u",
				  i, d->len / 16, VIRTQ_MAX_SIZE);
		return -EIO;
	}
	const uint8_t *table = guest_mem_ptr(gm, d->addr, d->len);
	if (!table) {
		virtq_mark_broken(vq, "indirect table of descriptor %u points outside guest RAM (0x%" PRIx64
				  "+%" PRIu32 ")",
				  i, d->addr, d->len);
		return -EIO;
	}
	w->table = table;
	w->n = d->len / 16;
	w->in_indirect = true;
	w->indirect_desc = (uint16_t)i;
	return 0;
}

/* Walk the chain that starts at head into out. Every descriptor visited
 * counts against the table's size (more means a loop) and VIRTQ_MAX_CHAIN
 * (bounded work per chain, whatever tables the driver builds). */
static int chain_walk(struct virtqueue *vq, const struct guest_mem *gm, const uint8_t *desc,
		      uint16_t head, struct virtq_chain *out)
{
	struct walk w = { .table = desc, .n = vq->size };
	unsigned i = head;
	unsigned steps = 0;    /* descriptors visited in the current table */
	unsigned total = 0;    /* descriptors visited in all */
	unsigned niov = 0;
	uint64_t bytes = 0;    /* both directions, to catch a chain past 4 GiB */
	bool writable = false; /* a device-writable buffer was seen */

	out->head = head;
	out->out_num = out->in_num = 0;
	out->out_len = out->in_len = 0;
	for (;;) {
		if (++total > VIRTQ_MAX_CHAIN) {
			virtq_mark_broken(vq, "descriptor chain from head %u has more than %u descriptors",
					  head, VIRTQ_MAX_CHAIN);
			return -EIO;
		}
		if (++steps > w.n) {
			if (w.in_indirect)
				virtq_mark_broken(vq, "indirect table of descriptor %u: the chain is longer than its %u entries (a loop)",
						  w.indirect_desc, w.n);
			else
				virtq_mark_broken(vq, "descriptor chain from head %u is longer than the queue size %u (a loop)",
						  head, w.n);
			return -EIO;
		}
		struct desc d;
		desc_read(&d, w.table, i);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (walk_indirect(vq, gm, &w, &d, i))
				return -EIO;
			/* The table's own chain starts at its entry 0. */
			i = 0;
			steps = 0;
			continue;
		}
		bool w_flag = d.flags & VRING_DESC_F_WRITE;
		if (!w_flag && writable) {
			virtq_mark_broken(vq, "%s is device-readable but follows a device-writable one (wrong direction)",
					  walk_where(&w, i));
			return -EIO;
		}
		if (w_flag)
			writable = true;
		if (d.len) {
			void *p = guest_mem_ptr(gm, d.addr, d.len);
			if (!p) {
				virtq_mark_broken(vq, "%s points outside guest RAM (0x%" PRIx64 "+%" PRIu32 ")",
						  walk_where(&w, i), d.addr, d.len);
				return -EIO;
			}
			bytes += d.len;
			if (bytes > UINT32_MAX) {
				virtq_mark_broken(vq, "descriptor chain from head %u is longer than 4 GiB (length overflow)",
						  head);
				return -EIO;
			}
			/* niov < total <= VIRTQ_MAX_CHAIN, so this slot exists. */
			out->iov[niov].iov_base = p;
			out->iov[niov].iov_len = d.len;
			niov++;
			if (w_flag) {
				out->in_num++;
				out->in_len += d.len;
			} else {
				out->out_num++;
				out->out_len += d.len;
			}
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= w.n) {
			virtq_mark_broken(vq, "%s: next index %u is out of range (the table has %u)",
					  walk_where(&w, i), d.next, w.n);
			return -EIO;
		}
		i = d.next;
	}
	out->out_iov = out->iov;
	out->in_iov = out->iov + out->out_num;
	return 0;
}

int virtq_pop(struct virtqueue *vq, const struct guest_mem *gm, struct virtq_chain *out)
{
	struct rings r;
	if (rings_map(vq, gm, &r))
		return -EIO;
	if (vq->last_avail_idx == vq->avail_shadow) {
		/* Acquire: the ring entries and descriptors the driver wrote
		 * before it published idx are visible once we see idx. */
		uint16_t idx = ring_load16(r.avail + AVAIL_IDX, __ATOMIC_ACQUIRE);
		uint16_t pending = (uint16_t)(idx - vq->last_avail_idx);
		if (pending > vq->size) {
			virtq_mark_broken(vq, "avail idx jumped by %u (from %u to %u), more than the queue size %u",
					  pending, vq->last_avail_idx, idx, vq->size);
			return -EIO;
		}
		vq->avail_shadow = idx;
		if (!pending)
			return 0;
	}
	unsigned slot = vq->last_avail_idx & (vq->size - 1);
	uint16_t head = ring_load16(r.avail + AVAIL_RING + 2 * slot, __ATOMIC_RELAXED);
	if (head >= vq->size) {
		virtq_mark_broken(vq, "avail ring entry %u names descriptor %u, but the queue has %u",
				  vq->last_avail_idx, head, vq->size);
		return -EIO;
	}
	if (chain_walk(vq, gm, r.desc, head, out))
		return -EIO;
	vq->last_avail_idx++;
	return 1;
}

int virtq_push_n(struct virtqueue *vq, const struct guest_mem *gm, const uint16_t *heads, const uint32_t *lens,
		 unsigned k)
{
	struct rings r;
	if (rings_map(vq, gm, &r))
		return -EIO;
	if (k > vq->size)
		return -EINVAL;
	for (unsigned i = 0; i < k; i++)
		if (heads[i] >= vq->size)
			return -EINVAL; /* a device bug, not the driver's: the queue stays usable */
	for (unsigned i = 0; i < k; i++) {
		uint8_t *elem = r.used + USED_RING + 8ULL * ((uint16_t)(vq->used_idx + i) & (vq->size - 1));
		ring_store32(elem, heads[i]);
		ring_store32(elem + 4, lens[i]);
	}
	vq->used_idx = (uint16_t)(vq->used_idx + k);
	/* Release: the elements are visible before the index that publishes them. */
	ring_store16(r.used + USED_IDX, vq->used_idx, __ATOMIC_RELEASE);
	return 0;
}

int virtq_push(struct virtqueue *vq, const struct guest_mem *gm, uint16_t head, uint32_t written_len)
{
	return virtq_push_n(vq, gm, &head, &written_len, 1);
}

void virtq_unpop(struct virtqueue *vq, unsigned k)
{
	/* avail_shadow still counts them, so the next pop takes them again,
	 * re-reading (and re-checking) their descriptors. */
	vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - k);
}

bool virtq_should_notify(struct virtqueue *vq, const struct guest_mem *gm)
{
	struct rings r;
	if (rings_map(vq, gm, &r))
		return false;
	uint16_t old_idx = vq->signalled_used;
	uint16_t new_idx = vq->used_idx;
	vq->signalled_used = new_idx;
	if (old_idx == new_idx)
		return false;
	/* Our used->idx store must be visible before we read what the driver
	 * asked for; the driver does the mirror image (writes used_event, full
	 * barrier, reads used->idx), so one of us sees the other's update. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t used_event = ring_load16(r.avail + AVAIL_RING + 2ULL * vq->size,
						  __ATOMIC_RELAXED);
		return virtq_need_event(used_event, new_idx, old_idx);
	}
	return !(ring_load16(r.avail + AVAIL_FLAGS, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
}

void virtq_disable_notify(struct virtqueue *vq, const struct guest_mem *gm)
{
	struct rings r;
	if (rings_map(vq, gm, &r))
		return;
	/* With event index the driver kicks only when its avail idx passes
	 * avail_event, which stays behind while we drain: nothing to do. */
	if (!vq->event_idx)
		ring_store16(r.used + USED_FLAGS, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

int virtq_enable_notify(struct virtqueue *vq, const struct guest_mem *gm)
{
	struct rings r;
	if (rings_map(vq, gm, &r))
		return -EIO;
	if (vq->event_idx)
		/* Kick when the entry at last_avail_idx is made available. */
		ring_store16(r.used + USED_RING + 8ULL * vq->size, vq->last_avail_idx,
			     __ATOMIC_RELAXED);
	else
		ring_store16(r.used + USED_FLAGS, 0, __ATOMIC_RELAXED);
	/* The request must be visible before we look at avail->idx again: a
	 * buffer added in between is then either seen here or kicked. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t idx = ring_load16(r.avail + AVAIL_IDX, __ATOMIC_RELAXED);
	return idx != vq->last_avail_idx;
}

void virtq_chain_copy(struct virtq_chain *dst, const struct virtq_chain *src)
{
	unsigned n = src->out_num + src->in_num;
	dst->head = src->head;
	dst->out_num = src->out_num;
	dst->in_num = src->in_num;
	dst->out_len = src->out_len;
	dst->in_len = src->in_len;
	if (n > VIRTQ_MAX_CHAIN)
		n = VIRTQ_MAX_CHAIN;
	memcpy(dst->iov, src->iov, n * sizeof(dst->iov[0]));
	dst->out_iov = dst->iov;
	dst->in_iov = dst->iov + dst->out_num;
}
