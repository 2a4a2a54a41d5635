/* A hostile virtio driver, run as root inside the test guest
 * (kvmbox.exec=/bin/guest_hostile): it takes virtio-rng (1af4:1044) and
 * virtio-blk (1af4:1042) away from the guest kernel and drives them from
 * user space, through the BAR (sysfs resource0) and rings in mlock'ed pages
 * whose guest-physical addresses come from /proc/self/pagemap, breaking one
 * virtio rule per scenario. After each it reads device_status and prints
 *
 *   KVMBOX-GUEST: hostile NAME status=0xNN untouched=1 reset=1
 *
 * (untouched=0: the device wrote into a buffer of a request it should have
 * refused; reset=0: the reset before the scenario did not complete). Then good requests, after a reset, must work:
 *
 *   KVMBOX-GUEST: hostile good used_len=N status=0xNN changed=1
 *   KVMBOX-GUEST: hostile good-blk used_len=N status=0xNN blk_status=S changed=1
 *
 * It judges nothing itself (tests/vm/hostile_test.c does, with the VMM's
 * log); the exit status is 0 unless the setup failed. Every line is drained
 * to the serial port before the next scenario starts, so the VMM's log line
 * for a scenario lies between the previous status line and its own.
 *
 * Interrupts: MSI-X is enabled with the function masked and no vector is
 * assigned, so the devices raise none; completions are polled.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_SAY_PREFIX "KVMBOX-GUEST: hostile "
#define GUEST_SAY_DRAIN /* each line on the wire before anything else happens */
#include "guest_util.h"
#include "sysfs_util.h"

/* kvmbox's BAR 0 layout (drivers/virtio/virtio_pci.h). */
#define BAR_SIZE 0x8000
#define COMMON_OFF 0x0000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4

#define ST_ACK 0x01
#define ST_DRIVER 0x02
#define ST_DRIVER_OK 0x04
#define ST_FEATURES_OK 0x08
#define ST_NEEDS_RESET 0x40

#define F_INDIRECT (1ull << 28)
#define F_VERSION_1 (1ull << 32)

#define PAGE 4096u
#define POOL_PAGES 1024u      /* 4 MiB to pick physically contiguous runs from */
#define QSIZE 64u             /* the queue size we use (both devices allow it) */
#define AVAIL_OFF 1024u       /* ring page: descriptors, available ring, used ring */
#define USED_OFF 2048u
#define LONG_ENTRIES 2048u    /* "long": indirect table entries (8 pages) */
#define CANARY 0xa5
#define WAIT_S 5.0            /* how long the device gets to react */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned read_hex(const char *path)
{
	char buf[32];
	read_file(path, buf, sizeof(buf));
	return (unsigned)strtoul(buf, NULL, 16);
}

/* --- memory the devices may use --- */

struct page {
	uint64_t pfn;
	uint8_t *va;
	bool used;
};
static struct page pool[POOL_PAGES];

static int cmp_pfn(const void *a, const void *b)
{
	uint64_t x = ((const struct page *)a)->pfn, y = ((const struct page *)b)->pfn;
	return x < y ? -1 : x > y;
}

/* Fault in, lock and look up POOL_PAGES pages, sorted by frame number. The
 * area is 2 MiB-aligned, so transparent huge pages give long runs. */
static int pool_init(void)
{
	/* Keep compaction from moving our locked pages under the devices. */
	write_str("/proc/sys/vm/compact_unevictable_allowed", "0");
	size_t len = (size_t)POOL_PAGES * PAGE, align = 2u << 20;
	uint8_t *raw = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return -errno;
	uint8_t *p = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	madvise(p, len, MADV_HUGEPAGE);
	memset(p, 0, len);
	if (mlock(p, len) < 0)
		return -errno;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; i < POOL_PAGES; i++) {
		uint64_t e = 0;
		uint8_t *va = p + (size_t)i * PAGE;
		if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)va / PAGE * sizeof(e))) != sizeof(e)) {
			close(fd);
			return -EIO;
		}
		uint64_t pfn = e & ((1ull << 55) - 1);
		if (!(e >> 63) || !pfn) { /* not present, or no PFN (not root) */
			close(fd);
			return -EPERM;
		}
		pool[i] = (struct page){ .pfn = pfn, .va = va };
	}
	close(fd);
	qsort(pool, POOL_PAGES, sizeof(pool[0]), cmp_pfn);
	return 0;
}

