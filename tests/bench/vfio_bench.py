#!/usr/bin/python3
"""PCI passthrough: kvmbox vmm --device next to QEMU's vfio-pci, side by side
in one appliance boot (issue 5's benchmark).

    tests/bench/vfio_bench.py [--runs N] [--timeout S] [--echo]

The outer machine (TCG, q35, intel-iommu with interrupt remapping) has
QEMU's edu device at 00:05.0. The bench image holds the appliance's files,
Debian's qemu-system-x86_64 with its libraries and firmware (as
tests/bench/vm_bench.py builds it), the guest kernel and a guest initramfs
whose /init is tests/bench/vm/vfio_guest.c, with tests/bench/vmbench.c as PID
1. The driver binds edu to vfio-pci once (`kvmbox pci bind`), then runs the
VMMs round-robin, each with 1 vCPU, 256 MiB and edu passed through:

  kvmbox   kvmbox vmm --device 0000:00:05.0
  qemu     QEMU -M pc -accel kvm -cpu host -device vfio-pci,host=0000:00:05.0,rombar=0

and measures, per trial:

  first access  seconds from the VMM's fork() to the guest's first read of
                edu's BAR (guest kernel boot included, which both share)
  ns/read       the guest's own timing of 10,000 reads of edu's ID register
                through its BAR mapping (nested under TCG: far from native)
  MMIO exits    exits of the guest's vCPU to the VMM for MMIO during those
                reads, as each VMM counts them: kvmbox's control socket
                counters, QEMU's KVM stats through QMP query-stats. A BAR
                that is not mapped straight into the guest costs one per
                read: 10,000.

Prints the per-trial lines as they come, then a table of medians. Exits 1
if a VMM never completed a trial. Logs: out/tests/bench/vfiobench.*.log.
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vm_bench as vb  # noqa: E402
from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

GUEST_MIB = 256
EDU = "0000:00:05.0"
READS = 10000


def build_image(args):
    os.makedirs(vb.WORK, exist_ok=True)
    driver = vb.build_static(os.path.join(HERE, "vmbench.c"), os.path.join(vb.WORK, "vmbench"))
    guest_init = vb.build_static(os.path.join(HERE, "vm", "vfio_guest.c"), os.path.join(vb.WORK, "vfio_guest"))
    guest_initrd = vb.mkcpio(["dir /dev 0755 0 0", "nod /dev/console 0600 0 0 c 5 1", "dir /proc 0555 0 0",
                              "dir /sys 0555 0 0", "file /init %s 0755 0 0" % guest_init], "vfio-guest",
                             gzip_level=9)
    qemu_files = vb.qemu_closure()
    libdirs = sorted({os.path.dirname(p) for p, _ in qemu_files[1:]})
    cmdline = "console=ttyS0 quiet"
    # Each VMM counts its own MMIO exits (vmbench.c, vmm_mmio_exits): kvmbox
    # on its control socket, QEMU in QMP's query-stats.
    vmms = [
        ("kvmbox", ["/bin/kvmbox", "vmm", "--kernel", "/bench/bzImage", "--initrd", "/bench/guest.cpio.gz",
                    "--cmdline", cmdline, "--mem", "%dM" % GUEST_MIB, "--cpus", "1", "--serial", "stdio",
                    "--device", EDU, "--control", "/tmp/kvmbox.sock"], [], ["stats kvmbox /tmp/kvmbox.sock"]),
        ("qemu", [vb.PEER_QEMU, "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot",
                  "-m", str(GUEST_MIB), "-smp", "1", "-accel", "kvm", "-cpu", "host", "-M", "pc",
                  "-kernel", "/bench/bzImage", "-initrd", "/bench/guest.cpio.gz", "-append", cmdline,
                  "-device", "vfio-pci,host=%s,rombar=0" % EDU, "-qmp", "unix:/tmp/qemu.sock,server=on,wait=off"],
         ["LD_LIBRARY_PATH=" + ":".join(libdirs)], ["stats qmp /tmp/qemu.sock"]),
    ]
    conf_path = vb.write_conf("vfiobench", ["runs %d" % args.runs, "timeout %d" % args.timeout,
                                            "guest_mib %d" % GUEST_MIB, "echo %d" % args.echo,
                                            "setup /bin/kvmbox pci bind %s" % EDU], vmms)
    return vb.bench_image("vfiobench", driver, conf_path, guest_initrd, qemu_files)


def main(argv):
    import argparse
    install_signal_handlers()
    ap = argparse.ArgumentParser(description="kvmbox vmm --device vs QEMU vfio-pci, nested KVM in TCG")
    ap.add_argument("--runs", type=int, default=5, help="trials per VMM (default 5)")
    ap.add_argument("--timeout", type=int, default=120, help="seconds before a trial is killed (default 120)")
    ap.add_argument("--echo", action="store_true", help="print every line the VMMs print")
    args = ap.parse_args(argv[1:])
    t0 = time.monotonic()
    vb.preflight()
    image = build_image(args)
    # The outer machine of tests/vm/vfio_test.py: q35 and intel-iommu, whose
    # interrupt remapping is on by default there.
    outer = ["-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "2048", "-accel", "tcg",
             "-display", "none", "-no-reboot", "-nic", "none",
             "-device", "intel-iommu", "-device", "edu,addr=05.0",
             "-kernel", vb.KERNEL, "-initrd", image,
             "-append", "console=ttyS0,115200 quiet intel_iommu=on iommu=pt rdinit=/vfiobench"]
    trials, marks, failed = [], {}, False
    watchdog = 300 + 2 * args.runs * (args.timeout + 10)
    with Qemu(outer, name="vfiobench", logdir=vb.WORK, watchdog_s=watchdog) as q:
        try:
            q.wait_for(r"^VMBENCH start.*$", timeout=300, fail=r"Kernel panic|VMBENCH error.*")
            def on_line(line):
                print(line, flush=True)
                kv = vb.parse_kv(line.split(" | ")[0])
                if line.startswith("VMBENCH mark"):
                    marks.setdefault(kv["vmm"], {})[kv["mark"]] = kv
                    if kv["mark"] == "reads-done":
                        marks[kv["vmm"]]["ns"] = vb.parse_kv(line.split(" | ", 1)[1]).get("ns_per_read")
                elif line.startswith("VMBENCH trial"):
                    kv["marks"] = marks.pop(kv["vmm"], {})
                    trials.append(kv)
            failed = vb.relay(q, "VMBENCH", ["setup", "mark", "trial", "tail", "out"], args.timeout + 60, on_line)
            q.wait_exit(timeout=60)
        except QemuError as e:
            print("vfio_bench: %s" % e, file=sys.stderr, flush=True)
            failed = True

    def figures(name):
        first, ns, mmio = [], [], []
        for t in trials:
            mk = t["marks"]
            if t["vmm"] != name or t["ok"] != "1" or not {"first-access", "reads-begin", "reads-done"} <= set(mk):
                continue
            b, d = mk["reads-begin"], mk["reads-done"]
            first.append(float(mk["first-access"]["t"]))
            if mk.get("ns"):
                ns.append(float(mk["ns"]))
            if int(b["mmio_exits"]) >= 0 and int(d["mmio_exits"]) >= 0:
                mmio.append(int(d["mmio_exits"]) - int(b["mmio_exits"]))
        med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
        return len(first), med(first), med(ns), med(mmio)

    rows = {n: figures(n) for n in ("kvmbox", "qemu")}
    print()
    print("PCI passthrough of edu, 1 vCPU, %d MiB guest, nested KVM in TCG (median of %d runs)" % (GUEST_MIB,
                                                                                                 args.runs))
    print("%-40s %12s %12s %7s" % ("", "kvmbox", "QEMU pc", "ratio"))
    labels = [("VMM start to first BAR access (s)", 1, ".2f"), ("MMIO read, guest-timed (ns)", 2, ".0f"),
              ("MMIO exits to the VMM in %d reads" % READS, 3, ".0f")]
    for label, i, spec in labels:
        k, qv = rows["kvmbox"][i], rows["qemu"][i]
        ratio = "%.2fx" % (k / qv) if k and qv and i <= 2 else "-"
        print("%-40s %12s %12s %7s" % (label, vb.fmt(k, spec), vb.fmt(qv, spec), ratio))
    print("  trials ok: kvmbox %d, QEMU %d of %d. Ratio: kvmbox/QEMU (lower is better). MMIO exits: as"
          % (rows["kvmbox"][0], rows["qemu"][0], args.runs))
    print("  each VMM counts them (kvmbox's counters, QEMU's KVM stats) between the guest's marks; a")
    print("  BAR that were trapped rather than mapped would cost one per read.")
    print("# whole benchmark %.0f s" % (time.monotonic() - t0))
    return 1 if failed or not rows["kvmbox"][0] or not rows["qemu"][0] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
