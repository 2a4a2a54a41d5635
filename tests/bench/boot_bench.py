#!/usr/bin/python3
"""Sizes of what boots, and seconds from QEMU's start to "kvmbox ready".

    tests/bench/boot_bench.py [--runs N] [PATH...]   default: uefi bios pxe direct

One line per number, "KEY VALUE UNIT  details", for people and for scripts:
    size.kernel 3145728 bytes  3.0 MiB  out/kernel/bzImage
    boot.uefi 14.2 s  median of 3: 13.9 14.2 15.0; kernel's first line at 6.0 s
Boots run one after another, each under TCG exactly as tests/boot runs them
(same harness, same machine), so times compare with the tests' and with
each other only on the same host under the same load: the first line says
what the host was doing. Exits 1 if a boot failed.
"""

import os
import statistics
import sys

# No __pycache__ folders in the source tree from importing our modules.
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "boot"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import boot_test  # noqa: E402
from qemu import install_signal_handlers  # noqa: E402


def _mib(n):
    return "%.1f MiB" % (n / 1048576)


def size_line(key, path, sparse=False):
    rel = os.path.relpath(path, ROOT) if path.startswith(ROOT) else path
    try:
        st = os.stat(path)
    except OSError:
        return "%s missing  %s" % (key, rel)
    extra = ""
    if sparse:
        # A disk image is mostly holes; what a download or a dd really moves
        # is closer to the allocated size.
        extra = ", %s allocated" % _mib(st.st_blocks * 512)
    return "%s %d bytes  %s%s  %s" % (key, st.st_size, _mib(st.st_size), extra, rel)


def main(argv):
    install_signal_handlers()
    args = argv[1:]
    runs = 1
    if len(args) >= 2 and args[0] == "--runs":
        runs = int(args[1])
        args = args[2:]
    # The boot paths a user picks; the damaged-data boot is a test, not a path.
    names = args or [n for n in boot_test.DEFAULT_PATHS if n != "data-damaged"]
    bad = [n for n in names if n not in boot_test.ALL_PATHS]
    if bad or runs < 1:
        print("usage: boot_bench.py [--runs N] [%s]..." % "|".join(boot_test.ALL_PATHS), file=sys.stderr)
        return 2

    load = os.getloadavg()
    print("# host: %d CPUs, load average %.2f %.2f %.2f; boots under TCG, one at a time"
          % (os.cpu_count(), load[0], load[1], load[2]), flush=True)
    out = boot_test.OUT
    print(size_line("size.kernel", boot_test.KERNEL))
    print(size_line("size.initramfs", boot_test.INITRAMFS))
    print(size_line("size.kvmbox", os.path.join(out, "kvmbox")))
    print(size_line("size.image", boot_test.IMG, sparse=True))
    print(size_line("size.iso", boot_test.ISO), flush=True)

    failed = 0
    for name in names:
        times, kernel = [], []
        for _ in range(runs):
            r = boot_test.boot(name)
            if not r["ok"]:
                failed += 1
                print("boot.%s FAILED  %s" % (name, r["reason"].partition("\n")[0]), flush=True)
                break
            times.append(r["ready_s"])
            if r["kernel_s"] is not None:
                kernel.append(r["kernel_s"])
        else:
            detail = " ".join("%.1f" % t for t in times)
            # Firmware and boot loader: QEMU start to the kernel's first line.
            fw = "; kernel's first line at %.1f s" % statistics.median(kernel) if kernel else ""
            print("boot.%s %.1f s  median of %d: %s%s"
                  % (name, statistics.median(times), runs, detail, fw), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
