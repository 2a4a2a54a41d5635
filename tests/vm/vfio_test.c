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
 * changing driver. INTx too, through a resampling irqfd. A second VM asking
 * for a device the first one holds is refused. Then QEMU's e1000e: the
 * guest's own e1000e driver takes the NIC, with MSI-X through our trapped
 * table, and brings the link up. Then an mdev: an instance of the kernel's
 * mtty sample made with `kvmbox pci mdev-create`, passed by its sysfs path
 * next to edu (two devices, one container), its I/O BAR trapped and
 * forwarded, and removed again.
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

/* Starts a VM with --device for each of devs (NULL-terminated) into v. */
static int spawn_vm(struct vmm_run *v, const char *const devs[], const char *cmdline, const char *tag)
{
	const char *argv[32] = { "/bin/kvmbox", "vmm", "--kernel", "/guest/bzImage", "--initrd", "/guest/initramfs.cpio.gz",
				 "--cmdline", cmdline, "--mem", "256M", "--serial", "stdio" };
	int n = 12;
	for (int i = 0; devs[i] && n < 30; i++) {
		argv[n++] = "--device";
		argv[n++] = devs[i];
	}
	argv[n] = NULL;
	if (vmm_spawn(v, argv, -1) < 0)
		return -1;
	v->tag = tag;
	return 0;
}

/* A VM with those devices, to its end; its exit status, or -1 if it did
 * not end in time. */
/* Nested under TCG, a guest's clock now and then stops (RCU stall, "timer
 * wakeup didn't happen"), with QEMU as the VMM too and without any
 * passthrough (see the benchmarks' notes): the guest then never finishes.
 * So a VM that runs out of time is run once more, and says so; one that
 * hangs twice fails its checks. */
static int run_vm_devs(const char *const devs[], const char *cmdline, const char *tag, double timeout)
{
	struct vmm_run *v = &run_buf;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (spawn_vm(v, devs, cmdline, tag) < 0)
			return -1;
		int done = vmm_wait_exit(v, timeout);
		if (!done && v->pid > 0) {
			/* Two stop requests: the second is the VMM's forced stop,
			 * which still runs its exit path and gives the group back
			 * (SIGKILL would leave it on vfio-pci for the next try). */
			kill(v->pid, SIGTERM);
			usleep(200 * 1000);
			kill(v->pid, SIGTERM);
			vmm_wait_exit(v, 30);
		}
		vmm_stop(v);
		if (done)
			return vmm_exit_code(v);
		printf("# %s: no end in %.0f s%s; %s\n", tag ? tag : "vm", timeout,
		       strstr(v->log, "rcu: INFO") ? " (the nested guest's clock stalled: RCU stall)" : "",
		       attempt ? "giving up" : "running it once more");
	}
	return -1;
}

static int run_vm_cmdline(const char *bdf, const char *cmdline, const char *tag, double timeout)
{
	const char *devs[] = { bdf, NULL };
	return run_vm_devs(devs, cmdline, tag, timeout);
}

/* `kvmbox pci ARGS...` to its end: exit status, output in run_buf.log. */
static int run_pci(const char *a1, const char *a2, const char *a3)
{
	const char *argv[] = { "/bin/kvmbox", "pci", a1, a2, a3, NULL };
	if (vmm_spawn(&run_buf, argv, -1) < 0)
		return -1;
	run_buf.tag = NULL;
	int done = vmm_wait_exit(&run_buf, 30);
	vmm_stop(&run_buf);
	return done ? vmm_exit_code(&run_buf) : -1;
}

static int run_vm(const char *bdf, const char *tag, double timeout)
{
	return run_vm_cmdline(bdf, GUEST_CMDLINE, tag, timeout);
}

