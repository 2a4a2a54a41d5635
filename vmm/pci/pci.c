/* PCI bus 0: config space through 0xCF8/0xCFC and ECAM, BAR placement and
 * dispatch, capabilities and INTx. See pci.h for the design. Every offset
 * that comes from the guest is checked here before it indexes anything. */
#include <errno.h>
#include <string.h>

#include "pci/pci.h"

#define CF8_ENABLE 0x80000000u
#define ECAM_BUS_SHIFT 20
#define ECAM_DEV_SHIFT 15
#define ECAM_FN_SHIFT 12

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

/* --- raw config access for the device --- */
uint8_t pci_cfg_read8(const struct pci_device *d, unsigned off)
{
	return off < PCI_CFG_SIZE ? d->cfg[off] : 0;
}
uint16_t pci_cfg_read16(const struct pci_device *d, unsigned off)
{
	return (uint16_t)(pci_cfg_read8(d, off) | pci_cfg_read8(d, off + 1) << 8);
}
uint32_t pci_cfg_read32(const struct pci_device *d, unsigned off)
{
	return (uint32_t)pci_cfg_read16(d, off) | (uint32_t)pci_cfg_read16(d, off + 2) << 16;
}
void pci_cfg_write8(struct pci_device *d, unsigned off, uint8_t v)
{
	if (off < PCI_CFG_SIZE)
		d->cfg[off] = v;
}
void pci_cfg_write16(struct pci_device *d, unsigned off, uint16_t v)
{
	pci_cfg_write8(d, off, (uint8_t)v);
	pci_cfg_write8(d, off + 1, (uint8_t)(v >> 8));
}
void pci_cfg_write32(struct pci_device *d, unsigned off, uint32_t v)
{
	pci_cfg_write16(d, off, (uint16_t)v);
	pci_cfg_write16(d, off + 2, (uint16_t)(v >> 16));
}

static void set_mask(uint8_t *m, unsigned off, unsigned len, uint64_t mask)
{
	for (unsigned i = 0; i < len && i < 8; i++)
		if (off + i < PCI_CFG_SIZE)
			m[off + i] = (uint8_t)(mask >> (8 * i));
}
void pci_set_wmask(struct pci_device *d, unsigned off, unsigned len, uint64_t mask)
{
	set_mask(d->wmask, off, len, mask);
}
void pci_set_w1cmask(struct pci_device *d, unsigned off, unsigned len, uint64_t mask)
{
	set_mask(d->w1cmask, off, len, mask);
}

/* --- building a device --- */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision)
{
	memset(d->cfg, 0, sizeof(d->cfg));
	memset(d->wmask, 0, sizeof(d->wmask));
	memset(d->w1cmask, 0, sizeof(d->w1cmask));
	memset(d->bar, 0, sizeof(d->bar));
	for (int i = 0; i < PCI_NUM_BARS; i++)
		atomic_init(&d->bar[i].mapped, PCI_BAR_UNMAPPED);
	d->name = name;
	d->bus = NULL;
	d->slot = -1;
	d->cap_next = PCI_CAP_START;
	d->cap_last = 0;
	d->ext_cap_next = PCI_EXT_CAP_START;
	d->ext_cap_last = 0;
	pthread_mutex_init(&d->intx_lock, NULL);
	d->intx_level = d->intx_disabled = d->intx_raised = 0;
	pci_cfg_write16(d, PCI_VENDOR_ID, vendor);
	pci_cfg_write16(d, PCI_DEVICE_ID, device);
	pci_cfg_write8(d, PCI_REVISION_ID, revision);
	pci_cfg_write8(d, PCI_CLASS_PROG, (uint8_t)class_code);
	pci_cfg_write16(d, PCI_CLASS_PROG + 1, (uint16_t)(class_code >> 8));
	pci_set_wmask(d, PCI_COMMAND, 2,
		      PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			      PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	pci_set_w1cmask(d, PCI_STATUS, 2, PCI_STATUS_W1C);
	pci_set_wmask(d, PCI_CACHE_LINE_SIZE, 1, 0xff);
	pci_set_wmask(d, PCI_INTERRUPT_LINE, 1, 0xff);
}

void pci_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id)
{
	pci_cfg_write16(d, PCI_SUBSYSTEM_VENDOR_ID, vendor);
	pci_cfg_write16(d, PCI_SUBSYSTEM_ID, id);
}

