/* `kvmbox vmm` settings from options and JSON, and the bus's range lookup. */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "check.h"
#include "vmm/config.h"

static int args(struct vmm_config *c, char *err, size_t n, int argc, char **argv)
{
	vmm_config_defaults(c);
	int r = vmm_config_from_args(c, argc, argv, err, n);
	return r < 0 ? r : vmm_config_check(c, err, n);
}

static void test_sizes(void)
{
	uint64_t v;
	CHECK("size 512M", parse_size("512M", &v) == 0 && v == 512ull << 20);
	CHECK("size 2G", parse_size("2G", &v) == 0 && v == 2ull << 30);
	CHECK("size 256MiB", parse_size("256MiB", &v) == 0 && v == 256ull << 20);
	CHECK("size bytes", parse_size("1048576", &v) == 0 && v == 1048576);
	CHECK("size junk", parse_size("12Q", &v) == -EINVAL);
	CHECK("size negative", parse_size("-1G", &v) == -EINVAL);
	CHECK("size empty", parse_size("", &v) == -EINVAL);
	CHECK("size overflow", parse_size("99999999999999T", &v) == -ERANGE);
}

static void test_args(void)
{
	struct vmm_config c;
	char err[256];
	char *ok[] = { "vmm", "--kernel", "/k", "--initrd=/i", "--cmdline", "console=ttyS0 quiet", "--mem", "256M",
		       "--cpus", "2", "--serial", "socket:/run/s", "--hugepages" };
	CHECK("args parse", args(&c, err, sizeof(err), 13, ok) == 0);
	CHECK("args values", !strcmp(c.kernel, "/k") && !strcmp(c.initrd, "/i") && !strcmp(c.cmdline, "console=ttyS0 quiet") &&
				     c.mem_bytes == 256ull << 20 && c.cpus == 2 && c.serial == SERIAL_SOCKET &&
				     !strcmp(c.serial_path, "/run/s") && c.hugepages);
	char *nokernel[] = { "vmm", "--mem", "256M" };
	CHECK("args no kernel", args(&c, err, sizeof(err), 3, nokernel) == -EINVAL && strstr(err, "no kernel"));
	char *cpus[] = { "vmm", "--kernel", "/k", "--cpus", "300" };
	CHECK("args too many cpus", args(&c, err, sizeof(err), 5, cpus) == -EINVAL && strstr(err, "cpus must be"));
	char *zero[] = { "vmm", "--kernel", "/k", "--cpus", "0" };
	CHECK("args zero cpus", args(&c, err, sizeof(err), 5, zero) == -EINVAL);
	char *mem[] = { "vmm", "--kernel", "/k", "--mem", "1M" };
	CHECK("args too little memory", args(&c, err, sizeof(err), 5, mem) == -EINVAL && strstr(err, "at least"));
	char *huge[] = { "vmm", "--kernel", "/k", "--mem", "300G" };
	CHECK("args more memory than the layout allows", args(&c, err, sizeof(err), 5, huge) == -EINVAL && strstr(err, "at most 255 GiB"));
	char *unknown[] = { "vmm", "--kernel", "/k", "--frobnicate", "1" };
	CHECK("args unknown option", args(&c, err, sizeof(err), 5, unknown) == -EINVAL && strstr(err, "--frobnicate"));
	char *missing[] = { "vmm", "--kernel" };
	CHECK("args missing value", args(&c, err, sizeof(err), 2, missing) == -EINVAL && strstr(err, "needs a value"));
	char *serial[] = { "vmm", "--kernel", "/k", "--serial", "tcp:1" };
	CHECK("args bad serial", args(&c, err, sizeof(err), 5, serial) == -EINVAL && strstr(err, "--serial"));
}

static void test_json(void)
{
	struct vmm_config c;
	char err[256];
	vmm_config_defaults(&c);
	const char *good = "{\"kernel\":\"/boot/k\",\"mem\":\"1G\",\"cpus\":4,\"hugepages\":true,\"cmdline\":\"quiet\"}";
	CHECK("json config", vmm_config_from_json(&c, good, strlen(good), err, sizeof(err)) == 0 && c.cpus == 4 &&
				     c.mem_bytes == 1ull << 30 && c.hugepages && !strcmp(c.kernel, "/boot/k"));
	const char *bytes = "{\"mem\":268435456}";
	CHECK("json mem in bytes", vmm_config_from_json(&c, bytes, strlen(bytes), err, sizeof(err)) == 0 && c.mem_bytes == 256ull << 20);
	const char *typo = "{\"kernal\":\"/k\"}";
	CHECK("json unknown key", vmm_config_from_json(&c, typo, strlen(typo), err, sizeof(err)) < 0 && strstr(err, "kernal"));
	const char *bad = "{\"cpus\":2,}";
	CHECK("json syntax error has a position", vmm_config_from_json(&c, bad, strlen(bad), err, sizeof(err)) < 0 && strstr(err, "column"));
	const char *neg = "{\"cpus\":-2}";
	CHECK("json negative cpus", vmm_config_from_json(&c, neg, strlen(neg), err, sizeof(err)) < 0);
	const char *arr = "[1]";
	CHECK("json not an object", vmm_config_from_json(&c, arr, strlen(arr), err, sizeof(err)) < 0 && strstr(err, "object"));
	const char *obj = "{\"kernel\":{}}";
	CHECK("json wrong type", vmm_config_from_json(&c, obj, strlen(obj), err, sizeof(err)) < 0 && strstr(err, "kernel must be"));
}

