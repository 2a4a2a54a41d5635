/* In-appliance test of `kvmbox pci`: listing host PCI devices and binding
 * them to vfio-pci, on the real kernel.
 *
 * The outer QEMU (tests/vm/pci_test.py) runs q35 with intel-iommu, QEMU's edu
 * device and an e1000e; the appliance boots with intel_iommu=on iommu=pt.
 * This program, PID 1 of a test-only initramfs (rdinit=/pci_test), finds
 * both devices in sysfs itself, then runs the real kvmbox binary (/init pci
 * ...) and checks what it prints and what it does to sysfs. Prints "ok
 * pci-..." / "not ok pci-...: why", then powers off.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>


#define VMM_LOG_SIZE (256 * 1024)
#include "appliance_test.h"
#include "sysfs_util.h"

static struct vmm_run run_buf;

/* `kvmbox pci ARGS...`: its exit status, and its output in run_buf.log. */
static int kvmbox_pci(const char *a1, const char *a2)
{
	const char *argv[] = { "kvmbox", "pci", a1, a2, NULL };
	struct vmm_run *v = &run_buf;
	if (vmm_spawn(v, argv, -1) < 0)
		return -1;
	if (!vmm_wait_exit(v, 60)) {
		vmm_stop(v);
		return -1;
	}
	vmm_stop(v);
	return vmm_exit_code(v);
}

/* The line of the table that starts with bdf, or "". */
static const char *table_line(const char *log, const char *bdf, char *buf, size_t size)
{
	buf[0] = '\0';
	for (const char *p = log; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, bdf, strlen(bdf))) {
			size_t n = strcspn(p, "\n");
			snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p);
			break;
		}
	return buf;
}

/* The network interface on bdf, or "". */
static void iface_of(const char *bdf, char *buf, size_t size)
{
	buf[0] = '\0';
	DIR *d = opendir("/sys/class/net");
	for (struct dirent *e; d && (e = readdir(d));) {
		char p[512], dev[64];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/net/%s/device", e->d_name);
		link_base(p, dev, sizeof(dev));
		if (!strcmp(dev, bdf))
			snprintf(buf, size, "%.*s", (int)size - 1, e->d_name);
	}
	if (d)
		closedir(d);
}

static int set_ipv4(const char *ifname, const char *addr)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	int r = s >= 0 ? ioctl(s, SIOCSIFADDR, &ifr) : -1;
	if (s >= 0)
		close(s);
	return r;
}

static int vfio_group_exists(int group)
{
	char p[64];
	snprintf(p, sizeof(p), "/dev/vfio/%d", group);
	return access(p, F_OK) == 0;
}

/* Bind bdf, check it reached vfio-pci with its /dev/vfio node, unbind, and
 * check it is back on want_back ("" for no driver). */
static void bind_round_trip(const char *what, const char *bdf, const char *want_back)
{
	char name[64], drv[64];
	int g = group_of(bdf);
	int rc = kvmbox_pci("bind", bdf);
	driver_of(bdf, drv, sizeof(drv));
	snprintf(name, sizeof(name), "pci-bind-%s", what);
	check(name, rc == 0 && !strcmp(drv, "vfio-pci"), "exit %d, driver '%s': %s", rc, drv, vmm_tail(&run_buf, 600));
	snprintf(name, sizeof(name), "pci-bind-%s-dev-vfio", what);
	check(name, g >= 0 && vfio_group_exists(g), "/dev/vfio/%d is missing", g);
	/* While a VM (here: this process) holds the group, unbind is refused. */
	char dev[64];
	snprintf(dev, sizeof(dev), "/dev/vfio/%d", g);
	int fd = open(dev, O_RDWR);
	if (fd >= 0) {
		rc = kvmbox_pci("unbind", bdf);
		driver_of(bdf, drv, sizeof(drv));
		snprintf(name, sizeof(name), "pci-unbind-%s-in-use-refused", what);
		check(name, rc == 1 && strstr(run_buf.log, "in use") && !strcmp(drv, "vfio-pci"), "exit %d, driver '%s': %s",
		      rc, drv, vmm_tail(&run_buf, 600));
		close(fd);
	}
	rc = kvmbox_pci("unbind", bdf);
	driver_of(bdf, drv, sizeof(drv));
	char p[256], ovr[64];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", bdf);
	read_line(p, ovr, sizeof(ovr));
	snprintf(name, sizeof(name), "pci-unbind-%s", what);
	check(name, rc == 0 && !strcmp(drv, want_back) && !strcmp(ovr, "(null)"),
	      "exit %d, driver '%s' (want '%s'), driver_override '%s': %s", rc, drv, want_back, ovr,
	      vmm_tail(&run_buf, 600));
}

