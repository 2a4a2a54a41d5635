#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/hostile.list) under TCG with
rdinit=/hostile_test and relay the ok/not ok lines its PID 1 prints: a guest
driver that breaks the virtio rules (tests/vm/guest_hostile.c) against the
real kvmbox VMM on nested KVM, which must mark each device broken with one
log line, keep working after a reset and exit normally."""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))


def main():
    install_signal_handlers()
    work = os.path.join(OUT, "tests", "vm")
    os.makedirs(work, exist_ok=True)
    args = ["-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "1024", "-accel", "tcg",
            "-display", "none", "-no-reboot", "-nic", "none",
            "-kernel", os.path.join(OUT, "kernel", "bzImage"),
            "-initrd", os.path.join(OUT, "tests", "vm", "hostile.cpio.gz"),
            "-append", "console=ttyS0,115200 quiet rdinit=/hostile_test"]
    with Qemu(args, name="hostile", logdir=work, watchdog_s=600) as q:
        try:
            q.wait_for(r"^hostile_test: finished, \d+ failed", timeout=480)
            status = q.wait_exit(timeout=60)
        except QemuError as e:
            print("not ok hostile: %s" % e, flush=True)
            return 1
        out = q.output().replace("\r", "")
    results = re.findall(r"^((?:not )?ok .*)$", out, re.MULTILINE)
    for line in results:
        print(line, flush=True)
    print(("ok" if status == 0 else "not ok") + " hostile-appliance-poweroff", flush=True)
    return 0 if results and not any(r.startswith("not ok") for r in results) and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