static void nop_read(void *o, uint64_t off, uint8_t *d, unsigned n) { (void)o; memset(d, (int)off, n); }
static const struct bus_ops nop_ops = { .read = nop_read };

static void test_bus(void)
{
	static struct bus b;
	CHECK("bus add", bus_register(&b, 0x3f8, 8, "a", &nop_ops, NULL) == 0);
	CHECK("bus add below", bus_register(&b, 0x60, 1, "b", &nop_ops, NULL) == 0);
	CHECK("bus overlap refused", bus_register(&b, 0x3fc, 8, "c", &nop_ops, NULL) == -EEXIST);
	CHECK("bus overlap from below refused", bus_register(&b, 0x3f0, 9, "c", &nop_ops, NULL) == -EEXIST);
	CHECK("bus zero length refused", bus_register(&b, 0x10, 0, "c", &nop_ops, NULL) == -EINVAL);
	CHECK("bus wrap refused", bus_register(&b, UINT64_MAX - 1, 4, "c", &nop_ops, NULL) == -EINVAL);
	uint8_t d[4];
	CHECK("bus hit gives the offset", bus_access(&b, 0x3fa, d, 1, 0) == 0 && d[0] == 2);
	CHECK("bus miss reads all ones", bus_access(&b, 0x70, d, 2, 0) == -ENOENT && d[0] == 0xff && d[1] == 0xff);
	CHECK("bus access past the range end", bus_access(&b, 0x3fe, d, 4, 0) == -ENOENT);
	CHECK("bus find", bus_find(&b, 0x60) && !bus_find(&b, 0x61));
	for (int i = 0; i < BUS_MAX_RANGES; i++)
		bus_register(&b, 0x1000 + (uint64_t)i * 16, 4, "x", &nop_ops, NULL);
	CHECK("bus full", bus_register(&b, 0x9000, 1, "y", &nop_ops, NULL) == -ENOSPC);
}

