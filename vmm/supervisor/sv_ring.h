/* A byte ring with absolute offsets: writers append forever, readers ask
 * for "everything since offset N" and learn which offset they reached, so a
 * console viewer that polls or reconnects never sees a byte twice and knows
 * when bytes were dropped because it fell behind. */
#ifndef KVMBOX_SUPERVISOR_SV_RING_H
#define KVMBOX_SUPERVISOR_SV_RING_H

#include <stddef.h>
#include <stdint.h>

struct sv_ring {
	char *buf;      /* allocated on the first write, so idle VMs cost nothing */
	size_t cap;
	uint64_t total; /* bytes ever written: the offset after the newest byte */
};

void sv_ring_init(struct sv_ring *r, size_t cap);
void sv_ring_free(struct sv_ring *r);
/* Append; the oldest bytes go when it is full. 0 or -ENOMEM. */
int sv_ring_write(struct sv_ring *r, const void *data, size_t len);
/* The oldest offset still kept. */
uint64_t sv_ring_start(const struct sv_ring *r);
/* Copy bytes from offset (raised to sv_ring_start when older) into out, at
 * most size; returns the count, and *next is the offset after them. */
size_t sv_ring_read(const struct sv_ring *r, uint64_t offset, char *out, size_t size, uint64_t *next);

#endif
