#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/vfio_errors.list) under TCG twice,
with rdinit=/vfio_errors_test, and relay the ok/not ok lines its PID 1
prints: once with no IOMMU at all, where `kvmbox vmm --device` and `kvmbox
pci bind` refuse edu (it has no IOMMU group) with nothing changed; once
with intel-iommu,intremap=off, where VFIO_SET_IOMMU fails with EPERM and
`kvmbox vmm --device` must say there is no interrupt remapping and give edu
back to the driver it had. The details are in vfio_errors_test.c."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

# No intel-iommu device and no intel_iommu=on: the appliance has no IOMMU.
NOIOMMU_ARGS = ["-device", "edu"]
# The IOMMU first: devices created before it would not be behind it.
NOINTREMAP_ARGS = ["-device", "intel-iommu,intremap=off", "-device", "edu"]

if __name__ == "__main__":
    rc = appliance_test.run("vfio_errors", timeout=120, qemu_args=NOIOMMU_ARGS,
                            append="vfio_errors.mode=noiommu", label="vfio_errors-noiommu")
    rc |= appliance_test.run("vfio_errors", timeout=120, qemu_args=NOINTREMAP_ARGS,
                             append="intel_iommu=on iommu=pt vfio_errors.mode=nointremap",
                             label="vfio_errors-nointremap")
    sys.exit(rc)