int main(void)
{
	appliance_start();
	char edu[32] = "", nic[32] = "", line[512];
	check("pci-edu-in-sysfs", find_dev("0x1234", "0x11e8", edu, sizeof(edu)), "no 1234:11e8 in /sys/bus/pci");
	check("pci-e1000e-in-sysfs", find_dev("0x8086", "0x10d3", nic, sizeof(nic)), "no 8086:10d3 in /sys/bus/pci");
	int edu_group = group_of(edu), nic_group = group_of(nic);

	/* The table. */
	int rc = kvmbox_pci(NULL, NULL);
	printf("%s", run_buf.log);
	check("pci-list", rc == 0 && strstr(run_buf.log, "IOMMU groups:"), "exit %d", rc);
	char want[80];
	table_line(run_buf.log, edu, line, sizeof(line));
	snprintf(want, sizeof(want), " %d ", edu_group);
	check("pci-list-edu", edu[0] && strstr(line, "1234:11e8") && strstr(line, "QEMU edu test device") &&
				      strstr(line, "Unclassified device") && edu_group >= 0 && strstr(line, want),
	      "line '%s', group %d", line, edu_group);
	table_line(run_buf.log, nic, line, sizeof(line));
	snprintf(want, sizeof(want), " %d ", nic_group);
	check("pci-list-e1000e", nic[0] && strstr(line, "8086:10d3") && strstr(line, "Intel 82574L") &&
					 strstr(line, "Ethernet controller") && nic_group >= 0 && strstr(line, want),
	      "line '%s', group %d", line, nic_group);
	check("pci-e1000e-driver", strstr(line, " e1000e ") != NULL, "line '%s'", line);
	/* Reset methods: what sysfs says, or "-". */
	char p[256], reset[64];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/reset_method", nic);
	read_line(p, reset, sizeof(reset));
	snprintf(want, sizeof(want), " %s ", reset[0] ? reset : "-");
	check("pci-reset-methods", strstr(line, want) != NULL, "e1000e reset '%s', line '%s'", reset, line);
	printf("# e1000e reset methods: %s\n", reset[0] ? reset : "none");
	snprintf(want, sizeof(want), "  group %d: %s", edu_group, edu);
	check("pci-group-members", strstr(run_buf.log, want) != NULL, "no '%s'", want);
	check("pci-mdev-mtty", strstr(run_buf.log, "mtty/mtty-1") && strstr(run_buf.log, "vfio-pci  available"),
	      "no mtty types listed");

	/* The JSON. */
	rc = kvmbox_pci("--json", NULL);
	char jwant[128];
	snprintf(jwant, sizeof(jwant), "\"bdf\":\"%s\",\"vendor_id\":\"1234\",\"device_id\":\"11e8\"", edu);
	char gwant[64];
	snprintf(gwant, sizeof(gwant), "\"iommu_group\":%d", nic_group);
	check("pci-json", rc == 0 && run_buf.log[0] == '{' && strstr(run_buf.log, jwant) &&
				  strstr(run_buf.log, "\"device\":\"82574L gigabit NIC (e1000e)\"") &&
				  strstr(run_buf.log, gwant) && strstr(run_buf.log, "\"parent\":\"mtty\""),
	      "exit %d: %.300s", rc, run_buf.log);

	/* Bind and unbind. */
	if (edu[0])
		bind_round_trip("edu", edu, "");

	/* The NIC with the appliance's address is refused. */
	char ifname[IFNAMSIZ], before[4096], after[4096];
	iface_of(nic, ifname, sizeof(ifname));
	if (ifname[0] && set_ipv4(ifname, "10.0.2.15") == 0) {
		all_drivers(before, sizeof(before));
		rc = kvmbox_pci("bind", nic);
		all_drivers(after, sizeof(after));
		check("pci-refuse-appliance-nic",
		      rc == 1 && strstr(run_buf.log, "needed by the appliance") && strstr(run_buf.log, ifname) &&
			      !strcmp(before, after),
		      "exit %d: %s", rc, vmm_tail(&run_buf, 600));
		printf("# %s", vmm_tail(&run_buf, 300));
		set_ipv4(ifname, "0.0.0.0");
	} else {
		check("pci-refuse-appliance-nic", 0, "no interface on %s ('%s') or no address: %s", nic, ifname,
		      strerror(errno));
	}
	if (nic[0]) {
		bind_round_trip("e1000e", nic, "e1000e");
		iface_of(nic, ifname, sizeof(ifname));
		check("pci-e1000e-netdev-back", ifname[0] != 0, "no network interface on %s after unbind", nic);
	}

	/* A group that is not viable. */
	char target[32], blocker[32];
	if (find_nonviable(target, sizeof(target), blocker, sizeof(blocker))) {
		all_drivers(before, sizeof(before));
		rc = kvmbox_pci("bind", target);
		all_drivers(after, sizeof(after));
		check("pci-refuse-nonviable-group",
		      rc == 1 && strstr(run_buf.log, "is not viable") && strstr(run_buf.log, blocker),
		      "bind %s: exit %d: %s", target, rc, vmm_tail(&run_buf, 600));
		check("pci-nonviable-nothing-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before,
		      after);
		printf("# non-viable group: %s refused because of %s: %s", target, blocker, vmm_tail(&run_buf, 400));
	} else {
		printf("ok pci-refuse-nonviable-group # skipped: QEMU's topology has no group that is not viable\n");
	}
	/* Bad input. */
	check("pci-bad-address", kvmbox_pci("bind", "zz:00.0") == 2, "exit not 2");
	check("pci-no-such-device", kvmbox_pci("bind", "00:1e.7") == 1 && strstr(run_buf.log, "no PCI device"),
	      "%s", run_buf.log);
	appliance_finish("pci_test", NULL);
	return 0;
}
