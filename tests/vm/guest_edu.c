/* Guest side of the VFIO passthrough test (tests/vm/vfio_test.c), run by the
 * test guest's /init with kvmbox.exec=/bin/guest_edu. The appliance passes
 * QEMU's edu device (1234:11e8, docs/specs/edu.rst in QEMU) through to this
 * guest; its kernel has no edu driver, so the device is driven from here:
 * BAR0 through sysfs's resource0, the MSI through the guest's own vfio-pci
 * in no-IOMMU mode (the only way user space gets a device's interrupt).
 * One line per check:
 *   KVMBOX-GUEST: edu-found ok BDF | edu-found none
 *   KVMBOX-GUEST: edu-id ok | edu-id bad 0x...
 *   KVMBOX-GUEST: edu-liveness ok | ... bad
 *   KVMBOX-GUEST: edu-factorial ok | ... bad N
 *   KVMBOX-GUEST: edu-dma ok | ... bad WHY
 *   KVMBOX-GUEST: edu-msi ok | ... bad WHY
 *   KVMBOX-GUEST: edu-intx ok | ... bad WHY
 * and exits 0 when all went well.
 *
 * With kvmbox.vfio=e1000e on the command line it checks a passed-through
 * e1000e (8086:10d3) instead: the guest's own driver binds to it, and eth0
 * comes up with a link:
 *   KVMBOX-GUEST: e1000e-driver ok IFNAME | ... bad WHY
 *   KVMBOX-GUEST: e1000e-link ok | ... bad WHY
 * With kvmbox.vfio=both, the edu checks and then those of an mdev instance
 * of the kernel's mtty sample: two devices in one VM. The mtty is a PCI
 * 16550 (4348:3253) whose I/O BAR the VMM traps and forwards to the mdev:
 *   KVMBOX-GUEST: mtty-found ok BDF | mtty-found none
 *   KVMBOX-GUEST: mtty-uart ok | ... bad WHY */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* sysfs names are short; a truncated one would only fail a check. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "guest_util.h"
#include "sysfs_util.h"

#define EDU_ID 0x00
#define EDU_LIVE 0x04
#define EDU_FACT 0x08
#define EDU_STATUS 0x20
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_COUNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_START 1
#define EDU_DMA_TO_RAM 2    /* direction: 0 RAM -> device buffer, 1 device buffer -> RAM */
#define EDU_DMA_BUF 0x40000 /* the device's 4 KiB buffer, in its DMA address space */
#define EDU_BAR_SIZE (1 << 20)
/* Well inside the 4 KiB buffer: some QEMU versions refuse (with a hardware
 * error that stops QEMU) a transfer that ends exactly at its end. */
#define DMA_LEN 1024

static volatile uint8_t *bar;

static uint32_t rd32(unsigned off) { return *(volatile uint32_t *)(bar + off); }
static void wr32(unsigned off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }
static uint64_t rd64(unsigned off) { return *(volatile uint64_t *)(bar + off); }
static void wr64(unsigned off, uint64_t v) { *(volatile uint64_t *)(bar + off) = v; }

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* No driver enables the device: turn on memory decoding and bus mastering
 * through sysfs's config file, as a driver's pci_enable_device and
 * pci_set_master would. */
