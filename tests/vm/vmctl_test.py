#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/vmctl.list) under TCG with
rdinit=/vmctl_test and relay the ok/not ok lines its PID 1 prints: the VMM's
control socket, counters, pause/resume, SIGTERM stop paths and console input
to hvc0, on nested KVM with the real kvmbox binary."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

if __name__ == "__main__":
    sys.exit(appliance_test.run("vmctl", timeout=480))
