#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/pci.list) under TCG, on q35 with
QEMU's intel-iommu and two passthrough candidates (edu and an e1000e), with
rdinit=/pci_test, and relay the ok/not ok lines its PID 1 prints: `kvmbox
pci` lists the devices, their IOMMU groups, drivers, reset methods and the
mdev types (mtty), and `kvmbox pci bind/unbind` moves edu and e1000e to
vfio-pci and back, and refuses a group that is not viable and a NIC that
carries the appliance's address."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

# The IOMMU first: devices created before it would not be behind it.
QEMU_ARGS = ["-device", "intel-iommu",
             "-device", "edu",
             "-netdev", "user,id=n0", "-device", "e1000e,netdev=n0"]

if __name__ == "__main__":
    sys.exit(appliance_test.run("pci", timeout=300, qemu_args=QEMU_ARGS, append="intel_iommu=on iommu=pt"))