void pci_set_intx_pin(struct pci_device *d, unsigned pin)
{
	pci_cfg_write8(d, PCI_INTERRUPT_PIN, pin <= 4 ? (uint8_t)pin : 0);
}

unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
	/* The usual swizzle, pin 1..4 = INTA..INTD, onto IOAPIC pins 16-23. */
	return 16 + (slot + (pin ? pin - 1 : 0)) % 8;
}

int pci_bar_define(struct pci_device *d, int bar, enum pci_bar_type type, uint64_t size, int prefetchable,
		   const struct bus_ops *ops, void *opaque)
{
	if (bar < 0 || bar >= PCI_NUM_BARS || !is_pow2(size) || d->bar[bar].type != PCI_BAR_NONE)
		return -EINVAL;
	if (bar > 0 && d->bar[bar - 1].type == PCI_BAR_MEM64)
		return -EINVAL; /* the high half of a 64-bit BAR */
	switch (type) {
	case PCI_BAR_IO:
		if (size < 4 || size > 256 || prefetchable)
			return -EINVAL;
		break;
	case PCI_BAR_MEM32:
		if (size < 16 || size > 0x40000000ULL)
			return -EINVAL;
		break;
	case PCI_BAR_MEM64:
		if (size < 16 || bar == PCI_NUM_BARS - 1 || d->bar[bar + 1].type != PCI_BAR_NONE ||
		    size > (1ULL << 62))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	struct pci_bar *b = &d->bar[bar];
	b->type = type;
	b->size = size;
	b->prefetchable = prefetchable;
	b->ops = ops;
	b->opaque = opaque;
	atomic_store(&b->mapped, PCI_BAR_UNMAPPED);
	unsigned off = PCI_BAR0 + 4 * (unsigned)bar;
	uint32_t flags = type == PCI_BAR_IO ? PCI_BAR_IO_FLAG
					    : (type == PCI_BAR_MEM64 ? PCI_BAR_MEM64_FLAG : 0) |
						      (prefetchable ? PCI_BAR_PREFETCH_FLAG : 0);
	pci_cfg_write32(d, off, flags);
	/* The size probe is just the write mask: all ones read back as the
	 * size's complement with the flag bits. I/O BARs decode 16 bits. */
	if (type == PCI_BAR_IO) {
		pci_set_wmask(d, off, 4, ~(size - 1) & 0xfffcu);
	} else {
		uint64_t m = ~(size - 1) & ~0xfULL;
		pci_set_wmask(d, off, 4, (uint32_t)m);
		if (type == PCI_BAR_MEM64)
			pci_set_wmask(d, off + 4, 4, m >> 32);
	}
	return 0;
}

int pci_cap_add(struct pci_device *d, uint8_t id, unsigned len)
{
	unsigned off = (d->cap_next + 3) & ~3u;
	if (len < 2 || len > PCI_CFG_LEGACY_SIZE || off + len > PCI_CFG_LEGACY_SIZE)
		return -ENOSPC;
	memset(d->cfg + off, 0, len);
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	if (d->cap_last)
		d->cfg[d->cap_last + 1] = (uint8_t)off;
	else
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_last = off;
	d->cap_next = off + len;
	return (int)off;
}

int pci_ext_cap_add(struct pci_device *d, uint16_t id, uint8_t version, unsigned len)
{
	unsigned off = (d->ext_cap_next + 3) & ~3u;
	if (len < 4 || len > PCI_CFG_SIZE || off + len > PCI_CFG_SIZE)
		return -ENOSPC;
	memset(d->cfg + off, 0, len);
	pci_cfg_write32(d, off, (uint32_t)id | (uint32_t)(version & 0xf) << 16);
	if (d->ext_cap_last) {
		uint32_t h = pci_cfg_read32(d, d->ext_cap_last);
		pci_cfg_write32(d, d->ext_cap_last, (h & 0x000fffffu) | (uint32_t)off << 20);
	}
	d->ext_cap_last = off;
	d->ext_cap_next = off + len;
	return (int)off;
}

unsigned pci_cap_find(const struct pci_device *d, uint8_t id)
{
	if (!(pci_cfg_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	unsigned off = pci_cfg_read8(d, PCI_CAPABILITY_LIST) & ~3u;
	/* At most 48 capabilities fit in 192 bytes: a longer walk is a loop. */
	for (int n = 0; n < 48 && off >= PCI_CAP_START && off < PCI_CFG_LEGACY_SIZE; n++) {
		if (pci_cfg_read8(d, off) == id)
			return off;
		off = pci_cfg_read8(d, off + 1) & ~3u;
	}
	return 0;
}

/* --- BARs --- */
static int in_window(const struct pci_window *w, uint64_t addr, uint64_t size)
{
	return w->size && addr >= w->base && addr - w->base <= w->size && size <= w->size - (addr - w->base);
}

/* The address a BAR decodes at now, from its registers and COMMAND. A BAR
 * outside its window (the guest sizing it, or a 64-bit BAR half written)
 * decodes nowhere: the bus only owns its windows. */
static uint64_t bar_decode(struct pci_device *d, int i)
{
	struct pci_bar *b = &d->bar[i];
	uint16_t cmd = pci_cfg_read16(d, PCI_COMMAND);
	unsigned off = PCI_BAR0 + 4 * (unsigned)i;
	uint64_t addr;
	if (b->type == PCI_BAR_IO) {
		if (!(cmd & PCI_COMMAND_IO))
			return PCI_BAR_UNMAPPED;
		addr = pci_cfg_read32(d, off) & ~3u;
	} else {
		if (!(cmd & PCI_COMMAND_MEMORY))
			return PCI_BAR_UNMAPPED;
		addr = pci_cfg_read32(d, off) & ~0xfu;
		if (b->type == PCI_BAR_MEM64)
			addr |= (uint64_t)pci_cfg_read32(d, off + 4) << 32;
	}
	struct pci_bus *bus = d->bus;
	/* A 32-bit BAR may sit in either memory window if the guest moved it;
	 * a 64-bit one too (guests put small 64-bit BARs below 4 GiB). */
	if (b->type == PCI_BAR_IO ? in_window(&bus->io, addr, b->size)
				  : in_window(&bus->mem32, addr, b->size) || in_window(&bus->mem64, addr, b->size))
		return addr;
	return PCI_BAR_UNMAPPED;
}

static void bars_update(struct pci_device *d)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		if (b->type == PCI_BAR_NONE)
			continue;
		uint64_t now = bar_decode(d, i), old = atomic_load(&b->mapped);
		if (now == old)
			continue;
		atomic_store(&b->mapped, now);
		if (d->ops && d->ops->bar_map)
			d->ops->bar_map(d, i, old, now);
	}
}

static int bar_alloc(struct pci_window *w, uint64_t size, uint64_t align, uint64_t *addr)
{
	uint64_t a = (w->next + align - 1) & ~(align - 1);
	if (a < w->next || !in_window(w, a, size))
		return -ENOSPC;
	*addr = a;
	w->next = a + size;
	return 0;
}

int pci_register(struct pci_bus *bus, struct pci_device *d, int slot)
{
	if (slot >= PCI_SLOTS)
		return -EINVAL;
	if (slot < 0) {
		for (slot = 0; slot < PCI_SLOTS && bus->slot[slot]; slot++)
			;
		if (slot == PCI_SLOTS)
			return -ENOSPC;
	} else if (bus->slot[slot]) {
		return -EEXIST;
	}
	/* Place every BAR; nothing changes unless all fit. */
	uint64_t addr[PCI_NUM_BARS] = { 0 };
	struct pci_window io = bus->io, mem32 = bus->mem32, mem64 = bus->mem64;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		int r = 0;
		if (b->type == PCI_BAR_IO)
			r = bar_alloc(&io, b->size, b->size, &addr[i]);
		else if (b->type == PCI_BAR_MEM32)
			r = bar_alloc(&mem32, b->size, b->size < 4096 ? 4096 : b->size, &addr[i]);
		else if (b->type == PCI_BAR_MEM64)
			r = bar_alloc(&mem64, b->size, b->size < 4096 ? 4096 : b->size, &addr[i]);
		if (r < 0)
			return r;
	}
	bus->io = io;
	bus->mem32 = mem32;
	bus->mem64 = mem64;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		unsigned off = PCI_BAR0 + 4 * (unsigned)i;
		if (b->type == PCI_BAR_NONE)
			continue;
		uint32_t lo = pci_cfg_read32(d, off) & (b->type == PCI_BAR_IO ? 3u : 0xfu);
		pci_cfg_write32(d, off, lo | (uint32_t)addr[i]);
		if (b->type == PCI_BAR_MEM64)
			pci_cfg_write32(d, off + 4, (uint32_t)(addr[i] >> 32));
	}
	d->bus = bus;
	d->slot = slot;
	unsigned pin = pci_cfg_read8(d, PCI_INTERRUPT_PIN);
	if (pin)
		pci_cfg_write8(d, PCI_INTERRUPT_LINE, (uint8_t)pci_intx_gsi((unsigned)slot, pin));
	pthread_mutex_lock(&bus->cfg_lock);
	bars_update(d);
	pthread_mutex_unlock(&bus->cfg_lock);
	bus->slot[slot] = d;
	return slot;
}

