#!/usr/bin/python3
"""virtio-blk and virtio-net throughput: kvmbox vmm next to QEMU, side by side
in one appliance boot (issue 4's benchmark).

    tests/bench/io_bench.py [--runs N] [--mb N] [--ops N] [--timeout S] [--only blk|net]

Builds a benchmark-only initramfs: the appliance's files, Debian's
qemu-system-x86_64 with its shared libraries and firmware (as
tests/bench/vm_bench.py does), the guest kernel (the appliance's bzImage),
a guest initramfs whose /init is tests/bench/vm/io_guest.c, and the driver
tests/bench/iobench.c as PID 1. The outer machine runs under TCG; the VMMs
inside use nested KVM, one at a time, round-robin, each with 1 vCPU and
256 MiB and the same guest:

  blk   the same backing file, /tmp/bench.img on the appliance's tmpfs:
        kvmbox --disk, QEMU -drive if=none,format=raw + virtio-blk-pci
        (cache=writeback, aio=threads: QEMU's defaults; -name
        debug-threads=on so that its vCPU threads can be told apart). The guest uses
        O_DIRECT: sequential write and read in 1 MiB requests, then 4 KiB
        random reads at queue depth 1.
  net   the same bridge kvbr0: kvmbox --net bridge=kvbr0 (its own tap),
        QEMU -netdev tap (a persistent tap in the bridge, vhost off) +
        virtio-net-pci. The guest sends MB MiB over TCP to a receiver in the
        appliance, which acknowledges the byte count.

CPU: the VMM process's CPU time over each phase, all threads, and without
its vCPU threads (guest time is not VMM work): "dev CPU s/GB" is the
second per GB moved, the VMM's cost per byte. Prints a table of medians and
the ratios kvmbox/QEMU. Logs: out/tests/bench/iobench.*.log.
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vm_bench as vb  # noqa: E402
from qemu import install_signal_handlers  # noqa: E402

GUEST_MIB = 256
PHASES = [("seqwrite", "blk seq write", "MB/s"), ("seqread", "blk seq read", "MB/s"),
          ("randread", "blk 4k rand read QD1", "IOPS"), ("tcpsend", "net TCP guest->appliance", "MB/s")]


def build_image(args):
    os.makedirs(vb.WORK, exist_ok=True)
    driver = vb.build_static(os.path.join(HERE, "iobench.c"), os.path.join(vb.WORK, "iobench"))
    # -lpthread: the receiver runs in a thread (musl has it in libc anyway).
    guest_init = vb.build_static(os.path.join(HERE, "vm", "io_guest.c"), os.path.join(vb.WORK, "io_guest"))
    guest_initrd = vb.mkcpio(["dir /dev 0755 0 0", "nod /dev/console 0600 0 0 c 5 1", "dir /proc 0555 0 0",
                              "file /init %s 0755 0 0" % guest_init], "io-guest", gzip_level=9)
    qemu_files = vb.qemu_closure()
    libdirs = sorted({os.path.dirname(p) for p, _ in qemu_files[1:]})
    base = "console=ttyS0 quiet kvmbox.mb=%d kvmbox.ops=%d" % (args.mb, args.ops)
    blk_cmd, net_cmd = base + " kvmbox.io=blk", base + " kvmbox.io=net"
    ours = ["/bin/kvmbox", "vmm", "--kernel", "/bench/bzImage", "--initrd", "/bench/guest.cpio.gz",
            "--mem", "%dM" % GUEST_MIB, "--cpus", "1", "--serial", "stdio", "--no-rng", "--no-hvc"]
    qemu = [vb.PEER_QEMU, "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot", "-m", str(GUEST_MIB),
            "-smp", "1", "-accel", "kvm", "-cpu", "host", "-M", "pc", "-name", "bench,debug-threads=on",
            "-kernel", "/bench/bzImage", "-initrd", "/bench/guest.cpio.gz"]
    env = ["LD_LIBRARY_PATH=" + ":".join(libdirs)]
    vmms = [
        ("kvmbox-blk", ours + ["--cmdline", blk_cmd, "--disk", "/tmp/bench.img"], []),
        ("qemu-blk", qemu + ["-append", blk_cmd, "-drive", "file=/tmp/bench.img,format=raw,if=none,id=d0",
                             "-device", "virtio-blk-pci,drive=d0,romfile="], env),
        ("kvmbox-net", ours + ["--cmdline", net_cmd, "--net", "bridge=kvbr0"], []),
        ("qemu-net", qemu + ["-append", net_cmd, "-netdev", "tap,id=n0,ifname=qtap0,script=no,downscript=no",
                             "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57,romfile="], env),
    ]
    if args.only:
        vmms = [v for v in vmms if v[0].endswith("-" + args.only)]
    conf_path = vb.write_conf("iobench", ["runs %d" % args.runs, "timeout %d" % args.timeout, "mb %d" % args.mb],
                              vmms)
    return vb.bench_image("iobench", driver, conf_path, guest_initrd, qemu_files)


def main(argv):
    import argparse
    install_signal_handlers()
    ap = argparse.ArgumentParser(description="kvmbox vmm vs QEMU: virtio-blk and virtio-net throughput")
    ap.add_argument("--runs", type=int, default=5, help="trials per VMM (default 5)")
    ap.add_argument("--mb", type=int, default=64, help="MiB per sequential phase and per TCP send (default 64)")
    ap.add_argument("--ops", type=int, default=4000, help="random 4 KiB reads (default 4000)")
    ap.add_argument("--only", choices=("blk", "net"), help="run only the blk or the net VMs")
    ap.add_argument("--timeout", type=int, default=300, help="seconds before a trial is killed (default 300)")
    args = ap.parse_args(argv[1:])
    t0 = time.monotonic()
    vb.preflight()
    image = build_image(args)
    results, failed = vb.run_io_driver(image, "iobench", 4 * args.runs, args.timeout)

    def med(vmm, phase, key):
        xs = [float(r[key]) for r in results if r["vmm"] == vmm and r["phase"] == phase]
        return statistics.median(xs) if xs else None

    print()
    print("virtio I/O, 1 vCPU, %d MiB guest, nested KVM in TCG (median of %d runs)" % (GUEST_MIB, args.runs))
    print("%-26s %-7s %12s %12s %7s %15s %15s" % ("phase", "unit", "kvmbox", "QEMU", "ratio",
                                                 "dev CPU s/GB k", "dev CPU s/GB Q"))
    for phase, label, unit in PHASES:
        kind = "net" if phase == "tcpsend" else "blk"
        row = {}
        for who in ("kvmbox", "qemu"):
            name = "%s-%s" % (who, kind)
            secs, nbytes, ops = med(name, phase, "secs"), med(name, phase, "bytes"), med(name, phase, "ops")
            cpu, vcpu = med(name, phase, "cpu"), med(name, phase, "vcpu")
            rate = None
            if secs and nbytes:
                rate = ops / secs if unit == "IOPS" else nbytes / secs / 1e6
            dev = (cpu - vcpu) / (nbytes / 1e9) if cpu is not None and nbytes else None
            row[who] = (rate, dev)
        k, qm = row["kvmbox"], row["qemu"]
        ratio = "%.2fx" % (k[0] / qm[0]) if k[0] and qm[0] else "-"
        print("%-26s %-7s %12s %12s %7s %15s %15s" % (label, unit, vb.fmt(k[0], ".1f"), vb.fmt(qm[0], ".1f"), ratio,
                                                     vb.fmt(k[1], ".2f"), vb.fmt(qm[1], ".2f")))
    print("  ratio: kvmbox/QEMU throughput (higher is better). dev CPU: the VMM's CPU seconds per GB moved,")
    print("  vCPU threads left out (k = kvmbox, Q = QEMU; lower is better).")
    print("# whole benchmark %.0f s" % (time.monotonic() - t0))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