static int enable_device(const char *bdf)
{
	char p[256];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/config", bdf);
	int fd = open(p, O_RDWR);
	uint16_t cmd = 0;
	int ok = fd >= 0 && pread(fd, &cmd, 2, 4) == 2;
	cmd |= 0x6;
	ok = ok && pwrite(fd, &cmd, 2, 4) == 2;
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

static int wait_clear(unsigned off, uint32_t mask, double timeout)
{
	double end = now() + timeout;
	/* Spin rather than sleep: a sleeping nested guest under TCG has been
	 * seen to miss its timer for tens of seconds. */
	while (rd32(off) & mask)
		if (now() > end)
			return -1;
	return 0;
}

/* The guest-physical address of a locked page, from /proc/self/pagemap. */
static uint64_t phys_of(void *p)
{
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	off_t at = (off_t)((uintptr_t)p / 4096 * 8);
	int ok = fd >= 0 && pread(fd, &ent, 8, at) == 8;
	if (fd >= 0)
		close(fd);
	if (!ok || !(ent >> 63 & 1) || !(ent & ((1ULL << 55) - 1)))
		return 0;
	return (ent & ((1ULL << 55) - 1)) * 4096;
}

static int dma(uint64_t src, uint64_t dst, uint32_t cmd)
{
	wr64(EDU_DMA_SRC, src);
	wr64(EDU_DMA_DST, dst);
	wr64(EDU_DMA_COUNT, DMA_LEN);
	wr64(EDU_DMA_CMD, EDU_DMA_START | cmd);
	/* edu finishes a transfer from a timer, 100 ms later. */
	double end = now() + 10;
	while (rd64(EDU_DMA_CMD) & EDU_DMA_START) /* spinning, as in wait_clear() */
		if (now() > end)
			return -1;
	return 0;
}

static int check_dma(char *why, size_t size)
{
	uint8_t *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || mlock(a, 8192) < 0) {
		snprintf(why, size, "mmap/mlock: %s", strerror(errno));
		return -1;
	}
	uint8_t *b = a + 4096;
	for (int i = 0; i < 4096; i++) {
		a[i] = (uint8_t)(i * 7 + 3);
		b[i] = 0;
	}
	uint64_t pa = phys_of(a), pb = phys_of(b);
	if (!pa || !pb) {
		snprintf(why, size, "no physical address from pagemap");
		return -1;
	}
	if (dma(pa, EDU_DMA_BUF, 0) < 0 || dma(EDU_DMA_BUF, pb, EDU_DMA_TO_RAM) < 0) {
		snprintf(why, size, "a transfer did not finish (pa %#llx pb %#llx)", (unsigned long long)pa,
			 (unsigned long long)pb);
		return -1;
	}
	for (int i = 0; i < DMA_LEN; i++)
		if (b[i] != a[i]) {
			snprintf(why, size, "byte %d is %#x, wanted %#x (pa %#llx pb %#llx)", i, b[i], a[i],
				 (unsigned long long)pa, (unsigned long long)pb);
			return -1;
		}
	snprintf(why, size, "%d bytes via %#llx and %#llx", DMA_LEN, (unsigned long long)pa, (unsigned long long)pb);
	return 0;
}

/* The guest kernel's line for vfio's interrupt in /proc/interrupts: how many
 * arrived, when a check waited for one in vain. */
static void vfio_irq_line(char *line, size_t size)
{
	char ints[4096];
	snprintf(line, size, "no vfio line in /proc/interrupts");
	read_file("/proc/interrupts", ints, sizeof(ints));
	const char *l = strstr(ints, "vfio");
	if (l) {
		while (l > ints && l[-1] != '\n')
			l--;
		snprintf(line, size, "%.*s", (int)strcspn(l, "\n"), l);
	}
}

/* The guest's vfio device fd and BAR0's offset in it, once check_msi has
 * opened them; check_intx uses them too. */
static int vdev = -1;
static uint64_t vbar0;

/* The MSI: the guest's vfio-pci in no-IOMMU mode enables it on our emulated
 * MSI capability, edu raises it, and it must arrive on the eventfd. */
