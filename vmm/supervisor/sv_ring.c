#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/sv_ring.h"

void sv_ring_init(struct sv_ring *r, size_t cap)
{
	r->buf = NULL;
	r->cap = cap;
	r->total = 0;
}

void sv_ring_free(struct sv_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

int sv_ring_write(struct sv_ring *r, const void *data, size_t len)
{
	if (!len)
		return 0;
	if (!r->buf && !(r->buf = malloc(r->cap)))
		return -ENOMEM;
	const char *p = data;
	if (len > r->cap) { /* only the newest cap bytes can be kept */
		r->total += len - r->cap;
		p += len - r->cap;
		len = r->cap;
	}
	size_t at = (size_t)(r->total % r->cap);
	size_t first = len < r->cap - at ? len : r->cap - at;
	memcpy(r->buf + at, p, first);
	memcpy(r->buf, p + first, len - first);
	r->total += len;
	return 0;
}

uint64_t sv_ring_start(const struct sv_ring *r)
{
	return r->total > r->cap ? r->total - r->cap : 0;
}

size_t sv_ring_read(const struct sv_ring *r, uint64_t offset, char *out, size_t size, uint64_t *next)
{
	uint64_t start = sv_ring_start(r);
	if (offset < start)
		offset = start;
	if (offset > r->total)
		offset = r->total;
	size_t n = (size_t)(r->total - offset);
	if (n > size)
		n = size;
	if (n && r->buf) {
		size_t at = (size_t)(offset % r->cap);
		size_t first = n < r->cap - at ? n : r->cap - at;
		memcpy(out, r->buf + at, first);
		memcpy(out + first, r->buf, n - first);
	}
	*next = offset + n;
	return n;
}
