#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/vfio.list) under TCG, on q35 with
QEMU's intel-iommu and its edu device, with rdinit=/vfio_test, and relay the
ok/not ok lines its PID 1 prints: `kvmbox vmm --device` passes edu to a
nested KVM guest, which checks its registers, factorial, DMA, MSI and INTx;
the device goes back to its driver when the VM stops; a missing device, a
group that is not viable and a device another VM holds are refused with
nothing changed; an e1000e (MSI-X, link up); an mdev instance of the mtty
sample made, passed through next to edu, and removed. The details
are in vfio_test.c."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

# The IOMMU first: devices created before it would not be behind it.
QEMU_ARGS = ["-device", "intel-iommu",
             "-device", "edu",
             "-netdev", "user,id=n0", "-device", "e1000e,netdev=n0"]

if __name__ == "__main__":
    append = "intel_iommu=on iommu=pt"
    sys.exit(appliance_test.run("vfio", timeout=1200, qemu_args=QEMU_ARGS, append=append))