static int check_msi(const char *bdf, char *why, size_t size)
{
	char p[256], grp[64];
	mount("devtmpfs", "/dev", "devtmpfs", 0, ""); /* guest_init mounted it already: harmless */
	if (write_str("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y") < 0) {
		snprintf(why, size, "no-IOMMU mode: %s", strerror(errno));
		return -1;
	}
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", bdf);
	int r = write_str(p, "vfio-pci");
	if (!r)
		r = write_str("/sys/bus/pci/drivers_probe", bdf);
	if (r < 0) {
		snprintf(why, size, "binding to vfio-pci: %s", strerror(-r));
		return -1;
	}
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	ssize_t n = readlink(p, grp, sizeof(grp) - 1);
	if (n < 0) {
		snprintf(why, size, "no IOMMU group after binding");
		return -1;
	}
	grp[n] = '\0';
	const char *g = strrchr(grp, '/');
	g = g ? g + 1 : grp;
	snprintf(p, sizeof(p), "/dev/vfio/noiommu-%s", g);
	int c = open("/dev/vfio/vfio", O_RDWR), gf = open(p, O_RDWR);
	if (c < 0 || gf < 0) {
		snprintf(why, size, "opening %s: %s", c < 0 ? "/dev/vfio/vfio" : p, strerror(errno));
		return -1;
	}
	if (ioctl(gf, VFIO_GROUP_SET_CONTAINER, &c) < 0 || ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU) < 0) {
		snprintf(why, size, "container: %s", strerror(errno));
		return -1;
	}
	int dev = ioctl(gf, VFIO_GROUP_GET_DEVICE_FD, bdf);
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_BAR0_REGION_INDEX };
	if (dev < 0 || ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) {
		snprintf(why, size, "device fd: %s", strerror(errno));
		return -1;
	}
	vdev = dev;
	vbar0 = ri.offset;
	/* The MSI is a memory write by the device: it needs bus mastering,
	 * which binding to vfio-pci turned off again. */
	struct vfio_region_info ci = { .argsz = sizeof(ci), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd = 0;
	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ci) < 0 || pread(dev, &cmd, 2, (off_t)(ci.offset + 4)) != 2 ||
	    (cmd |= 0x6, pwrite(dev, &cmd, 2, (off_t)(ci.offset + 4))) != 2) {
		snprintf(why, size, "enabling bus mastering: %s", strerror(errno));
		return -1;
	}
	/* Twice, with MSI turned off and on again in between, as drivers do
	 * (e1000e tests its MSI that way): both rounds must get the interrupt.
	 * The latency is printed: nested under TCG it is far from native. */
	int efd = eventfd(0, EFD_CLOEXEC);
	size_t len = 0;
	for (int round = 0; round < 2; round++) {
		char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
		struct vfio_irq_set *s = (struct vfio_irq_set *)buf;
		memset(buf, 0, sizeof(buf));
		s->argsz = sizeof(buf);
		s->index = VFIO_PCI_MSI_IRQ_INDEX;
		if (round) {
			s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
			s->argsz = sizeof(*s);
			ioctl(dev, VFIO_DEVICE_SET_IRQS, s);
			s->argsz = sizeof(buf);
		}
		s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		s->count = 1;
		memcpy(s->data, &efd, sizeof(efd));
		if (ioctl(dev, VFIO_DEVICE_SET_IRQS, s) < 0) {
			snprintf(why, size, "round %d: VFIO_DEVICE_SET_IRQS (MSI): %s", round, strerror(errno));
			return -1;
		}
		uint32_t v = 0x1;
		double t0 = now();
		if (pwrite(dev, &v, 4, (off_t)(ri.offset + EDU_IRQ_RAISE)) != 4) {
			snprintf(why, size, "raising: %s", strerror(errno));
			return -1;
		}
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		r = poll(&pfd, 1, 10000);
		double ms = (now() - t0) * 1000;
		uint32_t st = 0;
		if (pread(dev, &st, 4, (off_t)(ri.offset + EDU_IRQ_STATUS)) != 4)
			st = ~0u;
		pwrite(dev, &v, 4, (off_t)(ri.offset + EDU_IRQ_ACK));
		if (r != 1) {
			/* The guest kernel's view: did the MSI reach it at all? */
			char line[256];
			vfio_irq_line(line, sizeof(line));
			snprintf(why + len, size - len, "round %d: no interrupt in 10 s (irq status %#x; %s)", round,
				 st, line);
			return -1;
		}
		uint64_t cnt = 0;
		if (read(efd, &cnt, 8) != 8)
			cnt = 0;
		int n = snprintf(why + len, size - len, "%sround %d: %llu interrupt(s) after %.1f ms", round ? ", " : "",
				 round, (unsigned long long)cnt, ms);
		len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;
	}
	return 0;
}

/* INTx: with MSI off again, the guest's vfio-pci takes edu's INTx (our
 * emulated pin, routed to an IOAPIC pin by a resampling irqfd). Each round
 * raises edu's interrupt, waits for it, acknowledges it at edu and unmasks
 * at vfio, as an INTx driver does; the second round only arrives when the
 * first one's EOI went back to the device (the resample path). Exactly one
 * interrupt per round: the line is level-triggered and masked until
 * unmasked, so more would mean a storm. */
