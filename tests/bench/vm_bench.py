#!/usr/bin/python3
"""`kvmbox vmm` next to QEMU, side by side in one appliance boot (issue 3, section 6).

    tests/bench/vm_bench.py [--runs N] [--warmup N] [--timeout S] [--hold MS] [--echo]
                            [--guest-cmdline TEXT] [--qemu-cpu MODEL]

Builds a benchmark-only initramfs: the appliance's files (/init is kvmbox,
also reachable as /bin/kvmbox), plus Debian's qemu-system-x86_64 with every
shared library ldd lists and the firmware it loads, the guest kernel (the
appliance's own bzImage) and a bench guest initramfs
(tests/bench/vm/bench_guest.c), and the driver tests/bench/vmbench.c as PID 1
(rdinit=/vmbench). The outer machine runs under TCG; the VMMs inside it use
nested KVM. The driver runs the VMMs round-robin, RUNS times each, and
measures from fork() of the VMM:

  to init   the guest's "KVMBOX-GUEST: init" line on the VMM's stdout
  to exit   the VMM's exit after the guest powers off, less the HOLD the
            guest sleeps before it powers off (the raw figure is in the log)
  overhead  while the guest sleeps: Rss of the VMM process minus the Rss of
            its guest RAM mapping (/proc/PID/smaps), in MiB; "peak" is VmHWM
            at that moment minus the same guest Rss. A sample whose guest
            RAM mapping the kernel merged with a neighbour (longer than
            128 MiB + 4 MiB) is left out: its overhead would read too low

Every VMM: 1 vCPU, 128 MiB, the same kernel, initrd and command line
("console=ttyS0 quiet kvmbox.hold=MS"). QEMU gets -accel kvm -cpu host
-nographic -nodefaults -serial stdio -no-reboot, with -M pc (SeaBIOS) and with
-M microvm,rtc=on (qboot). Sizes are measured here on the host: kvmbox's
static binary against QEMU's binary plus its shared libraries.

Prints the per-trial lines as they come, then a table with medians, the
ratios and the issue's targets. Logs: out/tests/bench/vmbench.*.log.
Exits 1 if the benchmark could not run or a VMM never completed a trial;
a missed target is reported, not an error.
"""

import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))
KERNEL = os.path.join(OUT, "kernel", "bzImage")
KVMBOX = os.path.join(OUT, "kvmbox")
MUSL_CC = os.path.join(OUT, "sysroot", "bin", "musl-gcc")
WORK = os.path.join(OUT, "tests", "bench")
APPLIANCE_LIST = os.path.join(ROOT, "initramfs", "files.list")
MKCPIO = os.path.join(ROOT, "initramfs", "mkcpio.py")
# The QEMU that goes into the image (the peer), not the one that runs it.
PEER_QEMU = os.environ.get("KVMBOX_BENCH_QEMU", "/usr/bin/qemu-system-x86_64")
# What Debian's QEMU 7.2 opens for -M pc and -M microvm with -kernel
# (found with strace): it looks in BINDIR/../share/qemu, then share/seabios.
FIRMWARE = [
    "/usr/share/seabios/bios-256k.bin",
    "/usr/share/qemu/kvmvapic.bin",
    "/usr/share/qemu/linuxboot.bin",
    "/usr/share/qemu/linuxboot_dma.bin",
    "/usr/share/qemu/qboot.rom",
    "/usr/share/qemu/bios-microvm.bin",
]

