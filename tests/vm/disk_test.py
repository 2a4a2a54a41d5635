#!/usr/bin/python3
"""virtio-blk and the virtio console of `kvmbox vmm`, in the appliance.

Boots the test-only initramfs (tests/vm/disk.list) under TCG three times,
with rdinit=/disk_test (tests/vm/disk_test.c) and two raw disks made here,
disk-a.img (96 MiB) and disk-b.img (16 MiB), which the appliance sees as
/dev/vda and /dev/vdb and its VMs use as backing:

  write  a VM makes ext4 on /dev/vda and writes /pattern; here, debugfs
         takes /pattern out of disk-a.img and its sha256 must be that of the
         pattern regenerated here (tests/vm/guest_disk.c defines it)
  read   the same disk read-only: the VM reads the pattern back and sees
         the disk read-only (disk-a.img must not change); serial, block size,
         discard, BLKZEROOUT, hvc0 and hwrng on a /tmp image; the image
         lock; --no-hvc
  crash  a VM writes flushed records to /dev/vdb; once the driver prints
         "crash-flushed N", QEMU is killed at once (a power cut for the
         appliance) and records 0..N must all be in disk-b.img

Relays the ok / not ok lines of the driver and adds its own. Arguments
pick boots (write, read, crash; all three by default); read needs the
disk-a.img that write left.
"""

import hashlib
import os
import re
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))
WORK = os.path.join(OUT, "tests", "vm")
DISK_A = os.path.join(WORK, "disk-a.img")
DISK_B = os.path.join(WORK, "disk-b.img")

# The pattern and the crash records, as tests/vm/guest_disk.c writes them.
PATTERN_SEED = 0x9E3779B97F4A7C15
PATTERN_BYTES = 64 << 20
RECORD = 4096
M64 = (1 << 64) - 1

RESULT = re.compile(r"^(ok |not ok |disk_test: |crash-flushed |\[)")


def ok(name, cond, why=""):
    print(("ok %s" % name) if cond else ("not ok %s: %s" % (name, why)), flush=True)
    return bool(cond)


def xorshift_words(x, n):
    """The next n words of the stream from state x: (words, new state)."""
    words = [0] * n
    for i in range(n):
        x ^= (x << 13) & M64
        x ^= x >> 7
        x ^= (x << 17) & M64
        words[i] = x
    return words, x