static int check_intx(char *why, size_t size)
{
	if (vdev < 0) {
		snprintf(why, size, "no vfio device (the MSI check failed first)");
		return -1;
	}
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (struct vfio_irq_set *)buf;
	memset(buf, 0, sizeof(buf));
	s->argsz = sizeof(*s);
	s->index = VFIO_PCI_MSI_IRQ_INDEX;
	s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	ioctl(vdev, VFIO_DEVICE_SET_IRQS, s);
	int efd = eventfd(0, EFD_CLOEXEC);
	s->argsz = sizeof(buf);
	s->index = VFIO_PCI_INTX_IRQ_INDEX;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->count = 1;
	memcpy(s->data, &efd, sizeof(efd));
	if (ioctl(vdev, VFIO_DEVICE_SET_IRQS, s) < 0) {
		snprintf(why, size, "VFIO_DEVICE_SET_IRQS (INTx): %s", strerror(errno));
		return -1;
	}
	size_t len = 0;
	for (int round = 0; round < 2; round++) {
		uint32_t v = 0x2;
		double t0 = now();
		if (pwrite(vdev, &v, 4, (off_t)(vbar0 + EDU_IRQ_RAISE)) != 4) {
			snprintf(why, size, "raising: %s", strerror(errno));
			return -1;
		}
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		int r = poll(&pfd, 1, 10000);
		double ms = (now() - t0) * 1000;
		/* Let a storm show before counting, then quiet the device. */
		usleep(50 * 1000);
		uint64_t cnt = 0;
		if (r == 1 && read(efd, &cnt, 8) != 8)
			cnt = 0;
		uint32_t st = 0;
		if (pread(vdev, &st, 4, (off_t)(vbar0 + EDU_IRQ_STATUS)) != 4)
			st = ~0u;
		pwrite(vdev, &st, 4, (off_t)(vbar0 + EDU_IRQ_ACK));
		memset(buf, 0, sizeof(buf));
		s->argsz = sizeof(*s);
		s->index = VFIO_PCI_INTX_IRQ_INDEX;
		s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
		s->count = 1;
		ioctl(vdev, VFIO_DEVICE_SET_IRQS, s);
		if (r != 1 || cnt != 1) {
			char line[256];
			vfio_irq_line(line, sizeof(line));
			snprintf(why + len, size - len, "round %d: %s (irq status %#x; %s)", round,
				 r != 1 ? "no interrupt in 10 s" : "more than one interrupt", st, line);
			return -1;
		}
		int n = snprintf(why + len, size - len, "%sround %d: 1 interrupt after %.1f ms", round ? ", " : "", round, ms);
		len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;
	}
	return 0;
}

/* The passed-through e1000e: driven by the guest kernel's e1000e driver. */
static int check_e1000e(void)
{
	char bdf[64] = "", p[512], drv[256] = "", ifname[IFNAMSIZ] = "";
	DIR *d = opendir("/sys/bus/pci/devices");
	for (struct dirent *e; d && (e = readdir(d));) {
		char v[16], dv[16];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		read_file(p, v, sizeof(v));
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/device", e->d_name);
		read_file(p, dv, sizeof(dv));
		if (!strncmp(v, "0x8086", 6) && !strncmp(dv, "0x10d3", 6))
			snprintf(bdf, sizeof(bdf), "%s", e->d_name);
	}
	if (d)
		closedir(d);
	if (bdf[0]) {
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
		ssize_t n = readlink(p, drv, sizeof(drv) - 1);
		drv[n > 0 ? n : 0] = '\0';
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/net", bdf);
		d = opendir(p);
		for (struct dirent *e; d && (e = readdir(d));)
			if (e->d_name[0] != '.')
				snprintf(ifname, sizeof(ifname), "%s", e->d_name);
		if (d)
			closedir(d);
	}
	const char *base = strrchr(drv, '/');
	if (!bdf[0] || !base || strcmp(base + 1, "e1000e") || !ifname[0]) {
		say("e1000e-driver bad device %s, driver '%s', interface '%s'", bdf[0] ? bdf : "none", drv, ifname);
		return 1;
	}
	say("e1000e-driver ok %s", ifname);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr)) < 0) {
		say("e1000e-link bad: bringing %s up: %s", ifname, strerror(errno));
		return 1;
	}
	/* Link comes up after the driver's watchdog sees it: seconds. */
	char carrier[16] = "";
	snprintf(p, sizeof(p), "/sys/class/net/%s/carrier", ifname);
	for (double end = now() + 30; now() < end; usleep(100 * 1000))
		if (read_file(p, carrier, sizeof(carrier)) > 0 && carrier[0] == '1')
			break;
	if (carrier[0] != '1') {
		char ints[4096], line[256] = "none";
		read_file("/proc/interrupts", ints, sizeof(ints));
		const char *l = strstr(ints, ifname);
		if (l) {
			while (l > ints && l[-1] != '\n')
				l--;
			snprintf(line, sizeof(line), "%.*s", (int)strcspn(l, "\n"), l);
		}
		say("e1000e-link bad: no carrier on %s in 30 s; its interrupts: %s", ifname, line);
		/* The driver's own story, whatever the console's log level. */
		int k = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
		char rec[1024];
		for (ssize_t n; k >= 0 && (n = read(k, rec, sizeof(rec) - 1)) > 0;) {
			rec[n] = '\0';
			if (strstr(rec, "e1000e") || strstr(rec, "MSI") || strstr(rec, "msi"))
				say("kmsg: %.*s", (int)strcspn(rec, "\n"), rec);
		}
		if (k >= 0)
			close(k);
		l = strstr(ints, "ERR:");
		say("interrupts ERR/SPU: %.60s", l ? l : "?");
		return 1;
	}
	say("e1000e-link ok");
	return 0;
}

