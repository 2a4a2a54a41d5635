/* Host PCI discovery and the bind refusals, against a fake sysfs tree in
 * /tmp: directories, attribute files, and the driver, iommu_group and
 * class links the kernel would make. Binding itself needs the real kernel
 * (tests/vm/pci_test.c); here a bind that cannot complete must put back
 * what it changed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vfio/host_pci.h"

static char root[64];

static void mkdirs(const char *path)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static void put(const char *content, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(const char *content, const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(path, sizeof(path), "%s", root);
	vsnprintf(path + n, sizeof(path) - (size_t)n, fmt, ap);
	va_end(ap);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

/* linkpath (under root) -> root + target */
static void ln(const char *target, const char *linkpath)
{
	char t[1024], l[1024];
	snprintf(t, sizeof(t), "%s%s", root, target);
	snprintf(l, sizeof(l), "%s%s", root, linkpath);
	char *slash = strrchr(l, '/');
	*slash = '\0';
	mkdirs(l);
	*slash = '/';
	if (symlink(t, l) < 0)
		perror(l);
}

static char *slurp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *slurp(const char *fmt, ...)
{
	static char buf[256];
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(path, sizeof(path), "%s", root);
	vsnprintf(path + n, sizeof(path) - (size_t)n, fmt, ap);
	va_end(ap);
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f) {
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		buf[len] = '\0';
		fclose(f);
	}
	return buf;
}

/* One PCI function at sysfs path dev (under /sys/devices). */
static void fake_dev(const char *dev, const char *vendor, const char *device, const char *class, int group,
		     const char *driver, const char *reset)
{
	const char *bdf = strrchr(dev, '/') + 1;
	char p[512];
	put(vendor, "%s/vendor", dev);
	put(device, "%s/device", dev);
	put("0x1af4\n", "%s/subsystem_vendor", dev);
	put("0x1100\n", "%s/subsystem_device", dev);
	put(class, "%s/class", dev);
	put("(null)\n", "%s/driver_override", dev);
	if (reset)
		put(reset, "%s/reset_method", dev);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", bdf);
	ln(dev, p);
	if (group >= 0) {
		char g[64];
		snprintf(g, sizeof(g), "/sys/kernel/iommu_groups/%d", group);
		snprintf(p, sizeof(p), "%s/iommu_group", dev);
		ln(g, p);
		snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices/%s", group, bdf);
		ln(dev, p);
	}
	if (driver) {
		char d[128];
		snprintf(d, sizeof(d), "/sys/bus/pci/drivers/%s", driver);
		put("", "%s/unbind", d);
		put("", "%s/bind", d);
		snprintf(p, sizeof(p), "%s/driver", dev);
		ln(d, p);
	}
}

#define PCI0 "/sys/devices/pci0000:00/"

