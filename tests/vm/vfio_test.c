/* In-appliance test of VFIO passthrough: `kvmbox vmm --device BDF`.
 *
 * The outer QEMU (tests/vm/vfio_test.py) runs q35 with intel-iommu and
 * QEMU's edu device; the appliance boots with intel_iommu=on iommu=pt. This
 * program, PID 1 of a test-only initramfs (rdinit=/vfio_test), finds edu in
 * sysfs, runs a real VM with it passed through, and relays what the guest
 * (tests/vm/guest_edu.c) found: the ID and liveness registers through the
 * guest's BAR mapping, the factorial, a DMA round trip into guest RAM, and
 * an MSI delivered through our routing. Then: the VMM exited 0, its BAR was
 * mapped into the guest (not trapped), and edu is back on the driver it had
 * before (none). And --device on a device that does not exist, or whose
 * group is not viable, fails with exit 1 and a clear message, with no device
 * changing driver. Optionally (vfio_test.e1000e) the same with QEMU's e1000e,
 * which the guest's own e1000e driver must take and bring the link up on.
 * Prints "ok vfio-..." / "not ok vfio-...: why", then
 * powers off.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* sysfs names are short; a truncated path would only fail a check. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define VMM_LOG_SIZE (256 * 1024)
#include "appliance_test.h"
#include "sysfs_util.h"

static struct vmm_run run_buf;

#define GUEST_CMDLINE "console=ttyS0 quiet kvmbox.exec=/bin/guest_edu"

/* A VM with --device bdf; its exit status, or -1 if it did not end in time. */
static int run_vm_cmdline(const char *bdf, const char *cmdline, const char *tag, double timeout)
{
	const char *argv[] = { "kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
			       "--cmdline", cmdline, "--mem", "256M", "--device", bdf, "--serial", "stdio", NULL };
	struct vmm_run *v = &run_buf;
	if (vmm_spawn(v, argv, -1) < 0)
		return -1;
	v->tag = tag;
	int done = vmm_wait_exit(v, timeout);
	vmm_stop(v);
	return done ? vmm_exit_code(v) : -1;
}

static int run_vm(const char *bdf, const char *tag, double timeout)
{
	return run_vm_cmdline(bdf, GUEST_CMDLINE, tag, timeout);
}

/* The guest's line "KVMBOX-GUEST: edu-NAME ..." as a check "vfio-NAME". */
static void guest_check(const char *name)
{
	char want[64], test[64];
	snprintf(want, sizeof(want), "KVMBOX-GUEST: %s%s ", strncmp(name, "e1000e", 6) ? "edu-" : "", name);
	snprintf(test, sizeof(test), "vfio-%s", name);
	const char *l = strstr(run_buf.log, want);
	char line[512] = "no such line from the guest";
	if (l)
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(l, "\r\n"), l);
	check(test, l && !strncmp(l + strlen(want), "ok", 2), "%s", line);
}

