#!/usr/bin/python3
"""Guests under KVM inside the TCG-emulated appliance (`kvmbox vmm`).

One appliance boot runs a seed (headless mode) with several VMs at once:

  boot       the test guest, 2 vCPUs and 256 MiB: it must see 2 CPUs, about
             256 MiB and our command line, then power off (VMM status 0)
  reboot     the test guest asked to reboot: reported as a reboot (status 3)
  elf        the same kernel as an uncompressed ELF vmlinux (PVH entry)
  huge       guest RAM on hugepages (the appliance reserves 72 x 2 MiB)
  bad-*      bad input, each must fail with one clear line and status 1:
             a missing kernel, a file that is not a kernel, a kernel too big
             for guest memory, an initrd that does not fit, more vCPUs than
             allowed, and memory the host does not have

The data disk (ext4, KVMBOX-DATA) is made here with mke2fs -d, so no root is
needed. Prints "ok NAME" / "not ok NAME: why" per check.
"""

import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))
KERNEL = os.path.join(OUT, "kernel", "bzImage")
INITRAMFS = os.path.join(OUT, "initramfs.cpio.gz")
GUEST_INITRD = os.path.join(OUT, "tests", "guest", "initramfs.cpio.gz")
WORK = os.path.join(OUT, "tests", "vm")

GUEST = {"kernel": "/data/guest/bzImage", "initrd": "/data/guest/initramfs.cpio.gz"}
SEED = {
    "poweroff": True,
    "vms": [
        dict(GUEST, name="boot", mem="256M", cpus=2, cmdline="console=ttyS0 quiet kvmbox.marker=boot-ok"),
        dict(GUEST, name="reboot", mem="128M", cpus=1, cmdline="console=ttyS0 quiet kvmbox.test=reboot"),
        dict(GUEST, name="elf", kernel="/data/guest/vmlinux", mem="128M", cpus=1,
             cmdline="console=ttyS0 quiet kvmbox.marker=elf-ok"),
        dict(GUEST, name="huge", mem="128M", cpus=1, hugepages=True,
             cmdline="console=ttyS0 quiet kvmbox.marker=huge-ok"),
        dict(GUEST, name="bad-hugepages", mem="512M", hugepages=True),
        dict(GUEST, name="bad-missing", kernel="/data/guest/no-such-kernel"),
        dict(GUEST, name="bad-notkernel", kernel="/data/guest/initramfs.cpio.gz"),
        dict(GUEST, name="bad-toobig", mem="32M"),
        dict(GUEST, name="bad-initrd", initrd="/data/guest/big.initrd", mem="128M"),
        dict(GUEST, name="bad-cpus", cpus=300),
        dict(GUEST, name="bad-nomem", mem="200G"),
    ],
}

# VM name -> (VMM exit status, a regex its error or output must match)
EXPECT = {
    "bad-hugepages": (1, r"hugepages"),
    "bad-missing": (1, r"kernel /data/guest/no-such-kernel: No such file"),
    "bad-notkernel": (1, r"not a Linux kernel"),
    "bad-toobig": (1, r"kernel too big for guest memory"),
    "bad-initrd": (1, r"initrd \(\d+ bytes\) does not fit"),
    "bad-cpus": (1, r"cpus must be between 1 and 254"),
    "bad-nomem": (1, r"asked for, but this machine has only"),
}


def ok(name, cond, why=""):
    print(("ok %s" % name) if cond else ("not ok %s: %s" % (name, why)), flush=True)
    return cond


def make_data_disk():
    import json
    stage = os.path.join(WORK, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(os.path.join(stage, "guest"))
    shutil.copy(KERNEL, os.path.join(stage, "guest", "bzImage"))
    shutil.copy(os.path.join(OUT, "kernel", "vmlinux"), os.path.join(stage, "guest", "vmlinux"))
    shutil.copy(GUEST_INITRD, os.path.join(stage, "guest", "initramfs.cpio.gz"))
    # 100 MiB of initrd cannot fit in a 128 MiB guest next to the kernel.
    with open(os.path.join(stage, "guest", "big.initrd"), "wb") as f:
        f.truncate(100 << 20)
    with open(os.path.join(stage, "seed.json"), "w") as f:
        json.dump(SEED, f, indent=1)
    disk = os.path.join(WORK, "data.img")
    if os.path.exists(disk):
        os.unlink(disk)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-L", "KVMBOX-DATA", "-d", stage, disk, "256M"],
                   check=True)
    return disk


