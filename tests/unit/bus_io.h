/* Little-endian values over a bus, for tests and fuzz targets that play the
 * guest's loads and stores (the VMM itself moves byte buffers). */
#ifndef KVMBOX_TEST_BUS_IO_H
#define KVMBOX_TEST_BUS_IO_H

#include <stdint.h>

#include "bus.h"

static inline uint64_t bus_rd(struct bus *bus, uint64_t addr, unsigned size)
{
	uint8_t b[8] = { 0 };
	bus_access(bus, addr, b, size, 0);
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static inline void bus_wr(struct bus *bus, uint64_t addr, unsigned size, uint64_t v)
{
	uint8_t b[8];
	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(bus, addr, b, size, 1);
}

#endif
