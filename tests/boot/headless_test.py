#!/usr/bin/python3
"""Headless CI mode end to end, exactly as README's example runs it.

QEMU boots the appliance (out/kernel/bzImage + out/initramfs.cpio.gz, no
disk image) under TCG with:
  - the seed as a fw_cfg file (-fw_cfg name=opt/kvmbox/seed,file=seed.json);
  - the guest's kernel and initramfs as two raw, read-only virtio drives,
    which the seed names /dev/vda and /dev/vdb: no file system to make.

The seed defines two VMs from the test guest: "pass" powers off normally and
"fail" writes 3 to the exit port (0xf4). The test checks what a CI job reads
from QEMU's stdout: each guest's serial lines with its "[name] " prefix, the
line that all VMs ended with each one's status, the power-off with result 3
(the first failure), and QEMU's own exit.

Prints "ok NAME" / "not ok NAME: reason". Logs in out/tests/headless/.
"""

import json
import os
import re
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))
KERNEL = os.path.join(OUT, "kernel", "bzImage")
INITRAMFS = os.path.join(OUT, "initramfs.cpio.gz")
GUEST_INITRD = os.path.join(OUT, "tests", "guest", "initramfs.cpio.gz")
WORK = os.path.join(OUT, "tests", "headless")

SEED = {
    "vms": [
        {"name": "pass", "kernel": "/dev/vda", "initrd": "/dev/vdb", "mem": "128M",
         "cmdline": "console=ttyS0"},
        {"name": "fail", "kernel": "/dev/vda", "initrd": "/dev/vdb", "mem": "128M",
         "cmdline": "console=ttyS0 kvmbox.test=exit:3"},
    ],
    "poweroff": True,
}

import report  # noqa: E402  (tests/lib: ok / not ok lines)
from report import result  # noqa: E402


def main():
    install_signal_handlers()
    os.makedirs(WORK, exist_ok=True)
    for f in (KERNEL, INITRAMFS, GUEST_INITRD):
        if not os.path.exists(f):
            result("headless", "%s is missing (run make image)" % f)
            return 1
    seed = os.path.join(WORK, "seed.json")
    with open(seed, "w") as f:
        json.dump(SEED, f)
    args = ["-nodefaults", "-display", "none", "-no-reboot",
            "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "1G",
            "-kernel", KERNEL, "-initrd", INITRAMFS, "-append", "console=ttyS0",
            "-fw_cfg", "name=opt/kvmbox/seed,file=" + seed,
            "-drive", "file=%s,format=raw,if=virtio,readonly=on" % KERNEL,
            "-drive", "file=%s,format=raw,if=virtio,readonly=on" % GUEST_INITRD]
    try:
        with Qemu(args, name="headless", logdir=WORK, watchdog_s=900) as q:
            try:
                q.wait_for(r"powering off", 800, fail=r"Kernel panic - not syncing.*$")
            except QemuError as e:
                result("headless-poweroff", str(e))
                return 1
            status = q.wait_exit(120)
            log = q.output()
    except QemuError as e:
        result("headless", str(e))
        return 1
    result("headless-seed-fwcfg", None if "seed: from fw_cfg opt/kvmbox/seed" in log
           else "no line saying the seed came from fw_cfg in %s" % q.serial_log)
    for vm in ("pass", "fail"):
        result("headless-mirror-" + vm, None if re.search(r"\[%s\] KVMBOX-GUEST: init" % vm, log)
               else "no '[%s] KVMBOX-GUEST: init' line in %s" % (vm, q.serial_log))
    result("headless-exit-port", None if re.search(r"\[fail\] KVMBOX-GUEST: exit-port=3", log) and
           "the guest exited with status 3" in log else "no exit-port line and status 3 in %s" % q.serial_log)
    m = re.search(r"seed: all VMs ended \(([^)]*)\); result (\d+)", log)
    result("headless-result", None if m and sorted(m.group(1).split()) == ["fail=3", "pass=0"] and m.group(2) == "3"
           else "the end line is %r" % (m.group(0) if m else None))
    result("headless-poweroff", None if status == 0 and "reboot: Power down" in log
           else "QEMU exit %s; power-down line %s" % (status, "reboot: Power down" in log))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
