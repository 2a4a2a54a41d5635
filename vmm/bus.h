/* Port I/O and MMIO buses: address ranges mapped to device handlers.
 *
 * Devices register their ranges while the VM is built, before any vCPU runs,
 * so lookups need no lock. A device serialises its own state if it needs to.
 */
#ifndef KVMBOX_BUS_H
#define KVMBOX_BUS_H

#include <stdint.h>

#define BUS_MAX_RANGES 64

struct bus_ops {
	/* size is 1, 2, 4 or 8; offset is relative to the range's base */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned size);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned size);
};

struct bus_range {
	uint64_t base, len;
	const char *name;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range ranges[BUS_MAX_RANGES];
	int n;
};

/* Returns -EEXIST when the range overlaps another, -ENOSPC when full. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
		 const struct bus_ops *ops, void *opaque);
/* Returns 0, or -ENOENT when nothing is there (reads then give all ones). */
int bus_access(struct bus *bus, uint64_t addr, uint8_t *data, unsigned size, int is_write);
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

#endif