def pattern_sha256():
    h = hashlib.sha256()
    x = PATTERN_SEED
    per = 8192
    for _ in range(PATTERN_BYTES // (8 * per)):
        words, x = xorshift_words(x, per)
        h.update(struct.pack("<%dQ" % per, *words))
    return h.hexdigest()


def record(i):
    words, _ = xorshift_words(((i + 1) * PATTERN_SEED) & M64, (RECORD - 16) // 8)
    return b"KVMBCRSH" + struct.pack("<Q", i) + struct.pack("<%dQ" % len(words), *words)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_disk(path, size):
    if os.path.exists(path):
        os.unlink(path)
    with open(path, "wb") as f:
        f.truncate(size)


def relay(out):
    """Print the driver's ok / not ok lines, each with the lines of its
    message that follow it (the guest's output, indented)."""
    results = []
    lines = out.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not re.match(r"^(not )?ok ", line):
            continue
        print(line, flush=True)
        results.append(line)
        if line.startswith("not ok"):
            while i < len(lines) and lines[i] and not RESULT.match(lines[i]):
                print("    # " + lines[i], flush=True)
                i += 1
    return results


def boot(mode, until, timeout, kill=False):
    """Boot the appliance with kvmbox.disktest=MODE and wait for UNTIL (a
    regex). Returns (output, QEMU's exit status or None when killed, the
    match or None, seconds)."""
    args = ["-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "1024", "-accel", "tcg",
            "-display", "none", "-no-reboot", "-nic", "none",
            "-kernel", os.path.join(OUT, "kernel", "bzImage"),
            "-initrd", os.path.join(OUT, "tests", "vm", "disk.cpio.gz"),
            "-append", "console=ttyS0,115200 quiet rdinit=/disk_test kvmbox.disktest=" + mode,
            "-drive", "file=%s,format=raw,if=virtio,cache=writeback" % DISK_A,
            "-drive", "file=%s,format=raw,if=virtio,cache=writeback" % DISK_B]
    status = None
    m = None
    out = ""
    t0 = time.monotonic()
    try:
        with Qemu(args, name="disk-" + mode, logdir=WORK, watchdog_s=timeout + 120) as q:
            try:
                m = q.wait_for(until, timeout=timeout)
                if kill:
                    q.kill()  # the power cut: SIGKILL, nothing flushed
                else:
                    status = q.wait_exit(timeout=90)
            except QemuError as e:
                print("not ok blk-boot-%s: %s" % (mode, e), flush=True)
            out = q.output().replace("\r", "")
    except QemuError as e:
        print("not ok blk-boot-%s: %s" % (mode, e), flush=True)
    took = time.monotonic() - t0
    print("# boot %s: %.1f s" % (mode, took), flush=True)
    return out, status, m, took


FINISHED = r"^disk_test: finished, \d+ failed.*$"


def boot_write():
    """Boot 1: ext4 and the pattern, written by a VM; checked on the host."""
    good = True
    out, status, m, _ = boot("write", FINISHED, 900)
    results = relay(out)
    good &= bool(results) and not any(r.startswith("not ok") for r in results)
    good &= ok("blk-boot-write-poweroff", m and status == 0, "QEMU exit status %s" % status)
    dumped = os.path.join(WORK, "disk-pattern.out")
    if os.path.exists(dumped):
        os.unlink(dumped)
    r = subprocess.run(["debugfs", "-R", "dump /pattern %s" % dumped, DISK_A],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    size = os.path.getsize(dumped) if os.path.exists(dumped) else -1
    got = sha256_file(dumped) if size >= 0 else None
    want = pattern_sha256()
    good &= ok("blk-write-host-checksum", got == want and size == PATTERN_BYTES,
               "debugfs status %d, /pattern is %d bytes, sha256 %s, want %s; debugfs said: %s"
               % (r.returncode, size, got, want, r.stdout.strip()[-500:]))
    if os.path.exists(dumped):
        os.unlink(dumped)
    r = subprocess.run(["e2fsck", "-f", "-n", DISK_A], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    good &= ok("blk-write-host-fsck", r.returncode == 0,
               "e2fsck -fn status %d: %s" % (r.returncode, r.stdout.strip()[-800:]))
    return good


def boot_read():
    """Boot 2: read-only, device settings, hvc0, hwrng, the image lock."""
    good = True
    before = sha256_file(DISK_A)
    out, status, m, _ = boot("read", FINISHED, 1000)
    results = relay(out)
    good &= bool(results) and not any(r.startswith("not ok") for r in results)
    good &= ok("blk-boot-read-poweroff", m and status == 0, "QEMU exit status %s" % status)
    good &= ok("blk-readonly-host-image-unchanged", sha256_file(DISK_A) == before,
               "disk-a.img changed while only read-only VMs used it")
    return good


def boot_crash():
    """Boot 3: flushed records survive a power cut of the appliance."""
    good = True
    out, status, m, _ = boot("crash", r"^crash-flushed (-?\d+)\s*$", 700, kill=True)
    results = relay(out)
    good &= bool(results) and not any(r.startswith("not ok") for r in results)
    last = int(m.group(1)) if m else -1
    bad = []
    beyond = 0
    with open(DISK_B, "rb") as f:
        disk = f.read()
    for i in range(max(last + 1, 0)):
        if disk[i * RECORD:(i + 1) * RECORD] != record(i):
            got = disk[i * RECORD:i * RECORD + 16]
            bad.append("%d (starts %s)" % (i, got.hex()))
    i = last + 1
    while last >= 0 and (i + 1) * RECORD <= len(disk) and disk[i * RECORD:(i + 1) * RECORD] == record(i):
        beyond += 1
        i += 1
    print("# crash: records 0..%d flushed, %d more found on the disk" % (last, beyond), flush=True)
    good &= ok("blk-crash-flushed-records-survive", last >= 32 and not bad,
               "last flushed record %d; %d bad or missing: %s" % (last, len(bad), ", ".join(bad[:8])))
    return good


def main():
    install_signal_handlers()
    os.makedirs(WORK, exist_ok=True)
    boots = sys.argv[1:] or ["write", "read", "crash"]
    if any(b not in ("write", "read", "crash") for b in boots):
        sys.exit("usage: disk_test.py [write] [read] [crash]")
    good = True
    # Every boot attaches both disks, so both must exist whatever runs first.
    make_disk(DISK_B, 16 << 20)
    if "write" in boots or not os.path.exists(DISK_A):
        make_disk(DISK_A, 96 << 20)
    if "write" in boots:
        good &= boot_write()
    if "read" in boots:
        good &= boot_read()
    if "crash" in boots:
        make_disk(DISK_B, 16 << 20)
        good &= boot_crash()
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