int main(void)
{
	static char before[8192], after[8192];
	char edu[32] = "", drv_before[64], drv_after[64];
	appliance_start();

	if (!find_dev("0x1234", "0x11e8", edu, sizeof(edu))) {
		check("vfio-edu-present", 0, "no 1234:11e8 in /sys/bus/pci/devices");
		appliance_finish("vfio_test", NULL);
		return 0;
	}

	/* Refusals first, while nothing is bound. */
	all_drivers(before, sizeof(before));
	int rc = run_vm("00:1e.7", NULL, 60);
	all_drivers(after, sizeof(after));
	check("vfio-no-such-device", rc == 1 && strstr(run_buf.log, "no PCI device"), "exit %d: %s", rc,
	      vmm_tail(&run_buf, 600));
	check("vfio-no-such-device-nothing-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before,
	      after);
	printf("# --device 00:1e.7: %s", vmm_tail(&run_buf, 200));
	char target[32], blocker[32];
	if (find_nonviable(target, sizeof(target), blocker, sizeof(blocker))) {
		rc = run_vm(target, NULL, 60);
		all_drivers(after, sizeof(after));
		check("vfio-refuse-nonviable-group", rc == 1 && strstr(run_buf.log, "not viable") &&
			      strstr(run_buf.log, blocker), "--device %s: exit %d: %s", target, rc, vmm_tail(&run_buf, 600));
		check("vfio-nonviable-nothing-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s",
		      before, after);
		printf("# --device %s (group not viable because of %s): %s", target, blocker, vmm_tail(&run_buf, 300));
	} else {
		printf("ok vfio-refuse-nonviable-group # skipped: QEMU's topology has no group that is not viable\n");
	}

	/* edu passed through. */
	driver_of(edu, drv_before, sizeof(drv_before));
	all_drivers(before, sizeof(before));
	double t0 = now();
	rc = run_vm(edu, "vm", 400);
	printf("# the VM with %s ran %.1f s\n", edu, now() - t0);
	const char *names[] = { "found", "id", "liveness", "factorial", "dma", "msi" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		guest_check(names[i]);
	check("vfio-vmm-exit-0", rc == 0, "exit %d: %s", rc, vmm_tail(&run_buf, 1500));
	check("vfio-bar-mapped", strstr(run_buf.log, "BAR 0: 32-bit memory, 0x100000 bytes, mapped") != NULL,
	      "the VMM did not map BAR 0 into the guest: %s", vmm_tail(&run_buf, 1500));
	driver_of(edu, drv_after, sizeof(drv_after));
	check("vfio-msi-routed", strstr(run_buf.log, "MSI on: GSI") != NULL, "the VMM never routed the guest's MSI");
	check("vfio-restored", !strcmp(drv_before, drv_after), "%s was on '%s', now on '%s'", edu, drv_before,
	      drv_after);
	all_drivers(after, sizeof(after));
	check("vfio-nothing-else-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before, after);

	/* e1000e passed through: the guest's e1000e driver takes it. Only
	 * with vfio_test.e1000e on the appliance's command line
	 * (KVMBOX_VFIO_E1000E=1 for vfio_test.py): the driver binds, but its
	 * MSI self-test fails and it falls back to INTx, which is not
	 * passed through yet, so the link never comes up; and that guest has
	 * been seen to stall under TCG. */
	char nic[32], cmdline[1024];
	int fd = open("/proc/cmdline", O_RDONLY);
	ssize_t cn = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;
	cmdline[cn > 0 ? cn : 0] = '\0';
	if (fd >= 0)
		close(fd);
	if (!strstr(cmdline, "vfio_test.e1000e")) {
		printf("# e1000e passthrough not run (KVMBOX_VFIO_E1000E=1 runs it; its link needs INTx)\n");
	} else if (find_dev("0x8086", "0x10d3", nic, sizeof(nic))) {
		driver_of(nic, drv_before, sizeof(drv_before));
		t0 = now();
		rc = run_vm_cmdline(nic, "console=ttyS0 loglevel=6 kvmbox.exec=/bin/guest_edu kvmbox.vfio=e1000e", "vm-e1000e",
				    180);
		printf("# the VM with %s ran %.1f s\n", nic, now() - t0);
		guest_check("e1000e-driver");
		guest_check("e1000e-link");
		check("vfio-e1000e-vmm-exit-0", rc == 0, "exit %d: %s", rc, vmm_tail(&run_buf, 1500));
		/* The kernel probes it again: give e1000e a moment. */
		for (int i = 0; i < 50; i++) {
			driver_of(nic, drv_after, sizeof(drv_after));
			if (!strcmp(drv_before, drv_after))
				break;
			usleep(100 * 1000);
		}
		check("vfio-e1000e-restored", !strcmp(drv_before, drv_after), "%s was on '%s', now on '%s'", nic,
		      drv_before, drv_after);
	} else {
		check("vfio-e1000e-present", 0, "no 8086:10d3 in /sys/bus/pci/devices");
	}
	appliance_finish("vfio_test", NULL);
	return 0;
}
