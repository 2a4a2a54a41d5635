#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/net.list) under TCG with
rdinit=/net_test and relay the ok/not ok lines its PID 1 prints: virtio-net
on a tap on a bridge inside the appliance (MAC, TCP both ways byte for byte,
the tap on the bridge, two queue pairs, a missing bridge), on nested KVM
with the real kvmbox binary."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

if __name__ == "__main__":
    sys.exit(appliance_test.run("net", timeout=900))
