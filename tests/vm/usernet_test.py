#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/usernet.list) under TCG with
rdinit=/usernet_test and relay the ok/not ok lines its PID 1 prints: virtio-net
on user-mode networking (usernet) inside the appliance (DHCP, TCP both ways,
DNS, a port forward, connection and SYN floods, restrict=on), on nested KVM
with the real kvmbox binary."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

if __name__ == "__main__":
    sys.exit(appliance_test.run("usernet", timeout=900))