/* A run of n physically contiguous pages: its first index in pool, or -1. */
static int pool_take(unsigned n)
{
	for (unsigned i = 0; i + n <= POOL_PAGES; i++) {
		unsigned k = 0;
		while (k < n && !pool[i + k].used && pool[i + k].pfn == pool[i].pfn + k)
			k++;
		if (k < n)
			continue;
		for (k = 0; k < n; k++)
			pool[i + k].used = true;
		return (int)i;
	}
	return -1;
}

/* The guest-physical address and our mapping of byte off of run r. */
static uint64_t pa(int r, size_t off)
{
	return pool[r].pfn * PAGE + off;
}

static void *va(int r, size_t off)
{
	return pool[r + (int)(off / PAGE)].va + off % PAGE;
}

/* --- the device --- */

struct dev {
	const char *name;
	char bdf[256];
	volatile uint8_t *bar;
};

static uint8_t rd8(struct dev *d, unsigned off) { return *(volatile uint8_t *)(d->bar + off); }
static void wr8(struct dev *d, unsigned off, uint8_t v) { *(volatile uint8_t *)(d->bar + off) = v; }
static void wr16(struct dev *d, unsigned off, uint16_t v) { *(volatile uint16_t *)(d->bar + off) = v; }
static void wr32(struct dev *d, unsigned off, uint32_t v) { *(volatile uint32_t *)(d->bar + off) = v; }

static void wr64(struct dev *d, unsigned off, uint64_t v)
{
	wr32(d, off, (uint32_t)v);
	wr32(d, off + 4, (uint32_t)(v >> 32));
}

static uint8_t status(struct dev *d)
{
	return rd8(d, COMMON_OFF + VIRTIO_PCI_COMMON_STATUS);
}

static void set_status(struct dev *d, uint8_t v)
{
	wr8(d, COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, v);
}

/* Find vendor:device under /sys/bus/pci/devices, take it from its kernel
 * driver, turn on memory decoding and bus mastering, enable MSI-X with the
 * function masked (no interrupts: we poll) and map BAR 0. */