/* --- INTx --- */
static void intx_sync(struct pci_device *d) /* under intx_lock */
{
	int want = d->intx_level && !d->intx_disabled && d->bus;
	if (want == d->intx_raised)
		return;
	d->intx_raised = want;
	unsigned pin = pci_cfg_read8(d, PCI_INTERRUPT_PIN);
	if (pin && d->bus->set_irq)
		d->bus->set_irq(d->bus->irq_opaque, pci_intx_gsi((unsigned)d->slot, pin), want);
}

void pci_intx_set(struct pci_device *d, int level)
{
	pthread_mutex_lock(&d->intx_lock);
	d->intx_level = !!level;
	intx_sync(d);
	pthread_mutex_unlock(&d->intx_lock);
}

/* --- guest config access --- */
static struct pci_device *lookup(struct pci_bus *bus, unsigned busno, unsigned dev, unsigned fn)
{
	if (busno != 0 || dev >= PCI_SLOTS || fn != 0)
		return NULL;
	return bus->slot[dev];
}

/* An access must be naturally aligned and inside the function's space;
 * anything else reads all ones and writes nothing. */
static int access_ok(unsigned off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && off < PCI_CFG_SIZE && off % size == 0;
}

uint32_t pci_config_read(struct pci_bus *bus, unsigned busno, unsigned dev, unsigned fn, unsigned off,
			 unsigned size)
{
	uint32_t all = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	struct pci_device *d = lookup(bus, busno, dev, fn);
	if (!d || !access_ok(off, size))
		return all;
	pthread_mutex_lock(&bus->cfg_lock);
	if (d->ops && d->ops->config_read)
		d->ops->config_read(d, off, size);
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	pthread_mutex_unlock(&bus->cfg_lock);
	/* STATUS.INTERRUPT mirrors the device's INTx wish. */
	if (off <= PCI_STATUS && off + size > PCI_STATUS) {
		pthread_mutex_lock(&d->intx_lock);
		if (d->intx_level)
			v |= (uint32_t)PCI_STATUS_INTERRUPT << (8 * (PCI_STATUS - off));
		pthread_mutex_unlock(&d->intx_lock);
	}
	return v;
}

