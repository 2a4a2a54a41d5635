#!/usr/bin/python3
"""User-mode networking: kvmbox usernet next to QEMU's -netdev user (libslirp)
and kvmbox's tap backend, in one appliance boot (issue 8's benchmark).

    tests/bench/net_bench.py [--runs N] [--mb N] [--conns N] [--timeout S] [--only user,slirp,tap]

The image is io_bench.py's (tests/bench/vm_bench.py's helpers): the
appliance's files, Debian's QEMU with its libraries, the guest kernel, a guest
initramfs whose /init is tests/bench/vm/io_guest.c, and the driver
tests/bench/iobench.c as PID 1 (started as /netbench, so it reads
/netbench.conf). The outer machine runs under TCG; the VMMs inside use nested
KVM, one at a time, round-robin, each with 1 vCPU, 256 MiB, a virtio-net NIC
and the same guest:

  kvmbox-user   kvmbox vmm --net user (usernet, lwip in the VMM)
  qemu-slirp    QEMU -netdev user (libslirp) + virtio-net-pci
  kvmbox-tap    kvmbox vmm --net bridge=kvbr0 (its own tap in the bridge)

Behind both NATs the guest is 10.0.2.15/24 (set statically: the address
both DHCP servers would hand out) and connects to the gateway 10.0.2.2,
which both map to the appliance's 127.0.0.1; on the tap it is 10.0.3.2 and
connects to 10.0.3.1 (kvbr0). The receiver listens on port 5001 of all the
appliance's addresses. Phases:

  tcpsend   MB MiB guest -> appliance on one connection; ends when the
            receiver has acknowledged the byte count (MB/s)
  tcpconn   CONNS connections one after another: connect, shutdown(SHUT_WR),
            the receiver's 8-byte answer read, close (connections/s)

"VMM CPU" is the VMM process's CPU time over the phase without its vCPU
threads, per GB (tcpsend) or per 1000 connections (tcpconn). Prints a table
of medians and the ratio usernet/slirp. Logs: out/tests/bench/netbench.*.log.
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
VMMS = [("kvmbox-user", "kvmbox usernet"), ("qemu-slirp", "QEMU slirp"), ("kvmbox-tap", "kvmbox tap")]


def build_image(args):
    os.makedirs(vb.WORK, exist_ok=True)
    driver = vb.build_static(os.path.join(HERE, "iobench.c"), os.path.join(vb.WORK, "netbench"))
    guest_init = vb.build_static(os.path.join(HERE, "vm", "io_guest.c"), os.path.join(vb.WORK, "net_guest"))
    guest_initrd = vb.mkcpio(["dir /dev 0755 0 0", "nod /dev/console 0600 0 0 c 5 1", "dir /proc 0555 0 0",
                              "file /init %s 0755 0 0" % guest_init], "net-guest", gzip_level=9)
    qemu_files = vb.qemu_closure()
    libdirs = sorted({os.path.dirname(p) for p, _ in qemu_files[1:]})
    base = "console=ttyS0 quiet kvmbox.io=net kvmbox.mb=%d kvmbox.conns=%d" % (args.mb, args.conns)
    nat_cmd = base + " kvmbox.ip=10.0.2.15 kvmbox.dst=10.0.2.2"
    tap_cmd = base + " kvmbox.ip=10.0.3.2 kvmbox.dst=10.0.3.1"
    ours = ["/bin/kvmbox", "vmm", "--kernel", "/bench/bzImage", "--initrd", "/bench/guest.cpio.gz",
            "--mem", "%dM" % GUEST_MIB, "--cpus", "1", "--serial", "stdio", "--no-rng", "--no-hvc"]
    qemu = [vb.PEER_QEMU, "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot", "-m", str(GUEST_MIB),
            "-smp", "1", "-accel", "kvm", "-cpu", "host", "-M", "pc", "-name", "bench,debug-threads=on",
            "-kernel", "/bench/bzImage", "-initrd", "/bench/guest.cpio.gz"]
    env = ["LD_LIBRARY_PATH=" + ":".join(libdirs)]
    vmms = [
        ("kvmbox-user", ours + ["--cmdline", nat_cmd, "--net", "user"], []),
        ("qemu-slirp", qemu + ["-append", nat_cmd, "-netdev", "user,id=n0",
                               "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57,romfile="], env),
        ("kvmbox-tap", ours + ["--cmdline", tap_cmd, "--net", "bridge=kvbr0"], []),
    ]
    if args.only:
        vmms = [v for v in vmms if v[0].split("-")[1] in args.only.split(",")]
    # mb 1: iobench.c's tmpfs disk file, which no VMM here opens.
    conf_path = vb.write_conf("netbench", ["runs %d" % args.runs, "timeout %d" % args.timeout, "mb 1"], vmms)
    return vb.bench_image("netbench", driver, conf_path, guest_initrd, qemu_files)


def main(argv):
    import argparse
    install_signal_handlers()
    ap = argparse.ArgumentParser(description="kvmbox usernet vs QEMU slirp vs kvmbox tap: TCP throughput, setup rate")
    ap.add_argument("--runs", type=int, default=5, help="trials per backend (default 5)")
    ap.add_argument("--mb", type=int, default=64, help="MiB of the TCP send (default 64)")
    ap.add_argument("--conns", type=int, default=500, help="sequential connections (default 500)")
    ap.add_argument("--only", help="some of user,slirp,tap, comma-separated (default: all three)")
    # A trial takes about 30 s; nested in TCG a guest's timers sometimes stop
    # firing and its trial never ends, so such a trial is cut short.
    ap.add_argument("--timeout", type=int, default=75, help="seconds before a trial is killed (default 75)")
    args = ap.parse_args(argv[1:])
    t0 = time.monotonic()
    vb.preflight()
    image = build_image(args)
    results, failed = vb.run_io_driver(image, "netbench", len(VMMS) * args.runs, args.timeout)

    def med(vmm, phase, fn):
        xs = [fn(r) for r in results if r["vmm"] == vmm and r["phase"] == phase and float(r["secs"]) > 0]
        return (statistics.median(xs), len(xs)) if xs else (None, 0)

    phases = [("tcpsend", "TCP guest->appliance", "MB/s",
               lambda r: float(r["bytes"]) / float(r["secs"]) / 1e6,
               lambda r: (float(r["cpu"]) - float(r["vcpu"])) / (float(r["bytes"]) / 1e9) if float(r["bytes"])
               else float("nan"), "s/GB"),
              ("tcpconn", "TCP connection setup", "conn/s",
               lambda r: float(r["ops"]) / float(r["secs"]),
               lambda r: (float(r["cpu"]) - float(r["vcpu"])) / (float(r["ops"]) / 1000.0), "s/1k")]
    print()
    print("user-mode networking, virtio-net, 1 vCPU, %d MiB guest, nested KVM in TCG (median of %d runs; "
          "%d MiB send, %d connections)" % (GUEST_MIB, args.runs, args.mb, args.conns))
    print("%-22s %-7s %15s %12s %12s %14s" % ("phase", "unit", "kvmbox usernet", "QEMU slirp", "kvmbox tap",
                                             "usernet/slirp"))
    cpu_rows = []
    for phase, label, unit, rate_fn, cpu_fn, cpu_unit in phases:
        rates = {v: med(v, phase, rate_fn) for v, _ in VMMS}
        cpus = {v: med(v, phase, cpu_fn) for v, _ in VMMS}
        u, s = rates["kvmbox-user"][0], rates["qemu-slirp"][0]
        ratio = "%.2fx" % (u / s) if u and s else "-"
        print("%-22s %-7s %15s %12s %12s %14s" % (label, unit, vb.fmt(u, ".1f"), vb.fmt(s, ".1f"),
                                                 vb.fmt(rates["kvmbox-tap"][0], ".1f"), ratio))
        cu, cs = cpus["kvmbox-user"][0], cpus["qemu-slirp"][0]
        cpu_rows.append(("  VMM CPU, " + phase, cpu_unit, cu, cs, cpus["kvmbox-tap"][0],
                         "%.2fx" % (cu / cs) if cu and cs else "-"))
        short = [v for v, _ in VMMS if rates[v][1] < args.runs]
        if short:
            print("  (%s: fewer than %d good trials of %s)" % (", ".join(short), args.runs, phase))
    for label, unit, cu, cs, ct, ratio in cpu_rows:
        print("%-22s %-7s %15s %12s %12s %14s" % (label, unit, vb.fmt(cu, ".2f"), vb.fmt(cs, ".2f"),
                                                 vb.fmt(ct, ".2f"), ratio))
    print("  usernet/slirp: higher is better for MB/s and conn/s, lower for VMM CPU (the VMM process's CPU")
    print("  time over the phase, vCPU threads left out, per GB sent or per 1000 connections).")
    print("# whole benchmark %.0f s" % (time.monotonic() - t0))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