static void build_tree(void)
{
	fake_dev(PCI0 "0000:00:00.0", "0x8086\n", "0x29c0\n", "0x060000\n", 0, NULL, NULL);
	/* The NIC under br0, which has the appliance's address. */
	fake_dev(PCI0 "0000:00:02.0", "0x8086\n", "0x10d3\n", "0x020000\n", 1, "e1000e", "flr\n");
	ln(PCI0 "0000:00:02.0", "/sys/class/net/eth0/device");
	put("", "/sys/class/net/br0/address");
	ln("/sys/class/net/eth0", "/sys/class/net/br0/brif/eth0");
	/* The disk holding /data. */
	fake_dev(PCI0 "0000:00:03.0", "0x1af4\n", "0x1042\n", "0x010000\n", 2, "virtio-pci", NULL);
	put("", PCI0 "0000:00:03.0/virtio0/block/vda/vda1/dev");
	ln(PCI0 "0000:00:03.0/virtio0/block/vda", "/sys/class/block/vda");
	ln(PCI0 "0000:00:03.0/virtio0/block/vda/vda1", "/sys/class/block/vda1");
	put("proc /proc proc rw 0 0\nsysfs /sys sysfs rw 0 0\n/dev/vda1 /data ext4 rw,noatime 0 0\n", "/proc/mounts");
	/* Free: edu alone in its group, with no driver and no reset method. */
	fake_dev(PCI0 "0000:00:04.0", "0x1234\n", "0x11e8\n", "0x00ff00\n", 3, NULL, NULL);
	/* The ICH9 functions share group 4; the SATA one is on ahci. */
	fake_dev(PCI0 "0000:00:1f.0", "0x8086\n", "0x2918\n", "0x060100\n", 4, NULL, NULL);
	fake_dev(PCI0 "0000:00:1f.2", "0x8086\n", "0x2922\n", "0x010601\n", 4, "ahci", NULL);
	fake_dev(PCI0 "0000:00:1f.3", "0x8086\n", "0x2930\n", "0x0c0500\n", 4, NULL, NULL);
	/* A root port and the GPU behind it: the bridge does not spoil group 5. */
	fake_dev(PCI0 "0000:00:1c.0", "0x8086\n", "0x1234\n", "0x060400\n", 5, "pcieport", NULL);
	fake_dev(PCI0 "0000:00:1c.0/0000:02:00.0", "0x10de\n", "0x2331\n", "0x030200\n", 5, NULL, "flr bus\n");
	/* An NVMe drive with no IOMMU group, and an unmounted namespace. */
	fake_dev(PCI0 "0000:00:1c.0/0000:01:00.0", "0x144d\n", "0xa808\n", "0x010802\n", -1, "nvme", "flr pm\n");
	put("", PCI0 "0000:00:1c.0/0000:01:00.0/nvme/nvme0/nvme0n1/dev");
	ln(PCI0 "0000:00:1c.0/0000:01:00.0/nvme/nvme0/nvme0n1", "/sys/class/block/nvme0n1");
	put("", "/sys/bus/pci/drivers_probe");
	/* mtty, the sample mdev parent. */
	const char *t = "/sys/devices/virtual/mtty/mtty/mdev_supported_types";
	char p[256];
	snprintf(p, sizeof(p), "%s/mtty-1/name", t);
	put("Single port serial\n", "%s", p);
	snprintf(p, sizeof(p), "%s/mtty-1/device_api", t);
	put("vfio-pci\n", "%s", p);
	snprintf(p, sizeof(p), "%s/mtty-1/available_instances", t);
	put("24\n", "%s", p);
	snprintf(p, sizeof(p), "%s/mtty-2/name", t);
	put("Dual port serial\n", "%s", p);
	snprintf(p, sizeof(p), "%s/mtty-2/device_api", t);
	put("vfio-pci\n", "%s", p);
	snprintf(p, sizeof(p), "%s/mtty-2/available_instances", t);
	put("12\n", "%s", p);
	ln("/sys/devices/virtual/mtty/mtty", "/sys/class/mdev_bus/mtty");
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/kvmbox-host-pci-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	build_tree();
	const char *addr[] = { "br0", NULL };
	struct host_pci_sys sys = { .root = root, .addr_ifaces = addr };
	struct host_pci_list l;
	char err[512] = "";

	int r = host_pci_scan(&sys, &l, err, sizeof(err));
	CHECK("host-pci scan", r == 0 && l.n == 10);
	CHECK("host-pci sorted", l.n == 10 && !strcmp(l.dev[0].bdf, "0000:00:00.0") &&
					 !strcmp(l.dev[l.n - 1].bdf, "0000:02:00.0"));
	const struct host_pci_dev *nic = host_pci_find(&l, "00:02.0");
	CHECK("host-pci nic ids", nic && nic->vendor == 0x8086 && nic->device == 0x10d3 && nic->subsys_vendor == 0x1af4 &&
					  nic->subsys_device == 0x1100 && nic->class_code == 0x020000);
	CHECK("host-pci nic names", nic && !strcmp(nic->vendor_name, "Intel") && strstr(nic->device_name, "82574L") &&
					    !strcmp(nic->class_name, "Ethernet controller"));
	CHECK("host-pci nic group, driver, reset",
	      nic && nic->iommu_group == 1 && !strcmp(nic->driver, "e1000e") && !strcmp(nic->reset_method, "flr"));
	CHECK("host-pci nic under the bridge with the address is needed",
	      nic && strstr(nic->needed, "eth0") && strstr(nic->needed, "br0"));
	const struct host_pci_dev *disk = host_pci_find(&l, "0000:00:03.0");
	CHECK("host-pci /data disk is needed", disk && strstr(disk->needed, "vda1") && strstr(disk->needed, "/data"));
	const struct host_pci_dev *edu = host_pci_find(&l, "0000:00:04.0");
	CHECK("host-pci edu", edu && !strcmp(edu->vendor_name, "QEMU") && !strcmp(edu->device_name, "edu test device") &&
				      !strcmp(edu->class_name, "Unclassified device") && edu->iommu_group == 3 &&
				      !edu->driver[0] && !edu->reset_method[0] && !edu->needed[0] &&
				      !edu->driver_override[0]);
	const struct host_pci_dev *nvme = host_pci_find(&l, "0000:01:00.0");
	CHECK("host-pci nvme", nvme && !strcmp(nvme->class_name, "NVMe controller") && nvme->iommu_group == -1 &&
				       !strcmp(nvme->vendor_name, "Samsung") && !nvme->needed[0] &&
				       !strcmp(nvme->reset_method, "flr pm"));
	const struct host_pci_dev *rp = host_pci_find(&l, "0000:00:1c.0");
	CHECK("host-pci bridge", rp && rp->bridge && !strcmp(rp->class_name, "PCI bridge"));
	CHECK("host-pci class names", !strcmp(host_pci_class_name(0x030000), "VGA controller") &&
					      !strcmp(host_pci_class_name(0x010601), "SATA controller") &&
					      !strcmp(host_pci_class_name(0x0b4000), "Processor"));
	CHECK("host-pci unknown names", !host_pci_vendor_name(0xabcd) && !host_pci_device_name(0x8086, 0xffff));
	CHECK("host-pci mdev types", l.nmdev == 2 && !strcmp(l.mdev[0].parent, "mtty") &&
					     !strcmp(l.mdev[0].type, "mtty-1") &&
					     !strcmp(l.mdev[0].name, "Single port serial") &&
					     !strcmp(l.mdev[0].device_api, "vfio-pci") && l.mdev[0].available_instances == 24 &&
					     l.mdev[1].available_instances == 12);

	char bdf[HOST_PCI_BDF_LEN];
	CHECK("host-pci parse bdf", host_pci_parse_bdf("00:1F.3", bdf) == 0 && !strcmp(bdf, "0000:00:1f.3") &&
					    host_pci_parse_bdf("0000:00:1f.8", bdf) < 0 &&
					    host_pci_parse_bdf("0:1:2.3", bdf) < 0 && host_pci_parse_bdf("", bdf) < 0);

	/* JSON: parses, and holds the group members and the mdev types. */
	static char buf[65536];
	struct json_writer w;
	json_w_init(&w, buf, sizeof(buf));
	host_pci_write_json(&w, &l);
	CHECK("host-pci json written", json_w_finish(&w) == 0);
	static struct json_token tok[4096];
	struct json_doc doc;
	CHECK("host-pci json parses", json_parse(&doc, buf, w.len, sizeof(buf), tok, 4096, NULL) == 0);
	int devs = json_get(&doc, 0, "devices");
	CHECK("host-pci json devices", json_array_len(&doc, devs) == 10);
	int lpc = json_array_at(&doc, devs, 5); /* 0000:00:1f.0 */
	int members = json_get(&doc, lpc, "group_members");
	CHECK("host-pci json group members", json_streq(&doc, json_get(&doc, lpc, "bdf"), "0000:00:1f.0") &&
						     json_array_len(&doc, members) == 2 &&
						     json_streq(&doc, json_array_at(&doc, members, 0), "0000:00:1f.2") &&
						     json_streq(&doc, json_array_at(&doc, members, 1), "0000:00:1f.3"));
	int gpu = json_array_at(&doc, devs, 9);
	int resets = json_get(&doc, gpu, "reset_methods");
	CHECK("host-pci json reset methods", json_array_len(&doc, resets) == 2 &&
						     json_streq(&doc, json_array_at(&doc, resets, 1), "bus"));
	CHECK("host-pci json ids", json_streq(&doc, json_get(&doc, gpu, "vendor_id"), "10de") &&
					   json_streq(&doc, json_get(&doc, gpu, "class"), "030200") &&
					   json_type(&doc, json_get(&doc, gpu, "driver")) == JSON_NULL);
	CHECK("host-pci json mdev", json_array_len(&doc, json_get(&doc, 0, "mdev_types")) == 2);

	/* The refusals. */
	r = host_pci_check_bind(&l, "0000:00:02.0", err, sizeof(err));
	CHECK("host-pci refuses the appliance's NIC", r == -EBUSY && strstr(err, "needed by the appliance"));
	r = host_pci_check_bind(&l, "0000:00:03.0", err, sizeof(err));
	CHECK("host-pci refuses the /data disk", r == -EBUSY && strstr(err, "/data"));
	r = host_pci_check_bind(&l, "0000:01:00.0", err, sizeof(err));
	CHECK("host-pci refuses without an IOMMU", r == -ENXIO && strstr(err, "intel_iommu=on"));
	r = host_pci_check_bind(&l, "0000:00:1f.3", err, sizeof(err));
	CHECK("host-pci refuses a group that is not viable",
	      r == -EPERM && strstr(err, "not viable") && strstr(err, "0000:00:1f.2") && strstr(err, "ahci"));
	r = host_pci_check_bind(&l, "0000:00:1c.0", err, sizeof(err));
	CHECK("host-pci refuses a bridge", r == -EINVAL);
	r = host_pci_check_bind(&l, "0000:00:09.0", err, sizeof(err));
	CHECK("host-pci refuses a missing device", r == -ENODEV);
	CHECK("host-pci accepts edu", host_pci_check_bind(&l, "0000:00:04.0", err, sizeof(err)) == 0);
	CHECK("host-pci a bridge does not spoil the group", host_pci_check_bind(&l, "0000:02:00.0", err, sizeof(err)) == 0);
	host_pci_free(&l);

	/* A refused bind changes nothing. */
	r = host_pci_bind_vfio(&sys, "0000:00:1f.0", NULL, err, sizeof(err));
	CHECK("host-pci bind refused", r == -EPERM && strstr(err, "ahci"));
	CHECK("host-pci refused bind leaves overrides",
	      !strcmp(slurp(PCI0 "0000:00:1f.0/driver_override"), "(null)\n") &&
		      !strcmp(slurp(PCI0 "0000:00:1f.2/driver_override"), "(null)\n") &&
		      !strcmp(slurp(PCI0 "0000:00:1f.3/driver_override"), "(null)\n"));
	/* No kernel here, so the device never reaches vfio-pci: the bind must
	 * fail and clear the override it wrote. */
	struct host_pci_binding saved;
	r = host_pci_bind_vfio(&sys, "0000:00:04.0", &saved, err, sizeof(err));
	CHECK("host-pci bind that does not take fails", r < 0 && strstr(err, "did not bind to vfio-pci"));
	CHECK("host-pci failed bind is rolled back", !strcmp(slurp(PCI0 "0000:00:04.0/driver_override"), "\n"));
	CHECK("host-pci failed bind probed", !strcmp(slurp("/sys/bus/pci/drivers_probe"), "0000:00:04.0"));
	CHECK("host-pci saved state", saved.n == 1 && saved.group == 3 && !strcmp(saved.dev[0].bdf, "0000:00:04.0"));

	/* mdev instances: the reasons come from sysfs, the write goes to the
	 * type's "create" file (a plain file here: it keeps what was written). */
	const char *types = "/sys/devices/virtual/mtty/mtty/mdev_supported_types";
	put("", "%s/mtty-1/create", types);
	char uuid[HOST_MDEV_UUID_LEN] = "";
	r = host_mdev_create(&sys, "mtty", "mtty-1", uuid, err, sizeof(err));
	CHECK("mdev create random uuid", r == 0 && strlen(uuid) == 36 && uuid[14] == '4' &&
						 !strcmp(slurp("%s/mtty-1/create", types), uuid));
	snprintf(uuid, sizeof(uuid), "83B8F4F2-509F-382F-3C1E-E6BFE0FA1001");
	r = host_mdev_create(&sys, "mtty", "mtty-1", uuid, err, sizeof(err));
	CHECK("mdev create given uuid", r == 0 && !strcmp(uuid, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001") &&
						!strcmp(slurp("%s/mtty-1/create", types), uuid));
	uuid[0] = '\0';
	r = host_mdev_create(&sys, "mtty", "mtty-9", uuid, err, sizeof(err));
	CHECK("mdev missing type", r == -ENOENT && strstr(err, "mtty has no mdev type mtty-9"));
	r = host_mdev_create(&sys, "gpu0", "mtty-1", uuid, err, sizeof(err));
	CHECK("mdev missing parent", r == -ENODEV && strstr(err, "no mdev parent gpu0"));
	r = host_mdev_create(&sys, "mtty", "../../x", uuid, err, sizeof(err));
	CHECK("mdev path tricks refused", r == -EINVAL);
	put("0\n", "%s/mtty-2/available_instances", types);
	r = host_mdev_create(&sys, "mtty", "mtty-2", uuid, err, sizeof(err));
	CHECK("mdev none left", r == -ENOSPC && strstr(err, "no instances of mtty/mtty-2 are left"));
	snprintf(uuid, sizeof(uuid), "not-a-uuid");
	r = host_mdev_create(&sys, "mtty", "mtty-1", uuid, err, sizeof(err));
	CHECK("mdev bad uuid", r == -EINVAL && strstr(err, "not a UUID"));
	put("", "/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001/remove");
	r = host_mdev_remove(&sys, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", err, sizeof(err));
	CHECK("mdev remove", r == 0 && !strcmp(slurp("/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001/remove"), "1"));
	r = host_mdev_remove(&sys, "00000000-0000-4000-8000-000000000000", err, sizeof(err));
	CHECK("mdev remove missing", r == -ENODEV && strstr(err, "no mdev"));

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return CHECK_DONE();
}
