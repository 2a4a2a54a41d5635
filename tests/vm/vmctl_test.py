#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/vmctl.list) under TCG with
rdinit=/vmctl_test and relay the ok/not ok lines its PID 1 prints: the VMM's
control socket, counters, pause/resume and SIGTERM stop paths, on nested
KVM with the real kvmbox binary."""

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
            "-initrd", os.path.join(OUT, "tests", "vm", "vmctl.cpio.gz"),
            "-append", "console=ttyS0,115200 quiet rdinit=/vmctl_test"]
    with Qemu(args, name="vmctl", logdir=work, watchdog_s=600) as q:
        try:
            q.wait_for(r"^vmctl_test: finished, \d+ failed", timeout=480)
            status = q.wait_exit(timeout=60)
        except QemuError as e:
            print("not ok vmctl: %s" % e, flush=True)
            return 1
        out = q.output().replace("\r", "")
    results = re.findall(r"^((?:not )?ok .*)$", out, re.MULTILINE)
    for line in results:
        print(line, flush=True)
    print(("ok" if status == 0 else "not ok") + " vmctl-appliance-poweroff", flush=True)
    return 0 if results and not any(r.startswith("not ok") for r in results) and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