GUEST_MIB = 128
TARGET_TIME_RATIO = 0.6     # at most 0.6x QEMU pc's time to init
TARGET_OVERHEAD_MIB = 0.5   # VMM memory overhead
CFLAGS = ["-static", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE"]

# name in the driver's lines -> label in the table
LABELS = {"kvmbox": "kvmbox vmm", "qemu-pc": "qemu -M pc", "qemu-microvm": "qemu microvm"}


def die(msg):
    print("vm_bench: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode:
        die("%s failed (status %d):\n%s" % (" ".join(cmd), r.returncode, r.stdout))
    return r.stdout


def build_static(src, dst):
    run([MUSL_CC] + CFLAGS + [src, "-o", dst])
    return dst


def mkcpio(entries, name, env=None, gzip_level=None):
    """Write LIST and cpio from ENTRIES (list-file lines); returns the path."""
    lst = os.path.join(WORK, name + ".list")
    with open(lst, "w") as f:
        f.write("\n".join(entries) + "\n")
    cpio = os.path.join(WORK, name + ".cpio")
    run(["/usr/bin/python3", MKCPIO, lst, cpio], env=dict(os.environ, **(env or {})))
    if gzip_level is None:
        return cpio
    run(["gzip", "-%d" % gzip_level, "-n", "-f", cpio])
    return cpio + ".gz"


def qemu_closure():
    """QEMU's binary and shared libraries (with the dynamic loader), as ldd
    names them: [(path in the image, real file here)]."""
    text = run(["ldd", PEER_QEMU])
    files = [PEER_QEMU]
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"\S+ => (/\S+) \(", line) or re.match(r"(/\S+) \(", line)
        if m:
            files.append(m.group(1))
        elif "=>" in line and "not found" in line:
            die("QEMU needs a library that is missing here: " + line)
    seen, out = set(), []
    for p in files:
        if p not in seen:
            seen.add(p)
            out.append((p, os.path.realpath(p)))
    return out


def parents(path):
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def write_conf(name, settings, vmms):
    """WORK/NAME.conf for a bench driver: the settings lines, then each VMM
    (NAME, ARGV, ENV[, MORE]) as "vmm NAME", its "arg" and "env" lines and
    the MORE lines as they are; returns the path."""
    conf = ["# made by tests/bench/%s" % os.path.basename(sys.argv[0])] + settings
    for vmm, argv, env, *more in vmms:
        conf.append("vmm " + vmm)
        conf += ["arg " + a for a in argv]
        conf += ["env " + e for e in env]
        conf += more[0] if more else []  # other lines of that VMM ("stats ...")
    path = os.path.join(WORK, name + ".conf")
    with open(path, "w") as f:
        f.write("\n".join(conf) + "\n")
    return path


def bench_image(name, driver, conf_path, guest_initrd, qemu_files):
    """The bench initramfs NAME.cpio (uncompressed): the appliance's own list
    as it is, then the driver as /NAME (booted with rdinit=/NAME) and
    /NAME.conf, the guest kernel and initramfs under /bench, /bin/kvmbox,
    and QEMU with its libraries and firmware. Returns its path."""
    entries, dirs = [], set()
    with open(APPLIANCE_LIST) as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            entries.append(line.rstrip("\n"))
            if words[0] == "dir":
                dirs.add(words[1].rstrip("/"))

    def add_dirs(dest):
        for d in parents(dest):
            if d not in dirs:
                dirs.add(d)
                entries.append("dir %s 0755 0 0" % d)

    def add_file(dest, src, mode="0755"):
        add_dirs(dest)
        entries.append("file %s %s %s 0 0" % (dest, src, mode))

    add_file("/" + name, driver)
    add_file("/%s.conf" % name, conf_path, "0644")
    add_file("/bench/bzImage", KERNEL, "0644")
    add_file("/bench/guest.cpio.gz", guest_initrd, "0644")
    add_dirs("/bin/kvmbox")
    entries.append("slink /bin/kvmbox /init 0777 0 0")
    for dest, src in qemu_files:
        add_file(dest, src)
    for p in FIRMWARE:
        add_file(p, os.path.realpath(p), "0644")
    return mkcpio(entries, name, env={"KVMBOX_BIN": KVMBOX})


def build_image(args):
    """The bench initramfs (uncompressed cpio); returns (path, qemu files)."""
    os.makedirs(WORK, exist_ok=True)
    vmbench = build_static(os.path.join(HERE, "vmbench.c"), os.path.join(WORK, "vmbench"))
    guest_init = build_static(os.path.join(HERE, "vm", "bench_guest.c"), os.path.join(WORK, "bench_guest"))
    guest_initrd = mkcpio(["dir /dev 0755 0 0", "nod /dev/console 0600 0 0 c 5 1", "dir /proc 0555 0 0",
                           "file /init %s 0755 0 0" % guest_init], "bench-guest", gzip_level=9)

    qemu_files = qemu_closure()
    missing = [p for p in FIRMWARE if not os.path.exists(p)]
    if missing:
        die("QEMU firmware missing here: " + " ".join(missing))
    libdirs = sorted({os.path.dirname(p) for p, _ in qemu_files[1:]})

    cmdline = "%s kvmbox.hold=%d" % (args.guest_cmdline, args.hold)
    guest = ["-kernel", "/bench/bzImage", "-initrd", "/bench/guest.cpio.gz", "-append", cmdline]
    qemu_common = ["-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot", "-m", str(GUEST_MIB),
                   "-smp", "1", "-accel", "kvm"] + (["-cpu", args.qemu_cpu] if args.qemu_cpu else [])
    vmms = [
        ("kvmbox", ["/bin/kvmbox", "vmm", "--kernel", "/bench/bzImage", "--initrd", "/bench/guest.cpio.gz",
                    "--cmdline", cmdline, "--mem", "%dM" % GUEST_MIB, "--cpus", "1", "--serial", "stdio"], []),
        ("qemu-pc", [PEER_QEMU] + qemu_common + ["-M", "pc"] + guest,
         ["LD_LIBRARY_PATH=" + ":".join(libdirs)]),
        ("qemu-microvm", [PEER_QEMU] + qemu_common + ["-M", "microvm,rtc=on"] + guest,
         ["LD_LIBRARY_PATH=" + ":".join(libdirs)]),
    ]
    conf_path = write_conf("vmbench", ["runs %d" % args.runs, "warmup %d" % args.warmup,
                                       "timeout %d" % args.timeout, "guest_mib %d" % GUEST_MIB,
                                       "echo %d" % args.echo], vmms)
    image = bench_image("vmbench", vmbench, conf_path, guest_initrd, qemu_files)
    return image, qemu_files


def preflight():
    """Stop early, with the reason, when something a benchmark image needs
    is not built; print which QEMU is the peer."""
    for path in (KERNEL, KVMBOX, MUSL_CC, PEER_QEMU):
        if not os.path.exists(path):
            die("%s is missing" % path)
    print("# peer: %s (%s)" % (PEER_QEMU, run([PEER_QEMU, "--version"]).splitlines()[0]), flush=True)


def relay(q, prefix, kinds, timeout, on_line):
    """Follow a bench driver's lines "PREFIX KIND ..." (KIND one of kinds, or
    end or error) on the outer QEMU q's console, calling on_line(line) for
    each, up to PREFIX end or PREFIX error. Returns True after an error
    line. Raises QemuError when QEMU or the wait fails."""
    pos = 0
    rx = r"^%s (%s).*$" % (prefix, "|".join(list(kinds) + ["end", "error"]))
    while True:
        m = q.wait_for(rx, timeout=timeout, fail=r"Kernel panic.*", start=pos)
        pos += m.end()
        line = m.group(0).rstrip("\r")
        on_line(line)
        if line.startswith(prefix + " error"):
            return True
        if line.startswith(prefix + " end"):
            return False


def run_io_driver(image, name, ntrials, timeout):
    """Boot IMAGE under TCG with tests/bench/iobench.c as PID 1 (as /NAME),
    relay its lines, and return (results, failed): its "IOBENCH result" lines
    as dicts, and whether it failed or a trial did. For io_bench.py and
    net_bench.py, whose images differ only in their VMMs."""
    outer = ["-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "3072", "-accel", "tcg",
             "-display", "none", "-no-reboot", "-nic", "none",
             "-kernel", KERNEL, "-initrd", image,
             "-append", "console=ttyS0,115200 quiet rdinit=/%s" % name]
    results, fails = [], []

    def on_line(line):
        print(line, flush=True)
        if line.startswith("IOBENCH result"):
            results.append(parse_kv(line))
        if line.startswith("IOBENCH fail"):
            fails.append(line)
    failed = False
    with Qemu(outer, name=name, logdir=WORK, watchdog_s=300 + ntrials * (timeout + 10)) as q:
        try:
            q.wait_for(r"^IOBENCH start.*$", timeout=300, fail=r"Kernel panic|IOBENCH error.*")
            failed = relay(q, "IOBENCH", ["result", "fail", "tail"], timeout + 60, on_line) or bool(fails)
            q.wait_exit(timeout=60)
        except QemuError as e:
            print("%s: %s" % (name, e), file=sys.stderr, flush=True)
            failed = True
    return results, failed


def parse_kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def table(trials, sizes, runs):
    rows = {}
    for name in LABELS:
        ok = [t for t in trials if t["vmm"] == name and t["ok"] == "1"]
        n = len([t for t in trials if t["vmm"] == name])
        init = median([float(t["init"]) for t in ok])
        # The guest sleeps between "hold" and "done": not part of boot or poweroff.
        exit_ = median([float(t["exit"]) - (float(t["done"]) - float(t["hold"])) for t in ok])
        # A guest RAM mapping merged with a neighbour hides part of the
        # overhead (vmbench.c, mem_exact): leave those samples out.
        mem = [t for t in ok if t.get("mem_exact") == "1"]
        ov = median([int(t["overhead_kb"]) / 1024 for t in mem])
        peak = median([(int(t["hwm_kb"]) - int(t["guest_kb"])) / 1024 for t in mem])
        guest = median([int(t["guest_kb"]) / 1024 for t in mem])
        rows[name] = dict(ok=len(ok), n=n, nmem=len(mem), init=init, exit=exit_, ov=ov, peak=peak, guest=guest)

    print()
    print("VMM boot, 1 vCPU, %d MiB, nested KVM in TCG (median of %d runs, seconds)" % (GUEST_MIB, runs))
    print("%-14s %8s %8s %13s %9s %10s %10s  %s" % ("vmm", "to init", "to exit", "overhead MiB", "peak MiB",
                                                   "guest MiB", "binary", "runs ok (memory)"))
    for name, label in LABELS.items():
        r = rows[name]
        print("%-14s %8s %8s %13s %9s %10s %10s  %d/%d (%d)" % (
            label, fmt(r["init"], ".2f"), fmt(r["exit"], ".2f"), fmt(r["ov"], ".2f"), fmt(r["peak"], ".2f"),
            fmt(r["guest"], ".1f"), sizes[name], r["ok"], r["n"], r["nmem"]))
    print("  to exit: VMM start to VMM exit, less the guest's sleep before power-off.")
    print("  overhead: VMM Rss minus its guest RAM mapping's Rss, while the guest sleeps; peak: VmHWM minus")
    print("  the same; guest: guest RAM resident. binary: kvmbox static; QEMU binary + shared libraries.")

    ours = rows["kvmbox"]
    for peer in ("qemu-pc", "qemu-microvm"):
        p = rows[peer]
        parts = []
        for key, what in (("init", "to init"), ("exit", "to exit"), ("ov", "overhead")):
            if ours[key] is not None and p[key]:
                parts.append("%s %.2fx" % (what, ours[key] / p[key]))
            else:
                parts.append("%s -" % what)
        print("ratio kvmbox/%s: %s" % (peer, ", ".join(parts)))
    res = []
    if ours["init"] is not None and rows["qemu-pc"]["init"]:
        ratio = ours["init"] / rows["qemu-pc"]["init"]
        res.append("target time to init <= %.1fx QEMU pc: %.2fx, %s"
                   % (TARGET_TIME_RATIO, ratio, "MET" if ratio <= TARGET_TIME_RATIO else "NOT MET"))
    else:
        res.append("target time to init <= %.1fx QEMU pc: no figure" % TARGET_TIME_RATIO)
    if ours["ov"] is not None:
        res.append("target memory overhead <= %.1f MiB: %.2f MiB, %s"
                   % (TARGET_OVERHEAD_MIB, ours["ov"], "MET" if ours["ov"] <= TARGET_OVERHEAD_MIB else "NOT MET"))
    else:
        res.append("target memory overhead <= %.1f MiB: no figure" % TARGET_OVERHEAD_MIB)
    for line in res:
        print(line)
    return rows


def size_figures(qemu_files):
    kv = os.path.getsize(KVMBOX)
    qbin = os.path.getsize(os.path.realpath(PEER_QEMU))
    libs = sum(os.path.getsize(src) for _, src in qemu_files[1:])
    fw = sum(os.path.getsize(os.path.realpath(p)) for p in set(map(os.path.realpath, FIRMWARE)))
    print("size kvmbox %d bytes (%.2f MiB, static)" % (kv, kv / 1048576))
    print("size qemu %d bytes binary + %d bytes in %d shared libraries = %.1f MiB (+ %d KiB firmware)"
          % (qbin, libs, len(qemu_files) - 1, (qbin + libs) / 1048576, fw // 1024))
    q = "%.1f MiB" % ((qbin + libs) / 1048576)
    return {"kvmbox": "%.2f MiB" % (kv / 1048576), "qemu-pc": q, "qemu-microvm": q}


def short(t):
    """One line for a trial as it completes."""
    if t["ok"] != "1":
        return "trial %-7s %-13s FAILED (%s, init %s)" % (t.get("round"), t.get("vmm"), t.get("status"),
                                                         t.get("init"))
    return "trial %-7s %-13s init %6.2f s  exit %6.2f s  overhead %6.2f MiB%s" % (
        t["round"], t["vmm"], float(t["init"]), float(t["exit"]) - (float(t["done"]) - float(t["hold"])),
        int(t["overhead_kb"]) / 1024, "" if t.get("mem_exact") == "1" else " (mapping merged: not used)")


def main(argv):
    import argparse
    install_signal_handlers()
    ap = argparse.ArgumentParser(description="kvmbox vmm vs QEMU, nested KVM in the TCG appliance")
    ap.add_argument("--runs", type=int, default=7, help="trials per VMM (default 7)")
    ap.add_argument("--warmup", type=int, default=0, help="unrecorded rounds first (default 0)")
    ap.add_argument("--timeout", type=int, default=90, help="seconds before a trial is killed (default 90)")
    ap.add_argument("--hold", type=int, default=1000, help="ms the guest sleeps before power-off (default 1000)")
    ap.add_argument("--echo", action="store_true", help="print every line the VMMs print, timed")
    ap.add_argument("--qemu-cpu", default="host",
                    help="QEMU's -cpu (default host, as kvmbox passes CPUID through; '' leaves it out)")
    ap.add_argument("--guest-cmdline", default="console=ttyS0 quiet",
                    help="the guest's command line, less kvmbox.hold (default: console=ttyS0 quiet)")
    args = ap.parse_args(argv[1:])
    if not 1 <= args.runs <= 32 or not 0 <= args.warmup <= 3 or args.timeout < 10:
        ap.error("bad --runs, --warmup or --timeout")

    t_start = time.monotonic()
    for path, what in ((KERNEL, "the kernel (make kernel)"), (KVMBOX, "kvmbox (make kvmbox)"),
                       (MUSL_CC, "musl-gcc (the sysroot)"), (PEER_QEMU, "QEMU, the peer")):
        if not os.path.exists(path):
            die("%s is missing: %s" % (path, what))
    load = os.getloadavg()
    print("# host: %d CPUs, load average %.2f %.2f %.2f; one appliance boot under TCG, VMMs in nested KVM"
          % (os.cpu_count(), load[0], load[1], load[2]), flush=True)
    ver = run([PEER_QEMU, "--version"]).splitlines()[0]
    print("# peer: %s (%s)" % (PEER_QEMU, ver), flush=True)
    image, qemu_files = build_image(args)
    print("# image %s: %.1f MiB uncompressed, built in %.1f s"
          % (os.path.relpath(image, ROOT), os.path.getsize(image) / 1048576, time.monotonic() - t_start),
          flush=True)

    trials_n = 3 * (args.runs + args.warmup)
    # Boot ~20 s; a trial is some seconds, but each may run to its timeout.
    watchdog = 240 + trials_n * (args.timeout + 5)
    outer = ["-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "3072", "-accel", "tcg",
             "-display", "none", "-no-reboot", "-nic", "none",
             "-kernel", KERNEL, "-initrd", image,
             "-append", "console=ttyS0,115200 quiet rdinit=/vmbench"]
    trials = []
    failed = False
    with Qemu(outer, name="vmbench", logdir=WORK, watchdog_s=watchdog) as q:
        try:
            q.wait_for(r"^VMBENCH start.*$", timeout=240, fail=r"Kernel panic|VMBENCH error.*")
            print("# appliance up after %.1f s" % q.elapsed(), flush=True)
            def on_line(line):
                if line.startswith("VMBENCH trial"):
                    t = parse_kv(line)
                    print(short(t), flush=True)
                    if t.get("round") != "warmup":
                        trials.append(t)
                elif not line.startswith("VMBENCH summary"):
                    print(line, flush=True)
            failed = relay(q, "VMBENCH", ["trial", "tail", "out", "vmm", "summary"], args.timeout + 60,
                           on_line) or failed
            q.wait_exit(timeout=60)
        except QemuError as e:
            print("vm_bench: %s" % e, file=sys.stderr, flush=True)
            failed = True
        outer_s = q.elapsed()

    sizes = size_figures(qemu_files)
    rows = table(trials, sizes, args.runs)
    print("# outer boot and trials %.0f s; whole benchmark %.0f s" % (outer_s, time.monotonic() - t_start))
    if any(rows[n]["ok"] == 0 for n in LABELS):
        print("vm_bench: a VMM completed no trial; see the lines above and %s"
              % os.path.relpath(os.path.join(WORK, "vmbench.serial.log"), ROOT), file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
