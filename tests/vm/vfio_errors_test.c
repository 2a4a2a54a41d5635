/* In-appliance test of the two VFIO refusals that need their own outer
 * QEMU, so vfio_test (which boots with a working IOMMU) cannot cover them:
 *
 *   vfio_errors.mode=noiommu    no IOMMU at all (no intel-iommu device, no
 *                               intel_iommu=on): edu has no IOMMU group.
 *                               `kvmbox vmm --device` and `kvmbox pci bind`
 *                               both exit 1 saying so, and no device
 *                               changes driver.
 *   vfio_errors.mode=nointremap intel-iommu with intremap=off: binding to
 *                               vfio-pci works, but VFIO_SET_IOMMU fails
 *                               with EPERM. `kvmbox vmm --device` exits 1
 *                               saying there is no interrupt remapping, and
 *                               edu is back on its old driver (none) with
 *                               its old driver_override: nothing left on
 *                               vfio-pci.
 *
 * tests/vm/vfio_errors_test.py boots the appliance once per mode, with the
 * mode on the kernel command line; this program (PID 1, rdinit=
 * /vfio_errors_test) reads it from /proc/cmdline. Check names carry the
 * mode, so that the two boots' lines stay distinct. No guest ever runs: the
 * VMM fails while it builds the VM, before any vCPU exists.
 */
#include <stdio.h>
#include <string.h>

/* sysfs names are short; a truncated path would only fail a check. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "appliance_test.h"
#include "sysfs_util.h"

static struct vmm_run run_buf;

/* /init (the kvmbox binary) with argv to its end: its exit status, or -1
 * when it did not end within 60 s; its output is in run_buf.log. */
static int run_kvmbox(const char *const argv[])
{
	if (vmm_spawn(&run_buf, argv, -1) < 0)
		return -1;
	int done = vmm_wait_exit(&run_buf, 60);
	vmm_stop(&run_buf);
	return done ? vmm_exit_code(&run_buf) : -1;
}

/* A VM with edu passed through. Small: it never gets to run. */
static int run_vm(const char *bdf)
{
	const char *argv[] = { "/bin/kvmbox", "vmm", "--kernel", "/guest/bzImage", "--mem", "64M",
			       "--serial", "stdio", "--device", bdf, NULL };
	return run_kvmbox(argv);
}

static void driver_override_of(const char *bdf, char *buf, size_t size)
{
	char p[512];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", bdf);
	read_line(p, buf, size);
}

static void test_noiommu(const char *edu)
{
	static char before[8192], after[8192];
	/* Without this the refusal below would test nothing: the outer QEMU
	 * must really have given the appliance no IOMMU. */
	int g = group_of(edu);
	all_drivers(before, sizeof(before));
	int rc = run_vm(edu);
	all_drivers(after, sizeof(after));
	check("vfio-noiommu-refused",
	      g < 0 && rc == 1 && strstr(run_buf.log, "has no IOMMU group (no IOMMU: boot with intel_iommu=on"),
	      "IOMMU group %d, exit %d: %s", g, rc, vmm_tail(&run_buf, 600));
	printf("# --device %s without an IOMMU: %s", edu, vmm_tail(&run_buf, 300));
	check("vfio-noiommu-nothing-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before, after);

	const char *bind[] = { "/bin/kvmbox", "pci", "bind", edu, NULL };
	rc = run_kvmbox(bind);
	all_drivers(after, sizeof(after));
	check("vfio-noiommu-bind-refused",
	      rc == 1 && strstr(run_buf.log, "has no IOMMU group (no IOMMU: boot with intel_iommu=on"), "exit %d: %s",
	      rc, vmm_tail(&run_buf, 600));
	printf("# pci bind %s without an IOMMU: %s", edu, vmm_tail(&run_buf, 300));
	check("vfio-noiommu-bind-nothing-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before,
	      after);
}

static void test_nointremap(const char *edu)
{
	static char before[8192], after[8192];
	char drv_before[64], drv_after[64], ovr_before[64], ovr_after[64];
	int g = group_of(edu);
	driver_of(edu, drv_before, sizeof(drv_before));
	driver_override_of(edu, ovr_before, sizeof(ovr_before));
	all_drivers(before, sizeof(before));
	int rc = run_vm(edu);
	/* The group must have reached vfio-pci and the container for the
	 * failure to be VFIO_SET_IOMMU's: an earlier refusal would leave
	 * nothing to give back, and "restored" below would prove nothing. */
	check("vfio-nointremap-refused",
	      g >= 0 && rc == 1 && strstr(run_buf.log, "VFIO_SET_IOMMU: ") &&
		      strstr(run_buf.log, "no interrupt remapping"),
	      "IOMMU group %d, exit %d: %s", g, rc, vmm_tail(&run_buf, 600));
	printf("# --device %s without interrupt remapping: %s", edu, vmm_tail(&run_buf, 300));
	driver_of(edu, drv_after, sizeof(drv_after));
	driver_override_of(edu, ovr_after, sizeof(ovr_after));
	check("vfio-nointremap-restored", !strcmp(drv_before, drv_after) && !strcmp(ovr_before, ovr_after),
	      "%s was on '%s' (driver_override '%s'), now on '%s' (driver_override '%s')", edu, drv_before, ovr_before,
	      drv_after, ovr_after);
	all_drivers(after, sizeof(after));
	check("vfio-nointremap-nothing-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before,
	      after);
}

int main(void)
{
	char cmdline[4096], edu[32] = "";
	appliance_start();
	read_line("/proc/cmdline", cmdline, sizeof(cmdline));
	const char *m = strstr(cmdline, "vfio_errors.mode=");
	char mode[32] = "";
	if (m)
		sscanf(m + strlen("vfio_errors.mode="), "%31s", mode);

	if (!find_dev("0x1234", "0x11e8", edu, sizeof(edu)))
		check("vfio-errors-edu-present", 0, "no 1234:11e8 in /sys/bus/pci/devices");
	else if (!strcmp(mode, "noiommu"))
		test_noiommu(edu);
	else if (!strcmp(mode, "nointremap"))
		test_nointremap(edu);
	else
		check("vfio-errors-mode", 0, "vfio_errors.mode='%s' on the command line: noiommu or nointremap", mode);
	appliance_finish("vfio_errors_test", NULL);
	return 0;
}
