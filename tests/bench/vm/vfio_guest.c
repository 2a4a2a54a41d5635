/* /init of the passthrough benchmark's guest (tests/bench/vfio_bench.py).
 * Static musl. QEMU's edu device (1234:11e8) is passed through to it.
 *
 *   KVMBOX-GUEST: init
 *   KVMBOX-GUEST: mark first-access id=0x010000ed
 *                       the first read of the device's BAR: the benchmark
 *                       times it from the VMM's start
 *   KVMBOX-GUEST: mark reads-begin      then it waits a moment, so the driver
 *                                       reads the VMM's exit counters first,
 *                                       then reads edu's ID register 10,000
 *                                       times through the BAR mapping
 *   KVMBOX-GUEST: mark reads-done ns_per_read=N reads=10000
 *   KVMBOX-GUEST: hold / done           as the VMM benchmark's guest
 * or "KVMBOX-GUEST: mark failed WHY" when it cannot.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#include "../../vm/guest_util.h"

#define READS 10000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

/* edu's BAR0, mapped through sysfs; NULL when there is no edu. */
static volatile uint32_t *map_edu(char *why, size_t size)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	char p[300], v[16], dv[16], bdf[64] = "";
	for (struct dirent *e; d && (e = readdir(d));) {
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%.40s/vendor", e->d_name);
		if (read_file(p, v, sizeof(v)) < 0 || strncmp(v, "0x1234", 6))
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%.40s/device", e->d_name);
		if (read_file(p, dv, sizeof(dv)) > 0 && !strncmp(dv, "0x11e8", 6))
			snprintf(bdf, sizeof(bdf), "%.40s", e->d_name);
	}
	if (d)
		closedir(d);
	if (!bdf[0]) {
		snprintf(why, size, "no 1234:11e8 in /sys/bus/pci/devices");
		return NULL;
	}
	/* Memory decoding on, as a driver's pci_enable_device does. */
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/enable", bdf);
	int fd = open(p, O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1) {
		snprintf(why, size, "enabling %s failed", bdf);
		return NULL;
	}
	close(fd);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(p, O_RDWR | O_SYNC);
	void *m = fd >= 0 ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (m == MAP_FAILED) {
		snprintf(why, size, "mapping %.100s failed", p);
		return NULL;
	}
	return m;
}

int main(void)
{
	mount("proc", "/proc", "proc", 0, "");
	mount("sysfs", "/sys", "sysfs", 0, "");
	say("init");
	char why[200];
	volatile uint32_t *bar = map_edu(why, sizeof(why));
	if (!bar) {
		say("mark failed %s", why);
		off();
	}
	say("mark first-access id=%#x", bar[0]);
	say("mark reads-begin");
	usleep(300 * 1000);
	uint32_t sum = 0;
	double t0 = now();
	for (int i = 0; i < READS; i++)
		sum += bar[0];
	double ns = (now() - t0) * 1e9 / READS;
	say("mark reads-done ns_per_read=%.0f reads=%d%s", ns, READS, sum == 0x010000edu * READS ? "" : " bad-values");
	usleep(300 * 1000);
	say("hold");
	usleep(200 * 1000);
	say("done");
	off();
}