/* The guest's line "KVMBOX-GUEST: edu-NAME ..." as a check "vfio-NAME". */
static void guest_check(const char *name)
{
	char want[64], test[64];
	snprintf(want, sizeof(want), "KVMBOX-GUEST: %s%s ", strncmp(name, "e1000e", 6) && strncmp(name, "mtty", 4) ? "edu-" : "",
		 name);
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
	rc = run_vm(edu, "vm", 180);
	printf("# the VM with %s ran %.1f s\n", edu, now() - t0);
	const char *names[] = { "found", "id", "liveness", "factorial", "dma", "msi", "intx" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		guest_check(names[i]);
	check("vfio-vmm-exit-0", rc == 0, "exit %d: %s", rc, vmm_tail(&run_buf, 1500));
	check("vfio-bar-mapped", strstr(run_buf.log, "BAR 0: 32-bit memory, 0x100000 bytes, mapped") != NULL,
	      "the VMM did not map BAR 0 into the guest: %s", vmm_tail(&run_buf, 1500));
	driver_of(edu, drv_after, sizeof(drv_after));
	check("vfio-msi-routed", strstr(run_buf.log, "MSI on: GSI") != NULL, "the VMM never routed the guest's MSI");
	check("vfio-intx-routed", strstr(run_buf.log, "INTx pin A on GSI") != NULL, "the VMM did not route edu's INTx: %s",
	      vmm_tail(&run_buf, 1500));
	check("vfio-restored", !strcmp(drv_before, drv_after), "%s was on '%s', now on '%s'", edu, drv_before,
	      drv_after);
	all_drivers(after, sizeof(after));
	check("vfio-nothing-else-changed", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before, after);

	/* A device is one VM's: a second VM asking for edu while the first
	 * holds it is refused, and the first one is not disturbed. */
	static struct vmm_run holder;
	const char *edu_only[] = { edu, NULL };
	if (spawn_vm(&holder, edu_only, "console=ttyS0 quiet kvmbox.test=wait", "holder") == 0 &&
	    vmm_wait_output(&holder, "KVMBOX-GUEST: waiting", 120)) {
		rc = run_vm(edu, NULL, 60);
		check("vfio-in-use-refused", rc == 1 && strstr(run_buf.log, "in use by another VM"), "exit %d: %s", rc,
		      vmm_tail(&run_buf, 600));
		printf("# --device %s while another VM has it: %s", edu, vmm_tail(&run_buf, 200));
		kill(holder.pid, SIGTERM);
		int done = vmm_wait_exit(&holder, 60);
		check("vfio-in-use-holder-unharmed", done && vmm_exit_code(&holder) == 0, "the first VM: %s, %s",
		      done ? "exited" : "still running", vmm_tail(&holder, 600));
	} else {
		check("vfio-in-use-refused", 0, "the first VM did not come up: %s", vmm_tail(&holder, 600));
	}
	vmm_stop(&holder);
	driver_of(edu, drv_after, sizeof(drv_after));
	check("vfio-in-use-restored", !strcmp(drv_before, drv_after), "%s was on '%s', now on '%s'", edu, drv_before,
	      drv_after);

	/* release=off: the group stays on vfio-pci after the VM, until
	 * `kvmbox pci unbind` gives it back. */
	char keep[64];
	snprintf(keep, sizeof(keep), "%s,release=off", edu);
	rc = run_vm_cmdline(keep, "console=ttyS0 quiet", "vm-keep", 120);
	driver_of(edu, drv_after, sizeof(drv_after));
	check("vfio-release-off-stays", rc == 0 && !strcmp(drv_after, "vfio-pci"), "exit %d, %s is on '%s': %s", rc, edu,
	      drv_after, vmm_tail(&run_buf, 600));
	rc = run_pci("unbind", edu, NULL);
	driver_of(edu, drv_after, sizeof(drv_after));
	check("vfio-release-off-unbind", rc == 0 && !strcmp(drv_before, drv_after), "exit %d, %s was on '%s', now on '%s'",
	      rc, edu, drv_before, drv_after);

	/* e1000e: the guest's own e1000e driver takes it, with MSI-X through
	 * our trapped table, and brings the link up. */
	char nic[32], nic_before[64];
	if (find_dev("0x8086", "0x10d3", nic, sizeof(nic))) {
		driver_of(nic, nic_before, sizeof(nic_before));
		t0 = now();
		rc = run_vm_cmdline(nic, "console=ttyS0 loglevel=6 kvmbox.exec=/bin/guest_edu kvmbox.vfio=e1000e", "vm-e1000e",
				    120);
		printf("# the VM with %s ran %.1f s\n", nic, now() - t0);
		guest_check("e1000e-driver");
		guest_check("e1000e-link");
		check("vfio-e1000e-msix", strstr(run_buf.log, "MSI-X on: 5 vectors") != NULL,
		      "the guest's e1000e never enabled MSI-X through us: %s", vmm_tail(&run_buf, 1500));
		check("vfio-e1000e-msix-trapped", strstr(run_buf.log, "MSI-X pages") != NULL,
		      "the MSI-X table's pages were not trapped: %s", vmm_tail(&run_buf, 1500));
		check("vfio-e1000e-vmm-exit-0", rc == 0, "exit %d: %s", rc, vmm_tail(&run_buf, 1500));
		/* The kernel probes e1000e again: give it a moment. */
		for (int i = 0; i < 50; i++) {
			driver_of(nic, drv_after, sizeof(drv_after));
			if (!strcmp(nic_before, drv_after))
				break;
			usleep(100 * 1000);
		}
		check("vfio-e1000e-restored", !strcmp(nic_before, drv_after), "%s was on '%s', now on '%s'", nic, nic_before,
		      drv_after);
	} else {
		check("vfio-e1000e-present", 0, "no 8086:10d3 in /sys/bus/pci/devices");
	}

	/* Mediated devices: an instance of the mtty sample, passed by UUID.
	 * A missing type is refused by name. */
	rc = run_pci("mdev-create", "mtty", "mtty-9");
	check("vfio-mdev-missing-type", rc == 1 && strstr(run_buf.log, "mtty has no mdev type mtty-9"), "exit %d: %s", rc,
	      vmm_tail(&run_buf, 300));
	rc = run_pci("mdev-create", "mtty", "mtty-2");
	char uuid[64] = "";
	sscanf(run_buf.log, "%36s", uuid);
	char mpath[128];
	snprintf(mpath, sizeof(mpath), "/sys/bus/mdev/devices/%s", uuid);
	check("vfio-mdev-create", rc == 0 && strlen(uuid) == 36 && access(mpath, F_OK) == 0, "exit %d: %s", rc,
	      vmm_tail(&run_buf, 300));
	if (rc == 0) {
		t0 = now();
		/* Two devices in one VM, one container: edu and the mdev. */
		all_drivers(before, sizeof(before));
		const char *both[] = { edu, mpath, NULL };
		rc = run_vm_devs(both, "console=ttyS0 quiet kvmbox.exec=/bin/guest_edu kvmbox.vfio=both", "vm-both", 120);
		printf("# the VM with %s and mdev %s ran %.1f s\n", edu, uuid, now() - t0);
		const char *two[] = { "id", "dma", "msi", "intx", "mtty-found", "mtty-uart" };
		for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++)
			guest_check(two[i]);
		check("vfio-both-vmm-exit-0", rc == 0, "exit %d: %s", rc, vmm_tail(&run_buf, 1500));
		all_drivers(after, sizeof(after));
		check("vfio-both-restored", !strcmp(before, after), "drivers before:\n%s\nafter:\n%s", before, after);
		rc = run_pci("mdev-remove", uuid, NULL);
		check("vfio-mdev-remove", rc == 0 && access(mpath, F_OK) < 0, "exit %d: %s", rc, vmm_tail(&run_buf, 300));
	}
	rc = run_pci("mdev-remove", "00000000-0000-4000-8000-000000000000", NULL);
	check("vfio-mdev-remove-missing", rc == 1 && strstr(run_buf.log, "no mdev"), "exit %d: %s", rc,
	      vmm_tail(&run_buf, 300));
	appliance_finish("vfio_test", NULL);
	return 0;
}