void pci_config_write(struct pci_bus *bus, unsigned busno, unsigned dev, unsigned fn, unsigned off,
		      unsigned size, uint32_t val)
{
	struct pci_device *d = lookup(bus, busno, dev, fn);
	if (!d || !access_ok(off, size))
		return;
	pthread_mutex_lock(&bus->cfg_lock);
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));
		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (b & d->wmask[o]));
		d->cfg[o] &= (uint8_t)~(b & d->w1cmask[o]);
	}
	int touches_cmd = off < PCI_COMMAND + 2 && off + size > PCI_COMMAND;
	int touches_bar = off < PCI_BAR0 + 4 * PCI_NUM_BARS && off + size > PCI_BAR0;
	if (touches_cmd || touches_bar)
		bars_update(d);
	if (touches_cmd) {
		pthread_mutex_lock(&d->intx_lock);
		d->intx_disabled = !!(pci_cfg_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
		intx_sync(d);
		pthread_mutex_unlock(&d->intx_lock);
	}
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d, off, size);
	pthread_mutex_unlock(&bus->cfg_lock);
}

/* --- the two config mechanisms --- */
static void put(uint8_t *data, unsigned size, uint32_t v)
{
	for (unsigned i = 0; i < size; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get(const uint8_t *data, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	return v;
}

/* 0xCF8-0xCFB is CONFIG_ADDRESS, but only to dword accesses: byte and word
 * accesses there are ordinary I/O (0xCF9 is a chipset reset register on
 * PCs), which nothing here decodes. 0xCFC-0xCFF is CONFIG_DATA, any size,
 * the low two address bits coming from the port. */
static void cf8_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	if (offset == 0 && size == 4) {
		pthread_mutex_lock(&bus->cfg_lock);
		put(data, 4, bus->cf8);
		pthread_mutex_unlock(&bus->cfg_lock);
		return;
	}
	memset(data, 0xff, size);
	if (offset < 4 || size > 4 || offset + size > 8)
		return;
	pthread_mutex_lock(&bus->cfg_lock);
	uint32_t a = bus->cf8;
	pthread_mutex_unlock(&bus->cfg_lock);
	if (!(a & CF8_ENABLE))
		return;
	unsigned off = (a & 0xfc) | (unsigned)(offset - 4);
	put(data, size, pci_config_read(bus, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, off, size));
}

static void cf8_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	if (offset == 0 && size == 4) {
		pthread_mutex_lock(&bus->cfg_lock);
		/* Bits 30:24 are reserved (read-only zero); bits 1:0 too for type 0. */
		bus->cf8 = get(data, 4) & 0x80fffffcu;
		pthread_mutex_unlock(&bus->cfg_lock);
		return;
	}
	if (offset < 4 || size > 4 || offset + size > 8)
		return;
	pthread_mutex_lock(&bus->cfg_lock);
	uint32_t a = bus->cf8;
	pthread_mutex_unlock(&bus->cfg_lock);
	if (!(a & CF8_ENABLE))
		return;
	unsigned off = (a & 0xfc) | (unsigned)(offset - 4);
	pci_config_write(bus, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, off, size, get(data, size));
}

