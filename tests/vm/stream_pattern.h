/* The byte stream the network tests send and check, on both sides of the
 * VM (the appliance's test driver and the guest's program): byte `off` of a
 * stream with `seed` is a byte of a multiplicative hash of its 4-byte word's
 * index, so a dropped, repeated or reordered chunk shows wherever it lands,
 * and nothing has to be stored to check it. Header-only: each program is
 * one static binary. */
#ifndef KVMBOX_STREAM_PATTERN_H
#define KVMBOX_STREAM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline void stream_pattern(uint8_t *buf, size_t len, uint64_t off, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint32_t w = (uint32_t)(o >> 2) * 2654435761u ^ seed;
		buf[i] = (uint8_t)(w >> (8 * (o & 3)));
	}
}

#endif
