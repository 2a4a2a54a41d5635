/* The device side of a virtio 1.x split virtqueue, safe against a hostile
 * driver.
 *
 * The rings live in guest RAM, which the guest may change at any moment, so
 * every field is read exactly once into a local before it is checked, every
 * guest address goes through guest_mem_ptr() with its full length, and every
 * walk has a bound. A driver that breaks the rules gets the queue marked
 * broken with one reason; from then on nothing is read or written until the
 * transport resets the queue. The caller logs the reason (with the device's
 * name) and sets DEVICE_NEEDS_RESET.
 *
 * Life cycle, driven by the transport:
 *   virtq_init      once, when the device is created;
 *   virtq_setup     when the driver enables the queue (size, ring addresses,
 *                   negotiated features): checks alignment and extent;
 *   virtq_start     when the driver sets DRIVER_OK: before that nothing is
 *                   processed, and a notification breaks the queue;
 *   virtq_reset     on a device reset: back to the state after virtq_init.
 *
 * One device thread owns a queue; no function here takes a lock. The device's
 * loop, which never loses a wakeup:
 *
 *   for (;;) {                          // after each kick
 *           virtq_disable_notify(vq, gm);
 *           while ((rc = virtq_pop(vq, gm, &chain)) > 0) {
 *                   ...use chain.out_iov / chain.in_iov...
 *                   virtq_push(vq, gm, chain.head, written);
 *           }
 *           if (virtq_should_notify(vq, gm)) ...signal the irqfd...
 *           if (rc < 0 || virtq_enable_notify(vq, gm) <= 0)
 *                   break;              // broken, or idle until the next kick
 *   }
 */
#ifndef KVMBOX_VIRTIO_VIRTQUEUE_H
#define KVMBOX_VIRTIO_VIRTQUEUE_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "x86/guest_mem.h"

#define VIRTQ_MAX_SIZE 32768   /* the largest queue size virtio allows */
#define VIRTQ_MAX_CHAIN 1024   /* descriptors in one chain, indirect ones included */
#define VIRTQ_REASON_MAX 192   /* bytes of the broken reason, with its NUL */

struct virtqueue {
	unsigned index;          /* the queue's number, for messages */
	unsigned size;           /* descriptors; a power of two; 0 until set up */
	uint64_t desc_gpa;       /* descriptor table, 16 * size bytes */
	uint64_t avail_gpa;      /* available ring, 6 + 2 * size bytes */
	uint64_t used_gpa;       /* used ring, 6 + 8 * size bytes */
	uint64_t features;       /* the negotiated feature bits */
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX was negotiated */
	bool indirect;           /* VIRTIO_RING_F_INDIRECT_DESC was negotiated */
	bool ready;              /* set up and DRIVER_OK seen: may be processed */
	bool broken;             /* the driver broke the rules; see reason */
	uint16_t last_avail_idx; /* the next avail ring entry to take */
	uint16_t avail_shadow;   /* avail->idx as last read and checked */
	uint16_t used_idx;       /* used->idx as last published */
	uint16_t signalled_used; /* used_idx at the last virtq_should_notify */
	char reason[VIRTQ_REASON_MAX];
};

/* One descriptor chain, translated to host memory. Readable buffers always
 * precede writable ones (the driver must order them so), so both live in iov:
 * out_iov = iov, in_iov = iov + out_num. The pointers point into the struct
 * itself: copy a chain with virtq_chain_copy(), not by assignment. Zero-length
 * descriptors are checked but get no iovec. */
struct virtq_chain {
	uint16_t head;           /* descriptor id to give back to virtq_push */
	unsigned out_num;        /* device-readable buffers (driver to device) */
	unsigned in_num;         /* device-writable buffers (device to driver) */
	uint32_t out_len;        /* bytes in the readable buffers */
	uint32_t in_len;         /* bytes in the writable buffers */
	struct iovec *out_iov;
	struct iovec *in_iov;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Zero the queue and give it its number. */
void virtq_init(struct virtqueue *vq, unsigned index);

/* Take the ring layout the driver wrote; the indices start at 0. Refused
 * with -EINVAL, and the queue marked broken with the reason, when size is not
 * a power of two in [1, VIRTQ_MAX_SIZE], or a ring is misaligned (16/2/4) or
 * not wholly inside guest RAM; -EIO while the queue is broken (reset first).
 * features are the negotiated bits (only the ring ones matter). */
int virtq_setup(struct virtqueue *vq, const struct guest_mem *gm, unsigned size,
		uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa, uint64_t features);

/* DRIVER_OK: the queue may be processed. -EINVAL if it was never set up,
 * -EIO if it is broken. */
int virtq_start(struct virtqueue *vq);

/* Device reset: forget the rings, indices and broken state; keep the index. */
void virtq_reset(struct virtqueue *vq);

/* The driver notified the queue. 0 if the device should drain it; -EIO if the
 * queue is broken, or, when it is not started (no DRIVER_OK), after marking
 * it broken: the spec forbids notifications before DRIVER_OK. */
int virtq_kick(struct virtqueue *vq);

/* Take the next available chain into *out. 1: a chain was taken; 0: none is
 * available; -EIO: the queue is broken (now or before) or not started.
 * Nothing outside guest RAM is read, and the work is bounded by
 * VIRTQ_MAX_CHAIN descriptors. */
int virtq_pop(struct virtqueue *vq, const struct guest_mem *gm, struct virtq_chain *out);

/* Give chain head back to the driver with written_len bytes written into its
 * writable buffers, and publish it (release ordering). -EIO if the queue is
 * broken or not started, -EINVAL if head is not a descriptor id. */
int virtq_push(struct virtqueue *vq, const struct guest_mem *gm, uint16_t head,
	       uint32_t written_len);

/* Give k chains back at once and publish them with one index store: a
 * receive frame spread over several chains (mergeable buffers) must appear
 * whole, or a driver reading meanwhile sees its first buffer alone. */
int virtq_push_n(struct virtqueue *vq, const struct guest_mem *gm, const uint16_t *heads, const uint32_t *lens,
		 unsigned k);

/* Un-take the last k popped chains (not pushed): the next virtq_pop returns
 * them again. For a device that found it cannot use them yet. */
void virtq_unpop(struct virtqueue *vq, unsigned k);

/* Whether the driver wants an interrupt for what was pushed since the last
 * call: used_event with VIRTIO_RING_F_EVENT_IDX, else the avail ring's
 * NO_INTERRUPT flag. Call once after each batch of pushes. */
bool virtq_should_notify(struct virtqueue *vq, const struct guest_mem *gm);

/* Ask the driver not to notify while the device drains the queue. */
void virtq_disable_notify(struct virtqueue *vq, const struct guest_mem *gm);

/* Ask the driver to notify for the next buffer, then look again: 1 if buffers
 * arrived meanwhile (drain again, or that wakeup would be lost), 0 if the
 * queue is empty, -EIO if it is broken or not started. */
int virtq_enable_notify(struct virtqueue *vq, const struct guest_mem *gm);

/* Mark the queue broken; the first reason is kept. For devices too, when a
 * request breaks their own rules. The reason gets a "virtqueue N: " prefix. */
void virtq_mark_broken(struct virtqueue *vq, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copy a chain, fixing out_iov and in_iov to point into the copy. */
void virtq_chain_copy(struct virtq_chain *dst, const struct virtq_chain *src);

/* vring_need_event: having moved the index from old_idx to new_idx, does the
 * other side, which asked to hear at event_idx, need a notification? True when
 * event_idx lies in [old_idx, new_idx), modulo 2^16. */
static inline bool virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

#endif
