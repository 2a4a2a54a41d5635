/* Port I/O and MMIO buses; see bus.h. Ranges are kept sorted so that a guest
 * access, which happens on every I/O exit, is a binary search. */
#include <errno.h>
#include <string.h>

#include "bus.h"

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
		 const struct bus_ops *ops, void *opaque)
{
	if (!len || base + len < base)
		return -EINVAL;
	if (bus->n >= BUS_MAX_RANGES)
		return -ENOSPC;
	int i = 0;
	while (i < bus->n && bus->ranges[i].base < base)
		i++;
	if (i > 0 && bus->ranges[i - 1].base + bus->ranges[i - 1].len > base)
		return -EEXIST;
	if (i < bus->n && base + len > bus->ranges[i].base)
		return -EEXIST;
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (size_t)(bus->n - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct bus_range){ .base = base, .len = len, .name = name, .ops = ops, .opaque = opaque };
	bus->n++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const struct bus_range *r = &bus->ranges[mid];
		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int bus_access(struct bus *bus, uint64_t addr, uint8_t *data, unsigned size, int is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	/* An access that starts in a range but runs past its end is the guest's
	 * mistake; treat it as hitting nothing rather than overrun the device. */
	if (!r || size > r->len - (addr - r->base)) {
		if (!is_write)
			memset(data, 0xff, size);
		return -ENOENT;
	}
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, data, size);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, addr - r->base, data, size);
	} else {
		memset(data, 0xff, size);
	}
	return 0;
}
