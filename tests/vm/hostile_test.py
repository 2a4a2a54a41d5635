#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/hostile.list) under TCG with
rdinit=/hostile_test and relay the ok/not ok lines its PID 1 prints: a guest
driver that breaks the virtio rules (tests/vm/guest_hostile.c) against the
real kvmbox VMM on nested KVM, which must mark each device broken with one
log line, keep working after a reset and exit normally."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

if __name__ == "__main__":
    sys.exit(appliance_test.run("hostile", timeout=480))