static void test_devices(void)
{
	static struct vmm_config c;
	char err[256];
	char *disks[] = { "vmm", "--kernel", "/k", "--disk", "/a.img", "--disk", "/b.img,readonly,serial=B-1,block-size=4096,discard=off",
			  "--net", "bridge=br0,mac=52:54:00:12:34:56,queues=2", "--console-input", "hvc" };
	CHECK("dev args parse", args(&c, err, sizeof(err), 11, disks) == 0);
	CHECK("dev disk 0 defaults", c.ndisks == 2 && !strcmp(c.disks[0].path, "/a.img") && !c.disks[0].readonly &&
					     c.disks[0].discard && c.disks[0].block_size == 512 && !c.disks[0].serial[0]);
	CHECK("dev disk 1 options", c.disks[1].readonly && !c.disks[1].discard && c.disks[1].block_size == 4096 &&
					    !strcmp(c.disks[1].serial, "B-1"));
	CHECK("dev nic", c.nnics == 1 && !strcmp(c.nics[0].bridge, "br0") && c.nics[0].mac_set && c.nics[0].mac[5] == 0x56 &&
				 c.nics[0].queues == 2);
	CHECK("dev console input hvc", c.console_input == CONSOLE_IN_HVC && c.hvc);

	char *bs[] = { "vmm", "--kernel", "/k", "--disk", "/a.img,block-size=1000" };
	CHECK("dev bad block size", args(&c, err, sizeof(err), 5, bs) < 0 && strstr(err, "power of two"));
	char *ser[] = { "vmm", "--kernel", "/k", "--disk", "/a.img,serial=this-serial-is-too-long-for-virtio" };
	CHECK("dev serial too long", args(&c, err, sizeof(err), 5, ser) < 0 && strstr(err, "serial"));
	char *key[] = { "vmm", "--kernel", "/k", "--disk", "/a.img,cache=none" };
	CHECK("dev unknown disk key", args(&c, err, sizeof(err), 5, key) < 0 && strstr(err, "unknown setting 'cache'"));
	char *nopath[] = { "vmm", "--kernel", "/k", "--disk", "readonly=on" };
	CHECK("dev disk without path", args(&c, err, sizeof(err), 5, nopath) < 0 && strstr(err, "no path"));
	char *mac[] = { "vmm", "--kernel", "/k", "--net", "mac=01:00:5e:00:00:01" };
	CHECK("dev multicast mac refused", args(&c, err, sizeof(err), 5, mac) < 0 && strstr(err, "unicast"));
	char *ifn[] = { "vmm", "--kernel", "/k", "--net", "bridge=a/b" };
	CHECK("dev bad bridge name", args(&c, err, sizeof(err), 5, ifn) < 0 && strstr(err, "interface name"));
	char *q[] = { "vmm", "--kernel", "/k", "--net", "queues=99" };
	CHECK("dev too many queues", args(&c, err, sizeof(err), 5, q) < 0 && strstr(err, "queues"));
	char *dup[] = { "vmm", "--kernel", "/k", "--net", "tap=t0", "--net", "tap=t0" };
	CHECK("dev same tap twice", args(&c, err, sizeof(err), 7, dup) < 0 && strstr(err, "both name tap"));
	char *hvc[] = { "vmm", "--kernel", "/k", "--no-hvc", "--console-input", "hvc" };
	CHECK("dev hvc input without hvc", args(&c, err, sizeof(err), 6, hvc) < 0 && strstr(err, "--no-hvc"));

	/* Passthrough: PCI addresses (short form too) and mdev UUIDs, also
	 * as their sysfs path. */
	char *pd[] = { "vmm", "--kernel", "/k", "--device", "00:03.0", "--device",
		       "/sys/bus/mdev/devices/83B8F4F2-509F-382F-3C1E-E6BFE0FA1001", "--device", "0000:00:04.0" };
	CHECK("dev passthrough parse", args(&c, err, sizeof(err), 9, pd) == 0 && c.npcidevs == 3 &&
					       !strcmp(c.pcidevs[0], "0000:00:03.0") &&
					       !strcmp(c.pcidevs[1], "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001") &&
					       !strcmp(c.pcidevs[2], "0000:00:04.0"));
	char *pdup[] = { "vmm", "--kernel", "/k", "--device", "mdev=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", "--device",
			 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" };
	CHECK("dev passthrough twice", args(&c, err, sizeof(err), 7, pdup) < 0 && strstr(err, "given twice"));
	char *pbad[] = { "vmm", "--kernel", "/k", "--device", "83b8f4f2-509f-382f-3c1e-e6bfe0fa100" };
	CHECK("dev passthrough bad uuid", args(&c, err, sizeof(err), 5, pbad) < 0 && strstr(err, "neither a PCI address"));
	char *pbad2[] = { "vmm", "--kernel", "/k", "--device", "83b8f4f2x509f-382f-3c1e-e6bfe0fa1001" };
	CHECK("dev passthrough bad uuid dash", args(&c, err, sizeof(err), 5, pbad2) < 0);
	char *prel[] = { "vmm", "--kernel", "/k", "--device", "00:03.0,release=off", "--device", "00:04.0,release=on" };
	CHECK("dev passthrough release", args(&c, err, sizeof(err), 7, prel) == 0 && c.npcidevs == 2 &&
						 c.pcidev_keep[0] == 1 && c.pcidev_keep[1] == 0 &&
						 !strcmp(c.pcidevs[0], "0000:00:03.0"));
	char *prelbad[] = { "vmm", "--kernel", "/k", "--device", "00:03.0,release=maybe" };
	CHECK("dev passthrough bad setting", args(&c, err, sizeof(err), 5, prelbad) < 0 && strstr(err, "release=on|off"));

	const char *js = "{\"kernel\": \"/k\", \"hvc\": false, \"disks\": [{\"path\": \"/a\", \"readonly\": true, "
			 "\"block-size\": 4096}, \"/b,serial=S2\"], \"nics\": [{\"bridge\": \"br1\", \"queues\": 1}]}";
	vmm_config_defaults(&c);
	CHECK("dev json parse", vmm_config_from_json(&c, js, strlen(js), err, sizeof(err)) == 0);
	CHECK("dev json values", c.ndisks == 2 && c.disks[0].readonly && c.disks[0].block_size == 4096 &&
					 !strcmp(c.disks[1].serial, "S2") && c.nnics == 1 && !strcmp(c.nics[0].bridge, "br1") &&
					 !c.hvc);
	const char *jbad = "{\"kernel\": \"/k\", \"disks\": [{\"readonly\": true}]}";
	vmm_config_defaults(&c);
	CHECK("dev json disk without path", vmm_config_from_json(&c, jbad, strlen(jbad), err, sizeof(err)) < 0 &&
						    strstr(err, "no path"));
	const char *jtype = "{\"kernel\": \"/k\", \"disks\": \"/a\"}";
	vmm_config_defaults(&c);
	CHECK("dev json disks not an array", vmm_config_from_json(&c, jtype, strlen(jtype), err, sizeof(err)) < 0 &&
						     strstr(err, "must be an array"));
	const char *jmany = "{\"kernel\": \"/k\", \"disks\": [\"/1\",\"/2\",\"/3\",\"/4\",\"/5\",\"/6\",\"/7\",\"/8\",\"/9\"]}";
	vmm_config_defaults(&c);
	CHECK("dev json too many disks", vmm_config_from_json(&c, jmany, strlen(jmany), err, sizeof(err)) < 0 &&
						 strstr(err, "too many disks"));
}

int main(void)
{
	test_sizes();
	test_devices();
	test_args();
	test_json();
	test_bus();
	return CHECK_DONE();
}
