"""Run an in-appliance test: boot out/tests/vm/NAME.cpio.gz under TCG with
rdinit=/NAME_test (its PID 1, tests/vm/NAME_test.c), wait for
"NAME_test: finished, N failed" and the power-off, and relay the "ok ..." /
"not ok ..." lines it printed, plus LABEL-appliance-poweroff (LABEL is NAME
unless a test boots more than once). Returns the exit status for the test
runner."""

import os
import re

from qemu import Qemu, QemuError, install_signal_handlers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))


def run(name, timeout=480, mem_mib=1024, qemu_args=(), append="", label=None):
    """qemu_args: more QEMU arguments (devices, say); append: more of the
    appliance's kernel command line; label: names this boot's log files and
    its poweroff and failure lines, so that two boots of one test differ."""
    label = label or name
    install_signal_handlers()
    work = os.path.join(OUT, "tests", "vm")
    os.makedirs(work, exist_ok=True)
    args = ["-machine", "q35", "-cpu", "max", "-smp", "1", "-m", str(mem_mib), "-accel", "tcg",
            "-display", "none", "-no-reboot", "-nic", "none",
            "-kernel", os.path.join(OUT, "kernel", "bzImage"),
            "-initrd", os.path.join(work, name + ".cpio.gz"),
            "-append", ("console=ttyS0,115200 quiet rdinit=/%s_test " % name + append).strip()]
    args += list(qemu_args)
    with Qemu(args, name=label, logdir=work, watchdog_s=timeout + 120) as q:
        try:
            q.wait_for(r"^%s_test: finished, \d+ failed" % name, timeout=timeout)
            status = q.wait_exit(timeout=60)
        except QemuError as e:
            print("not ok %s: %s" % (label, e), flush=True)
            return 1
        out = q.output().replace("\r", "")
    results = re.findall(r"^((?:not )?ok .*)$", out, re.MULTILINE)
    for line in results:
        print(line, flush=True)
    print(("ok" if status == 0 else "not ok") + " %s-appliance-poweroff" % label, flush=True)
    return 0 if results and not any(r.startswith("not ok") for r in results) and status == 0 else 1