static const struct bus_ops cf8_ops = { .read = cf8_read, .write = cf8_write };

static void ecam_decode(uint64_t offset, unsigned *b, unsigned *dev, unsigned *fn, unsigned *off)
{
	*b = (unsigned)(offset >> ECAM_BUS_SHIFT);
	*dev = (unsigned)(offset >> ECAM_DEV_SHIFT) & 0x1f;
	*fn = (unsigned)(offset >> ECAM_FN_SHIFT) & 7;
	*off = (unsigned)offset & 0xfff;
}

static void ecam_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	unsigned b, dev, fn, off;
	memset(data, 0xff, size);
	if (size > 4)
		return; /* 8-byte config accesses are not defined by PCIe */
	ecam_decode(offset, &b, &dev, &fn, &off);
	put(data, size, pci_config_read(opaque, b, dev, fn, off, size));
}

static void ecam_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
	unsigned b, dev, fn, off;
	if (size > 4)
		return;
	ecam_decode(offset, &b, &dev, &fn, &off);
	pci_config_write(opaque, b, dev, fn, off, size, get(data, size));
}

static const struct bus_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

/* --- BAR dispatch inside the windows --- */
static const struct pci_bar *bar_at(struct pci_bus *bus, int io, uint64_t addr, unsigned size,
				    uint64_t *offset)
{
	for (int s = 0; s < PCI_SLOTS; s++) {
		struct pci_device *d = bus->slot[s];
		if (!d)
			continue;
		for (int i = 0; i < PCI_NUM_BARS; i++) {
			const struct pci_bar *b = &d->bar[i];
			if (b->type == PCI_BAR_NONE || (b->type == PCI_BAR_IO) != io)
				continue;
			uint64_t a = atomic_load(&b->mapped);
			if (a == PCI_BAR_UNMAPPED || addr < a || addr - a >= b->size)
				continue;
			if (size > b->size - (addr - a))
				return NULL; /* runs off the BAR's end */
			*offset = addr - a;
			return b;
		}
	}
	return NULL;
}