/* The mtty mdev: its BAR0 is a 16550's eight I/O ports. The scratch
 * register keeps what is written; the line status register says the
 * transmitter is empty. Through sysfs's resource0 for the I/O BAR. */
static int check_mtty(void)
{
	char bdf[64], p[256];
	if (!find_dev("0x4348", "0x3253", bdf, sizeof(bdf))) {
		say("mtty-found none");
		return 1;
	}
	say("mtty-found ok %s", bdf);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/resource0", bdf);
	int fd = open(p, O_RDWR);
	if (fd < 0 || enable_device(bdf) < 0) {
		say("mtty-uart bad: %s: %s", p, strerror(errno));
		return 1;
	}
	int bad = 0;
	char why[256] = "";
	for (unsigned v = 0x5a; v <= 0xa5 && !bad; v += 0x4b) {
		uint8_t w = (uint8_t)v, r = 0;
		if (pwrite(fd, &w, 1, 7) != 1 || pread(fd, &r, 1, 7) != 1 || r != w) {
			snprintf(why, sizeof(why), "scratch register: wrote %#x, read %#x (%s)", w, r, strerror(errno));
			bad = 1;
		}
	}
	uint8_t lsr = 0;
	if (!bad && (pread(fd, &lsr, 1, 5) != 1 || !(lsr & 0x20))) {
		snprintf(why, sizeof(why), "line status %#x: transmitter not empty", lsr);
		bad = 1;
	}
	close(fd);
	say("mtty-uart %s %s", bad ? "bad:" : "ok", bad ? why : "");
	return bad;
}

int main(void)
{
	char bdf[64], p[256], why[512];
	int bad = 0;
	char cmdline[4096];
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	if (strstr(cmdline, "kvmbox.vfio=e1000e"))
		return check_e1000e();
	if (!find_dev("0x1234", "0x11e8", bdf, sizeof(bdf))) {
		say("edu-found none");
		return 1;
	}
	say("edu-found ok %s", bdf);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/resource0", bdf);
	int fd = open(p, O_RDWR | O_SYNC);
	void *m = fd >= 0 ? mmap(NULL, EDU_BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (enable_device(bdf) < 0 || m == MAP_FAILED) {
		say("edu-id bad: cannot enable or map %s: %s", p, strerror(errno));
		return 1;
	}
	bar = m;

	uint32_t id = rd32(EDU_ID);
	bad += id != 0x010000ed;
	say("edu-id %s %#x", id == 0x010000ed ? "ok" : "bad", id);

	wr32(EDU_LIVE, 0x12345678);
	uint32_t live = rd32(EDU_LIVE);
	bad += live != ~0x12345678u;
	say("edu-liveness %s %#x", live == ~0x12345678u ? "ok" : "bad", live);

	wr32(EDU_FACT, 10);
	uint32_t f = wait_clear(EDU_STATUS, 1, 5) < 0 ? 0 : rd32(EDU_FACT);
	bad += f != 3628800;
	say("edu-factorial %s %u", f == 3628800 ? "ok" : "bad", f);

	int r = check_dma(why, sizeof(why));
	bad += r < 0;
	say("edu-dma %s %s", r < 0 ? "bad" : "ok", why);
	munmap(m, EDU_BAR_SIZE);
	close(fd);

	r = check_msi(bdf, why, sizeof(why));
	bad += r < 0;
	say("edu-msi %s %s", r < 0 ? "bad" : "ok", why);

	r = check_intx(why, sizeof(why));
	bad += r < 0;
	say("edu-intx %s %s", r < 0 ? "bad" : "ok", why);
	if (strstr(cmdline, "kvmbox.vfio=both"))
		bad += check_mtty();
	return bad ? 1 : 0;
}