def main():
    install_signal_handlers()
    os.makedirs(WORK, exist_ok=True)
    disk = make_data_disk()
    args = ["-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "1536", "-accel", "tcg",
            "-display", "none", "-no-reboot", "-nic", "none",
            "-kernel", KERNEL, "-initrd", INITRAMFS,
            "-append", "console=ttyS0,115200 kvmbox.datawait=0 hugepages=72",
            "-drive", "file=%s,if=virtio,format=raw" % disk]
    failed = False
    with Qemu(args, name="vm", logdir=WORK, watchdog_s=900) as q:
        try:
            q.wait_for(r"kvmbox ready .*kvm=yes", timeout=240)
            q.wait_for(r"seed: all VMs ended \(([^)]*)\); result \d+", timeout=600)
            status = q.wait_exit(timeout=90)
        except QemuError as e:
            print("not ok vm-appliance: %s" % e, flush=True)
            return 1
        out = q.output().replace("\r", "")
        failed |= not ok("vm-appliance-poweroff", status == 0, "QEMU exit status %s" % status)

        def lines(vm):
            return "\n".join(re.findall(r"\[%s\] (.*)" % re.escape(vm), out))

        def ended(vm):
            """The VMM's exit status as the supervisor reports it; 1 for a
            VM whose definition it refused (as `kvmbox vmm` exits 1)."""
            m = re.search(r"vms: %s ended after [0-9.]+ s: .*\(exit (\d+)\)" % re.escape(vm), out)
            if m:
                return int(m.group(1))
            if re.search(r"seed: VM %s (its definition was refused|it could not start): " % re.escape(vm), out):
                return 1
            return None

        boot = lines("boot")
        m = re.search(r"KVMBOX-GUEST: cpus=(\d+)", boot)
        failed |= not ok("vm-boot-sees-2-cpus", m and m.group(1) == "2", "guest said %s" % (m and m.group(0)))
        m = re.search(r"KVMBOX-GUEST: mem_kb=(\d+)", boot)
        kb = int(m.group(1)) if m else 0
        failed |= not ok("vm-boot-sees-256M", 200 * 1024 < kb <= 256 * 1024, "MemTotal %d kB" % kb)
        m = re.search(r"KVMBOX-GUEST: pci=(\S*)", boot)
        failed |= not ok("vm-boot-sees-pci-host-bridge", m and "1b36:0008" in m.group(1).split(","),
                         "guest said %s" % (m and m.group(0)))
        m = re.search(r"KVMBOX-GUEST: hwrng=(\S*)", boot)
        hexs = m.group(1) if m else ""
        failed |= not ok("vm-boot-hwrng", re.fullmatch(r"[0-9a-f]{32}", hexs) and len(set(hexs)) > 1,
                         "guest said %s" % (m and m.group(0)))
        failed |= not ok("vm-boot-cmdline", "KVMBOX-GUEST: cmdline=console=ttyS0 quiet kvmbox.marker=boot-ok" in boot,
                         "no command line marker in:\n" + boot[-2000:])
        failed |= not ok("vm-boot-poweroff-status-0", ended("boot") == 0, "status %s" % ended("boot"))
        failed |= not ok("vm-elf-vmlinux-boots", "kvmbox.marker=elf-ok" in lines("elf") and ended("elf") == 0,
                         "status %s, output:\n%s" % (ended("elf"), lines("elf")[-1500:]))
        failed |= not ok("vm-hugepages-boots", "kvmbox.marker=huge-ok" in lines("huge") and ended("huge") == 0,
                         "status %s, output:\n%s" % (ended("huge"), lines("huge")[-1500:]))
        failed |= not ok("vm-reboot-reported", "KVMBOX-GUEST: rebooting" in lines("reboot") and ended("reboot") == 3,
                         "status %s" % ended("reboot"))
        for vm, (code, rx) in EXPECT.items():
            text = lines(vm)
            good = ended(vm) == code and re.search(rx, text)
            failed |= not ok("vm-" + vm, good, "status %s, output:\n%s" % (ended(vm), text[-1500:]))
            crashed = re.search(r"Segmentation|Aborted|sanitizer|core dumped", text)
            failed |= not ok("vm-" + vm + "-no-crash", not crashed, text[-500:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