static void window_access(struct pci_window_ctx *w, uint64_t offset, uint8_t *data, unsigned size, int is_write)
{
	uint64_t boff;
	const struct pci_bar *b = bar_at(w->bus, w->io, w->base + offset, size, &boff);
	if (b && b->ops && is_write && b->ops->write)
		b->ops->write(b->opaque, boff, data, size);
	else if (b && b->ops && !is_write && b->ops->read)
		b->ops->read(b->opaque, boff, data, size);
	else if (!is_write)
		memset(data, 0xff, size);
}
static void window_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	window_access(opaque, offset, data, size, 0);
}
static void window_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
	window_access(opaque, offset, (uint8_t *)data, size, 1);
}
static const struct bus_ops window_ops = { .read = window_read, .write = window_write };

/* --- the bus --- */
int pci_bus_init(struct pci_bus *bus, struct bus *pio, struct bus *mmio, const struct pci_bus_config *c)
{
	static const uint64_t ecam_size = 1ULL << ECAM_BUS_SHIFT; /* bus 0 */
	int r;
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->cfg_lock, NULL);
	bus->pio = pio;
	bus->mmio = mmio;
	bus->ecam_base = c->ecam_base;
	bus->io = (struct pci_window){ c->io_base, c->io_size, c->io_base };
	bus->mem32 = (struct pci_window){ c->mem32_base, c->mem32_size, c->mem32_base };
	bus->mem64 = (struct pci_window){ c->mem64_base, c->mem64_size, c->mem64_base };
	bus->set_irq = c->set_irq;
	bus->irq_opaque = c->irq_opaque;
	bus->win[0] = (struct pci_window_ctx){ bus, c->io_base, 1 };
	bus->win[1] = (struct pci_window_ctx){ bus, c->mem32_base, 0 };
	bus->win[2] = (struct pci_window_ctx){ bus, c->mem64_base, 0 };

	if ((r = bus_register(pio, 0xcf8, 8, "pci-config", &cf8_ops, bus)) < 0 ||
	    (r = bus_register(mmio, c->ecam_base, ecam_size, "pci-ecam", &ecam_ops, bus)) < 0)
		return r;
	if (c->io_size && (r = bus_register(pio, c->io_base, c->io_size, "pci-io", &window_ops, &bus->win[0])) < 0)
		return r;
	if (c->mem32_size &&
	    (r = bus_register(mmio, c->mem32_base, c->mem32_size, "pci-mem32", &window_ops, &bus->win[1])) < 0)
		return r;
	if (c->mem64_size &&
	    (r = bus_register(mmio, c->mem64_base, c->mem64_size, "pci-mem64", &window_ops, &bus->win[2])) < 0)
		return r;

	pci_device_init(&bus->host, "host-bridge", PCI_HOST_VENDOR, PCI_HOST_DEVICE, PCI_CLASS_HOST_BRIDGE, 0);
	/* A host bridge has no decoding of its own to switch. */
	pci_set_wmask(&bus->host, PCI_COMMAND, 2, 0);
	r = pci_register(bus, &bus->host, 0);
	return r < 0 ? r : 0;
}
