/* The byte stream the network tests send and check, on both sides of the
 * VM (the appliance's test driver and the guest's program): byte `off` of a
 * stream with `seed` is a byte of a multiplicative hash of its 4-byte word's
 * index, so a dropped, repeated or reordered chunk shows wherever it lands,
 * and nothing has to be stored to check it. stream_send() and
 * stream_receive() move and check such a stream on a socket. Header-only:
 * each program is one static binary. */
#ifndef KVMBOX_STREAM_PATTERN_H
#define KVMBOX_STREAM_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

static inline void stream_pattern(uint8_t *buf, size_t len, uint64_t off, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint32_t w = (uint32_t)(o >> 2) * 2654435761u ^ seed;
		buf[i] = (uint8_t)(w >> (8 * (o & 3)));
	}
}

/* Writes bytes of the stream seed to fd. 0, or -1 (errno set; *at is where
 * it stopped). */
static inline int stream_send(int fd, size_t bytes, uint32_t seed, size_t *at)
{
	static uint8_t buf[65536];
	for (size_t done = 0; done < bytes;) {
		size_t l = bytes - done < sizeof(buf) ? bytes - done : sizeof(buf);
		stream_pattern(buf, l, done, seed);
		ssize_t w = write(fd, buf, l);
		if (w <= 0) {
			*at = done;
			return -1;
		}
		done += (size_t)w;
	}
	*at = bytes;
	return 0;
}

/* Reads up to bytes of the stream seed from fd and checks each byte.
 * *done gets how many arrived. 0: all of them, right; -1: the read failed
 * or the stream ended first (errno 0 for an end); -2: a byte was wrong,
 * the first at *bad. */
static inline int stream_receive(int fd, size_t bytes, uint32_t seed, size_t *done, size_t *bad)
{
	static uint8_t buf[65536], want[65536];
	*done = 0;
	while (*done < bytes) {
		size_t l = bytes - *done < sizeof(buf) ? bytes - *done : sizeof(buf);
		ssize_t r = read(fd, buf, l);
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			return -1;
		}
		stream_pattern(want, (size_t)r, *done, seed);
		if (memcmp(buf, want, (size_t)r)) {
			size_t i = 0;
			while (buf[i] == want[i])
				i++;
			*bad = *done + i;
			return -2;
		}
		*done += (size_t)r;
	}
	return 0;
}

#endif