static int dev_open(struct dev *d, const char *name, unsigned vendor, unsigned device)
{
	d->name = name;
	DIR *dir = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	bool found = false;
	char path[600];
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		unsigned v = read_hex(path);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
		if (v == vendor && read_hex(path) == device) {
			snprintf(d->bdf, sizeof(d->bdf), "%s", e->d_name);
			found = true;
			break;
		}
	}
	if (dir)
		closedir(dir);
	if (!found) {
		say("setup %s: no PCI device %04x:%04x", name, vendor, device);
		return -1;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", d->bdf);
	if (access(path, F_OK) == 0 && write_str(path, d->bdf) < 0) {
		say("setup %s: unbind %s: %s", name, d->bdf, strerror(errno));
		return -1;
	}

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", d->bdf);
	int fd = open(path, O_RDWR);
	uint8_t cfg[256];
	if (fd < 0 || pread(fd, cfg, sizeof(cfg), 0) != (ssize_t)sizeof(cfg)) {
		say("setup %s: %s: %s", name, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	uint16_t cmd = (uint16_t)(cfg[4] | cfg[5] << 8);
	cmd |= 0x0002 | 0x0004 | 0x0400; /* memory, bus master, INTx disable */
	int ok = pwrite(fd, &cmd, 2, 4) == 2;
	unsigned cap = cfg[0x34] & 0xfc, guard = 0;
	while (ok && cap && guard++ < 48) {
		if (cfg[cap] == 0x11) { /* MSI-X */
			uint16_t ctl = (uint16_t)(cfg[cap + 2] | cfg[cap + 3] << 8);
			ctl |= 0xc000;  /* enable, function mask */
			ok = pwrite(fd, &ctl, 2, cap + 2) == 2;
			break;
		}
		cap = cfg[cap + 1] & 0xfc;
	}
	close(fd);
	if (!ok) {
		say("setup %s: writing the config space: %s", name, strerror(errno));
		return -1;
	}

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", d->bdf);
	fd = open(path, O_RDWR | O_SYNC);
	void *m = fd < 0 ? MAP_FAILED : mmap(NULL, BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	if (m == MAP_FAILED) {
		say("setup %s: mmap %s: %s", name, path, strerror(errno));
		return -1;
	}
	d->bar = m;
	return 0;
}

/* device_status = 0, and wait until it reads 0. The last reset's outcome
 * goes into each report line: NEEDS_RESET must come from the scenario, not
 * from the one before. */
static bool reset_ok;

static int dev_reset(struct dev *d)
{
	set_status(d, 0);
	double end = now() + WAIT_S;
	reset_ok = false;
	while (status(d) != 0) {
		if (now() > end)
			return -1;
		usleep(1000);
	}
	reset_ok = true;
	return 0;
}

/* ACKNOWLEDGE, DRIVER, the features, FEATURES_OK. */
static void dev_features(struct dev *d, uint64_t features)
{
	set_status(d, ST_ACK);
	set_status(d, ST_ACK | ST_DRIVER);
	wr32(d, COMMON_OFF + VIRTIO_PCI_COMMON_GFSELECT, 0);
	wr32(d, COMMON_OFF + VIRTIO_PCI_COMMON_GF, (uint32_t)features);
	wr32(d, COMMON_OFF + VIRTIO_PCI_COMMON_GFSELECT, 1);
	wr32(d, COMMON_OFF + VIRTIO_PCI_COMMON_GF, (uint32_t)(features >> 32));
	set_status(d, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
}

/* Queue 0 of size qsize with its rings at these addresses, then
 * queue_enable. */
static void dev_queue_at(struct dev *d, unsigned qsize, uint64_t desc, uint64_t avail, uint64_t used)
{
	wr16(d, COMMON_OFF + VIRTIO_PCI_COMMON_Q_SELECT, 0);
	wr16(d, COMMON_OFF + VIRTIO_PCI_COMMON_Q_SIZE, (uint16_t)qsize);
	wr16(d, COMMON_OFF + VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	wr64(d, COMMON_OFF + VIRTIO_PCI_COMMON_Q_DESCLO, desc);
	wr64(d, COMMON_OFF + VIRTIO_PCI_COMMON_Q_AVAILLO, avail);
	wr64(d, COMMON_OFF + VIRTIO_PCI_COMMON_Q_USEDLO, used);
	wr16(d, COMMON_OFF + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
}

/* The same, with the rings in run r (page 0). */
static void dev_queue(struct dev *d, int r, unsigned qsize)
{
	dev_queue_at(d, qsize, pa(r, 0), pa(r, AVAIL_OFF), pa(r, USED_OFF));
}

static void dev_kick(struct dev *d)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr16(d, NOTIFY_OFF + 0 * NOTIFY_MULT, 0);
}

/* Wait until NEEDS_RESET shows, or WAIT_S; the last status read. */
static uint8_t wait_needs_reset(struct dev *d)
{
	double end = now() + WAIT_S;
	uint8_t s;
	while (!((s = status(d)) & ST_NEEDS_RESET) && now() < end)
		usleep(1000);
	return s;
}

/* --- rings --- */

static int ring;    /* one page: descriptors, available ring, used ring */
static int bufs;    /* one page of buffers */
static int table;   /* LONG_ENTRIES * 16 bytes, physically contiguous */

static void desc_set(void *tab, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *dsc = (struct vring_desc *)tab + i;
	dsc->addr = addr;
	dsc->len = len;
	dsc->flags = flags;
	dsc->next = next;
}

/* Fresh rings and canary-filled buffers. */
static void rings_clear(void)
{
	memset(va(ring, 0), 0, PAGE);
	memset(va(bufs, 0), CANARY, PAGE);
}

/* Make descriptor head available (no interrupts wanted). */
static void avail_push(uint16_t head)
{
	uint16_t *avail = va(ring, AVAIL_OFF);
	avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
	uint16_t idx = avail[1];
	avail[2 + idx % QSIZE] = head;
	__atomic_store_n(&avail[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static bool untouched(void)
{
	const uint8_t *b = va(bufs, 0);
	for (unsigned i = 0; i < PAGE; i++)
		if (b[i] != CANARY)
			return false;
	return true;
}

/* --- the scenarios --- */

/* The usual start: reset, features, queue 0 (of QSIZE), DRIVER_OK. */
static void start(struct dev *d, uint64_t features)
{
	dev_reset(d);
	rings_clear();
	dev_features(d, features);
	dev_queue(d, ring, QSIZE);
	set_status(d, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
}

static void report(struct dev *d, const char *name)
{
	uint8_t s = wait_needs_reset(d);
	say("%s status=0x%02x untouched=%d reset=%d", name, s, untouched(), reset_ok);
}

/* Two descriptors that point at each other. */
static void sc_loop(struct dev *rng)
{
	start(rng, F_VERSION_1);
	void *t = va(ring, 0);
	desc_set(t, 0, pa(bufs, 0), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc_set(t, 1, pa(bufs, 16), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	avail_push(0);
	dev_kick(rng);
	report(rng, "loop");
}

/* An indirect table of LONG_ENTRIES chained descriptors: longer than the
 * queue (QSIZE) and than any chain a device need take. */
static void sc_long(struct dev *rng)
{
	start(rng, F_VERSION_1 | F_INDIRECT);
	for (unsigned i = 0; i < LONG_ENTRIES; i++) {
		bool last = i + 1 == LONG_ENTRIES;
		desc_set(va(table, 16u * i), 0, pa(bufs, 0), 1,
			 (uint16_t)(VRING_DESC_F_WRITE | (last ? 0 : VRING_DESC_F_NEXT)), (uint16_t)(last ? 0 : i + 1));
	}
	desc_set(va(ring, 0), 0, pa(table, 0), LONG_ENTRIES * 16, VRING_DESC_F_INDIRECT, 0);
	avail_push(0);
	dev_kick(rng);
	report(rng, "long");
}

/* One writable buffer at addr, len: outside RAM, across its end, or wrapping. */
static void sc_buffer(struct dev *rng, const char *name, uint64_t addr, uint32_t len)
{
	start(rng, F_VERSION_1);
	desc_set(va(ring, 0), 0, addr, len, VRING_DESC_F_WRITE, 0);
	avail_push(0);
	dev_kick(rng);
	report(rng, name);
}

/* virtio-rng given a device-readable buffer. */
static void sc_direction(struct dev *rng)
{
	start(rng, F_VERSION_1);
	desc_set(va(ring, 0), 0, pa(bufs, 0), 64, 0, 0);
	avail_push(0);
	dev_kick(rng);
	report(rng, "direction");
}

/* queue_size 3, then queue_enable. */
static void sc_size(struct dev *rng)
{
	dev_reset(rng);
	rings_clear();
	dev_features(rng, F_VERSION_1);
	dev_queue(rng, ring, 3);
	set_status(rng, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	report(rng, "size");
}

/* A proper request, but kicked before DRIVER_OK. */
static void sc_early(struct dev *rng)
{
	dev_reset(rng);
	rings_clear();
	dev_features(rng, F_VERSION_1);
	dev_queue(rng, ring, QSIZE);
	desc_set(va(ring, 0), 0, pa(bufs, 0), 64, VRING_DESC_F_WRITE, 0);
	avail_push(0);
	dev_kick(rng);
	report(rng, "early");
}

/* The descriptor table outside guest RAM (checked at queue_enable). */
static void sc_ring(struct dev *rng)
{
	dev_reset(rng);
	rings_clear();
	dev_features(rng, F_VERSION_1);
	dev_queue_at(rng, QSIZE, 0x7f0000000000ull, pa(ring, AVAIL_OFF), pa(ring, USED_OFF));
	set_status(rng, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	report(rng, "ring");
}

/* The available ring names descriptor 200 of a 64-entry table. */
static void sc_head(struct dev *rng)
{
	start(rng, F_VERSION_1);
	desc_set(va(ring, 0), 0, pa(bufs, 0), 64, VRING_DESC_F_WRITE, 0);
	avail_push(200);
	dev_kick(rng);
	report(rng, "head");
}

/* avail idx moves by 100 at once, more than the queue holds. */
static void sc_jump(struct dev *rng)
{
	start(rng, F_VERSION_1);
	desc_set(va(ring, 0), 0, pa(bufs, 0), 64, VRING_DESC_F_WRITE, 0);
	uint16_t *avail = va(ring, AVAIL_OFF);
	avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
	__atomic_store_n(&avail[1], (uint16_t)100, __ATOMIC_RELEASE);
	dev_kick(rng);
	report(rng, "jump");
}

/* An indirect descriptor inside an indirect table. */
static void sc_nested(struct dev *rng)
{
	start(rng, F_VERSION_1 | F_INDIRECT);
	desc_set(va(table, 0), 0, pa(table, 0), 16, VRING_DESC_F_INDIRECT, 0);
	desc_set(va(ring, 0), 0, pa(table, 0), 16, VRING_DESC_F_INDIRECT, 0);
	avail_push(0);
	dev_kick(rng);
	report(rng, "nested");
}

/* An indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC. */
static void sc_noindirect(struct dev *rng)
{
	start(rng, F_VERSION_1);
	desc_set(va(table, 0), 0, pa(bufs, 0), 64, VRING_DESC_F_WRITE, 0);
	desc_set(va(ring, 0), 0, pa(table, 0), 16, VRING_DESC_F_INDIRECT, 0);
	avail_push(0);
	dev_kick(rng);
	report(rng, "noindirect");
}

/* virtio-blk: a 16-byte readable header (a read of sector 0), nothing
 * writable, so no status byte. */
static void sc_nostatus(struct dev *blk)
{
	start(blk, F_VERSION_1);
	memset(va(bufs, 0), 0, 16); /* type 0 (IN), sector 0 */
	desc_set(va(ring, 0), 0, pa(bufs, 0), 16, 0, 0);
	avail_push(0);
	dev_kick(blk);
	uint8_t s = wait_needs_reset(blk);
	/* The header is ours (zeroed above); the canary is in the rest. */
	const uint8_t *b = va(bufs, 0);
	bool same = true;
	for (unsigned i = 16; i < PAGE; i++)
		same &= b[i] == CANARY;
	say("nostatus status=0x%02x untouched=%d reset=%d", s, same, reset_ok);
}

/* Wait for the used ring to hold one element; its length, or -1. */
static long wait_used(void)
{
	const uint16_t *used = va(ring, USED_OFF);
	double end = now() + WAIT_S;
	while (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == 0) {
		if (now() > end)
			return -1;
		usleep(1000);
	}
	const uint32_t *elem = va(ring, USED_OFF + 4);
	return (long)elem[1];
}

/* After all that, a reset and a proper virtio-rng request. */
static void sc_good(struct dev *rng)
{
	start(rng, F_VERSION_1);
	desc_set(va(ring, 0), 0, pa(bufs, 0), 64, VRING_DESC_F_WRITE, 0);
	avail_push(0);
	dev_kick(rng);
	long n = wait_used();
	say("good used_len=%ld status=0x%02x changed=%d", n, status(rng), !untouched());
}

/* And a proper virtio-blk read of sector 0 (the image is all zeros). */
static void sc_good_blk(struct dev *blk)
{
	start(blk, F_VERSION_1);
	uint8_t *b = va(bufs, 0);
	memset(b, 0, 16); /* type 0 (IN), sector 0 */
	desc_set(va(ring, 0), 0, pa(bufs, 0), 16, VRING_DESC_F_NEXT, 1);
	desc_set(va(ring, 0), 1, pa(bufs, 512), 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	desc_set(va(ring, 0), 2, pa(bufs, 1024), 1, VRING_DESC_F_WRITE, 0);
	avail_push(0);
	dev_kick(blk);
	long n = wait_used();
	bool zeros = true;
	for (unsigned i = 512; i < 1024; i++)
		zeros &= b[i] == 0;
	say("good-blk used_len=%ld status=0x%02x blk_status=%u changed=%d", n, status(blk), b[1024], zeros);
}

int main(void)
{
	struct dev rng, blk;
	int r = pool_init();
	if (r < 0) {
		say("setup: memory: %s", strerror(-r));
		return 1;
	}
	ring = pool_take(1);
	bufs = pool_take(1);
	table = pool_take(LONG_ENTRIES * 16 / PAGE);
	if (ring < 0 || bufs < 0 || table < 0) {
		say("setup: no %u physically contiguous pages", LONG_ENTRIES * 16 / PAGE);
		return 1;
	}
	if (dev_open(&rng, "virtio-rng", 0x1af4, 0x1044) < 0 || dev_open(&blk, "virtio-blk", 0x1af4, 0x1042) < 0)
		return 1;
	if (dev_reset(&rng) < 0 || dev_reset(&blk) < 0) {
		say("setup: a device does not reset");
		return 1;
	}
	uint64_t end = 0;
	{
		/* The end of guest RAM: the last "System RAM" line of /proc/iomem. */
		FILE *f = fopen("/proc/iomem", "r");
		char line[256];
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long long a, b;
			if (line[0] != ' ' && strstr(line, "System RAM") && sscanf(line, "%llx-%llx", &a, &b) == 2 &&
			    b + 1 > end)
				end = b + 1;
		}
		if (f)
			fclose(f);
	}
	if (!end) {
		say("setup: no System RAM in /proc/iomem");
		return 1;
	}
	say("start rng=%s blk=%s ram_end=0x%llx", rng.bdf, blk.bdf, (unsigned long long)end);

	sc_loop(&rng);
	sc_long(&rng);
	sc_buffer(&rng, "outside", 0x7f0000000000ull, 64);
	sc_buffer(&rng, "overflow", end - 2048, 8192);
	sc_buffer(&rng, "wrap", 0xfffffffffffff000ull, 0x2000);
	sc_direction(&rng);
	sc_size(&rng);
	sc_early(&rng);
	sc_ring(&rng);
	sc_head(&rng);
	sc_jump(&rng);
	sc_nested(&rng);
	sc_noindirect(&rng);
	sc_nostatus(&blk);
	sc_good(&rng);
	sc_good_blk(&blk);

	dev_reset(&rng);
	dev_reset(&blk);
	say("end");
	return 0;
}
