/* The supervisor's byte ring with absolute offsets (vmm/supervisor/sv_ring.c):
 * the console and log of each VM. Wraparound, offsets older than the ring or
 * past its end, writes larger than the ring, short reads, and a long random
 * run against a model that keeps every byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "supervisor/sv_ring.h"

/* A byte that depends on its absolute offset, so any misplaced byte shows. */
static char at(uint64_t off)
{
	return (char)('a' + (off * 7 + off / 26) % 26);
}

/* Append n bytes continuing the pattern from r->total. */
static int put(struct sv_ring *r, size_t n)
{
	char *b = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		b[i] = at(r->total + i);
	int ret = sv_ring_write(r, b, n);
	free(b);
	return ret;
}

/* The n bytes read from offset are the pattern's from `from`. */
static int same(const char *buf, size_t n, uint64_t from)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != at(from + i))
			return 0;
	return 1;
}

int main(void)
{
	struct sv_ring r;
	char buf[64];
	uint64_t next = 99;
	size_t n;

	/* Empty: nothing, no memory yet, every offset reads as 0. */
	sv_ring_init(&r, 16);
	CHECK("empty: no buffer until the first write", r.buf == NULL && r.total == 0 && sv_ring_start(&r) == 0);
	n = sv_ring_read(&r, 0, buf, sizeof(buf), &next);
	CHECK("empty: read 0 from 0", n == 0 && next == 0);
	n = sv_ring_read(&r, 1000, buf, sizeof(buf), &next);
	CHECK("empty: an offset past the end reads 0 and says 0", n == 0 && next == 0);
	CHECK("empty write: nothing, no buffer", sv_ring_write(&r, "", 0) == 0 && r.buf == NULL && r.total == 0);

	/* Below capacity. */
	CHECK("write 10", put(&r, 10) == 0 && r.total == 10 && r.buf != NULL);
	n = sv_ring_read(&r, 0, buf, sizeof(buf), &next);
	CHECK("read all 10", n == 10 && next == 10 && same(buf, n, 0));
	n = sv_ring_read(&r, 4, buf, sizeof(buf), &next);
	CHECK("read from the middle", n == 6 && next == 10 && same(buf, n, 4));
	n = sv_ring_read(&r, 10, buf, sizeof(buf), &next);
	CHECK("read from the end: nothing, next stays", n == 0 && next == 10);
	n = sv_ring_read(&r, 11, buf, sizeof(buf), &next);
	CHECK("an offset past the end is the end", n == 0 && next == 10);
	n = sv_ring_read(&r, 2, buf, 3, &next);
	CHECK("a short read stops at size; next says where", n == 3 && next == 5 && same(buf, n, 2));
	n = sv_ring_read(&r, next, buf, sizeof(buf), &next);
	CHECK("and the next read goes on from there", n == 5 && next == 10 && same(buf, n, 5));
	CHECK("start is 0 while nothing was dropped", sv_ring_start(&r) == 0);

	/* Exactly full, then wrap. */
	CHECK("write to exactly full", put(&r, 6) == 0 && r.total == 16 && sv_ring_start(&r) == 0);
	n = sv_ring_read(&r, 0, buf, sizeof(buf), &next);
	CHECK("full: all 16", n == 16 && next == 16 && same(buf, n, 0));
	CHECK("wrap by 5", put(&r, 5) == 0 && r.total == 21 && sv_ring_start(&r) == 5);
	n = sv_ring_read(&r, 5, buf, sizeof(buf), &next);
	CHECK("wrapped read across the seam", n == 16 && next == 21 && same(buf, n, 5));
	n = sv_ring_read(&r, 0, buf, sizeof(buf), &next);
	CHECK("an offset older than the ring starts at the oldest kept", n == 16 && next == 21 && same(buf, n, 5));
	n = sv_ring_read(&r, 18, buf, sizeof(buf), &next);
	CHECK("read the newest 3 (after the seam)", n == 3 && next == 21 && same(buf, n, 18));
	n = sv_ring_read(&r, 14, buf, 4, &next);
	CHECK("a short read across the seam", n == 4 && next == 18 && same(buf, n, 14));
	n = sv_ring_read(&r, 21, buf, sizeof(buf), &next);
	CHECK("wrapped: read from the end is nothing", n == 0 && next == 21);
	n = sv_ring_read(&r, 3, buf, 0, &next);
	CHECK("size 0 reads nothing from the oldest kept", n == 0 && next == 5);

	/* A write larger than the ring keeps its newest bytes only. */
	CHECK("write 40 into 16", put(&r, 40) == 0 && r.total == 61 && sv_ring_start(&r) == 45);
	n = sv_ring_read(&r, 0, buf, sizeof(buf), &next);
	CHECK("only the last 16 of the big write", n == 16 && next == 61 && same(buf, n, 45));
	CHECK("a write of exactly the size", put(&r, 16) == 0 && r.total == 77 && sv_ring_start(&r) == 61);
	n = sv_ring_read(&r, 60, buf, sizeof(buf), &next);
	CHECK("it replaces everything", n == 16 && next == 77 && same(buf, n, 61));
	/* A big write whose kept part starts mid-buffer. */
	CHECK("write 3 then 33", put(&r, 3) == 0 && put(&r, 33) == 0 && r.total == 113 && sv_ring_start(&r) == 97);
	n = sv_ring_read(&r, 97, buf, sizeof(buf), &next);
	CHECK("the newest 16, in order", n == 16 && next == 113 && same(buf, n, 97));
	sv_ring_free(&r);
	CHECK("free", r.buf == NULL);
	sv_ring_free(&r); /* twice is harmless */

	/* Offsets near 2^32 and far beyond: no truncation to 32 bits. */
	sv_ring_init(&r, 8);
	r.total = (1ull << 32) - 5; /* as if that much had gone by */
	CHECK("write across 2^32", put(&r, 8) == 0 && r.total == (1ull << 32) + 3);
	n = sv_ring_read(&r, (1ull << 32) - 3, buf, sizeof(buf), &next);
	CHECK("read across 2^32", n == 6 && next == (1ull << 32) + 3 && same(buf, n, (1ull << 32) - 3));
	n = sv_ring_read(&r, 0, buf, sizeof(buf), &next);
	CHECK("offset 0 is clamped to the oldest kept",
	      n == 8 && next == (1ull << 32) + 3 && same(buf, n, (1ull << 32) - 5));
	n = sv_ring_read(&r, UINT64_MAX, buf, sizeof(buf), &next);
	CHECK("offset UINT64_MAX is the end", n == 0 && next == (1ull << 32) + 3);
	sv_ring_free(&r);

	/* A random run against a model holding every byte ever written. */
	enum { CAP = 37, STEPS = 20000 };
	sv_ring_init(&r, CAP);
	srand(12345);
	int bad = 0;
	for (int s = 0; s < STEPS && !bad; s++) {
		if (rand() % 3) {
			size_t w = (size_t)(rand() % (rand() % 8 ? 12 : 3 * CAP));
			uint64_t before = r.total;
			if (put(&r, w) || r.total != before + w)
				bad = 1;
		} else {
			uint64_t start = r.total > CAP ? r.total - CAP : 0;
			uint64_t off = (uint64_t)rand() % (r.total + 10);
			size_t size = (size_t)(rand() % (CAP + 5));
			char out[CAP + 5];
			n = sv_ring_read(&r, off, out, size, &next);
			uint64_t from = off < start ? start : off > r.total ? r.total : off;
			size_t want = (size_t)(r.total - from) < size ? (size_t)(r.total - from) : size;
			if (sv_ring_start(&r) != start || n != want || next != from + n || !same(out, n, from))
				bad = 1;
		}
	}
	CHECK("20000 random writes and reads agree with the model", !bad);
	sv_ring_free(&r);

	return CHECK_DONE();
}
