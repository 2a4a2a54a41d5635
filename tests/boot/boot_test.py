#!/usr/bin/python3
"""Boot kvmbox in QEMU, one test per boot path, and power it off cleanly.

    tests/boot/boot_test.py [PATH...]      default: uefi bios pxe direct

Paths:
  uefi      out/kvmbox.img on a USB stick, OVMF, systemd-boot
  bios      out/kvmbox.img on a USB stick, SeaBIOS, gptmbr + syslinux
  pxe       no disk; SeaBIOS, the NIC's iPXE ROM, DHCP and TFTP from QEMU's
            user network serving out/pxe/, which boots boot.ipxe; then the
            appliance's own DHCP client must get 10.0.2.15 on kvbr0 (the ready
            line's addr=), and its HTTPS port must answer through QEMU's
            forward from this host
  direct    QEMU -kernel/-initrd/-append with out/kernel/bzImage
  data-damaged  direct boot with a copy of kvmbox.img whose KVMBOX-DATA
            superblock is damaged: kvmbox must say why it cannot mount it
            and run on without persistence
  data-late direct boot with the disk image's kvmbox.datawait and no disk;
            once init says it is waiting, a USB stick holding a copy of
            kvmbox.img is plugged in over QMP: it must be found and mounted
            (a stick that enumerates after init starts)
  iso-uefi  out/kvmbox.iso as a CD, OVMF (not in the default set)
  iso-bios  out/kvmbox.iso as a CD, SeaBIOS, isolinux (not in the default set)

Every path runs under TCG (-cpu max -smp 1, which still gives the box
/dev/kvm), on q35 with an emulated Intel IOMMU and QEMU's edu device, like
the hardware the box is for. Each test waits for the "kvmbox ready" line,
checks kvm=yes in it, presses the ACPI power button over QMP, and checks
that QEMU exits with status 0 after "kvmbox: powering off" and the kernel's
"reboot: Power down".

Prints one line per test, "ok boot-PATH # ..." or "not ok boot-PATH: reason",
and exits 1 if any failed. Logs and the copies of the images the tests boot
(out/kvmbox.img itself is never written) are in out/tests/boot/.

Environment: KVMBOX_OUT (default out), KVMBOX_KERNEL, KVMBOX_INITRAMFS.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

# No __pycache__ folders in the source tree from importing our modules.
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))
KERNEL = os.environ.get("KVMBOX_KERNEL", os.path.join(OUT, "kernel", "bzImage"))
INITRAMFS = os.environ.get("KVMBOX_INITRAMFS", os.path.join(OUT, "initramfs.cpio.gz"))
IMG = os.path.join(OUT, "kvmbox.img")
ISO = os.path.join(OUT, "kvmbox.iso")
PXE = os.path.join(OUT, "pxe")
WORK = os.path.join(OUT, "tests", "boot")

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"

DEFAULT_PATHS = ["uefi", "bios", "pxe", "direct", "data-damaged", "data-late"]

# Under TCG a boot to ready takes tens of seconds; these leave room for a
# loaded machine (the notes measured 2x swings) without hiding a hang.
READY_TIMEOUT_S = 240
EXIT_TIMEOUT_S = 60
# The watchdog outlives both waits: it is for a harness that itself hangs.
WATCHDOG_S = READY_TIMEOUT_S + EXIT_TIMEOUT_S + 60

# data-late: how long init is told to wait. Long enough for a loaded TCG
# machine to enumerate a hot-plugged USB stick.
DATA_LATE_WAIT_S = 120
DATA_WAITING_RE = r"waiting up to [\d.]+ s for the KVMBOX-DATA partition"

# The ready line may carry PID 1's "[  2.583] " timestamp before it.
READY_RE = r"^(?:\[[ \d.]*\] )?kvmbox ready\b.*$"
# The kernel's first line: everything before it is firmware and loader.
KERNEL_RE = r"Linux version \d"
# A panic or a BIOS/UEFI loader that gives up ends the wait at once.
# Not anchored: SeaBIOS's screen, mirrored to serial, puts escape sequences
# before its words.
FAIL_RE = (r"Kernel panic - not syncing.*$|Boot failed: .*$|No bootable device.*$"
           r"|Could not boot.*$")


def cmdline():
    """The kernel command line of every boot path: written by image/image.mk
    to out/image/cmdline; read from image.mk itself before the first build."""
    try:
        with open(os.path.join(OUT, "image", "cmdline")) as f:
            return f.read().strip()
    except OSError:
        pass
    with open(os.path.join(ROOT, "image", "image.mk")) as f:
        m = re.search(r"^KVMBOX_CMDLINE\s*:?=\s*(.*)$", f.read(), re.MULTILINE)
    return m.group(1).strip()


def machine_args():
    """The emulated box: TCG, q35, Intel IOMMU with interrupt remapping
    (VFIO needs it), the edu device to pass through. -nodefaults: no VGA, no
    default NIC or CD, so each path adds exactly what it boots from."""
    return ["-nodefaults", "-display", "none", "-no-reboot",
            "-machine", "q35,kernel-irqchip=split", "-accel", "tcg",
            "-cpu", "max", "-smp", "1", "-m", "1G",
            "-device", "intel-iommu,intremap=on", "-device", "edu"]


def _seabios_serial():
    """SeaBIOS draws on VGA only, and these machines have none. Its
    etc/sercon-port setting (the port's I/O address, a little-endian
    integer) puts its screen, and that of the option ROMs and loaders it
    runs (iPXE, syslinux), on the serial port: "No bootable device" and
    iPXE's errors end up in the log and end the wait. QEMU warns that the
    name lacks "opt/"; SeaBIOS only reads this one."""
    path = os.path.join(WORK, "sercon-port.bin")
    with open(path, "wb") as f:
        f.write((0x3F8).to_bytes(2, "little"))
    return ["-fw_cfg", "name=etc/sercon-port,file=" + path]


def _copy(src, dst):
    # A private copy, so a test never writes to the built image.
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)


def _ovmf(name):
    vars_copy = os.path.join(WORK, name + ".OVMF_VARS.fd")
    shutil.copyfile(OVMF_VARS, vars_copy)
    return ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMF_CODE,
            "-drive", "if=pflash,format=raw,unit=1,file=" + vars_copy]


def _usb_stick(name):
    copy = os.path.join(WORK, name + ".img")
    _copy(IMG, copy)
    return ["-drive", "if=none,id=stick,format=raw,file=" + copy,
            "-device", "qemu-xhci,id=xhci",
            "-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0"]


def _cdrom():
    return ["-drive", "if=none,id=cd,media=cdrom,readonly=on,format=raw,file=" + ISO,
            "-device", "ide-cd,bus=ide.0,drive=cd,bootindex=0"]


def _data_partition(image):
    """First sector and sector count of partition 2 (KVMBOX-DATA)."""
    out = subprocess.run(["sgdisk", "-i", "2", image], check=True, capture_output=True, text=True).stdout
    first = int(re.search(r"First sector: (\d+)", out).group(1))
    last = int(re.search(r"Last sector: (\d+)", out).group(1))
    return first, last - first + 1


def data_log(image):
    """/log/kvmbox.log from the KVMBOX-DATA partition of a disk image, read
    with debugfs (no mount, no root): what the appliance left on disk."""
    first, count = _data_partition(image)
    part = image + ".data"
    with open(image, "rb") as src, open(part, "wb") as dst:
        src.seek(first * 512)
        left = count * 512
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                break
            dst.write(chunk)
            left -= len(chunk)
    out = subprocess.run(["debugfs", "-R", "cat /log/kvmbox.log", part], capture_output=True, text=True)
    os.unlink(part)
    return out.stdout


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The host port QEMU forwards to the appliance's 443 on the pxe path.
HTTPS_FWD = _free_port()


def https_answers(port, timeout):
    """The status line of GET /api/host over TLS through the forward, or
    None: proof that the appliance's address, bridge and server work. The
    certificate is self-signed, so it is not verified here."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw) as t:
                    t.sendall(b"GET /api/host HTTP/1.1\r\nHost: kvmbox\r\nConnection: close\r\n\r\n")
                    line = t.recv(200).split(b"\r\n")[0].decode("ascii", "replace")
                    if line.startswith("HTTP/1.1 "):
                        return line
        except (OSError, ssl.SSLError):
            pass
        time.sleep(1)
    return None


def path_args(name):
    """QEMU arguments (after machine_args()) for boot path NAME, and the
    files it needs."""
    if name == "uefi":
        return _ovmf(name) + _usb_stick(name), [IMG, OVMF_CODE, OVMF_VARS]
    if name == "bios":
        return _seabios_serial() + _usb_stick(name), [IMG]
    if name == "pxe":
        # QEMU's own DHCP and TFTP server hands out boot.ipxe; the e1000's
        # option ROM is iPXE, which runs the script.
        return _seabios_serial() + [
                "-netdev", "user,id=n0,tftp=%s,bootfile=boot.ipxe,hostfwd=tcp:127.0.0.1:%d-:443" % (PXE, HTTPS_FWD),
                "-device", "e1000,netdev=n0", "-boot", "n"], \
               [os.path.join(PXE, f) for f in ("boot.ipxe", "bzImage", "initramfs.cpio.gz")]
    if name == "direct":
        return ["-kernel", KERNEL, "-initrd", INITRAMFS, "-append", cmdline()], [KERNEL, INITRAMFS]
    if name == "data-damaged":
        copy = os.path.join(WORK, name + ".img")
        _copy(IMG, copy)
        first, _ = _data_partition(copy)
        with open(copy, "r+b") as f:
            # s_log_block_size, 24 bytes into the superblock: a block size
            # of 2^(10+0x40) bytes, which the kernel refuses to mount. The
            # magic and the label stay, so kvmbox finds the partition.
            f.seek(first * 512 + 1024 + 24)
            f.write((0x40).to_bytes(4, "little"))
        return ["-kernel", KERNEL, "-initrd", INITRAMFS, "-append", cmdline(),
                "-drive", "if=virtio,format=raw,file=" + copy], [KERNEL, INITRAMFS, IMG]
    if name == "data-late":
        _copy(IMG, os.path.join(WORK, name + ".img"))
        return ["-kernel", KERNEL, "-initrd", INITRAMFS,
                "-append", cmdline() + " kvmbox.datawait=%d" % DATA_LATE_WAIT_S,
                "-device", "qemu-xhci,id=xhci"], [KERNEL, INITRAMFS, IMG]
    if name == "iso-uefi":
        return _ovmf(name) + _cdrom(), [ISO, OVMF_CODE, OVMF_VARS]
    if name == "iso-bios":
        return _seabios_serial() + _cdrom(), [ISO]
    raise KeyError(name)


ALL_PATHS = DEFAULT_PATHS + ["iso-uefi", "iso-bios"]


def boot(name):
    """Boot path NAME to ready and power it off. Returns a dict: ok, reason
    (when not ok), ready_s (QEMU start to the ready line), ready_line,
    off_s (power button to QEMU's exit), kernel_s (QEMU start to the
    kernel's first line: firmware and loader time)."""
    r = {"name": name, "ok": False, "reason": None, "ready_s": None,
         "ready_line": None, "off_s": None, "kernel_s": None}
    os.makedirs(WORK, exist_ok=True)
    try:
        args, needs = path_args(name)
    except (OSError, subprocess.CalledProcessError) as e:
        r["reason"] = "cannot prepare: %s (run make image)" % e
        return r
    missing = [f for f in needs if not os.path.exists(f)]
    if missing:
        r["reason"] = "missing %s (run make image)" % ", ".join(missing)
        return r
    try:
        with Qemu(machine_args() + args, name=name, logdir=WORK, watchdog_s=WATCHDOG_S) as q:
            if name == "data-late":
                # Plug the stick in only once init is waiting for it; a
                # ready line first means init did not wait.
                q.wait_for(DATA_WAITING_RE, READY_TIMEOUT_S, fail=FAIL_RE + "|" + READY_RE)
                q.qmp("blockdev-add", driver="raw", **{"node-name": "late"},
                      file={"driver": "file", "filename": os.path.join(WORK, name + ".img")})
                q.qmp("device_add", driver="usb-storage", bus="xhci.0", drive="late", id="late-stick")
            m = q.wait_for(READY_RE, READY_TIMEOUT_S, fail=FAIL_RE)
            r["ready_s"] = q.elapsed()
            r["ready_line"] = m.group(0).strip()
            r["kernel_s"] = q.time_of(KERNEL_RE)
            problems = []
            if not re.search(r"\bkvm=yes\b", r["ready_line"]):
                problems.append("no kvm=yes in %r" % r["ready_line"])
            if name == "pxe":
                # The appliance's own DHCP client, on the bridge, and the
                # HTTPS server reachable over it.
                if not re.search(r"\baddr=10\.0\.2\.15/24\b", r["ready_line"]):
                    problems.append("no addr=10.0.2.15/24 in %r" % r["ready_line"])
                if "net: eth0 joined bridge kvbr0" not in q.output():
                    problems.append("eth0 did not join kvbr0 (see %s)" % q.serial_log)
                status = https_answers(HTTPS_FWD, 60)
                if not status:
                    problems.append("no HTTPS answer on the appliance's address through QEMU's forward")
            t = time.monotonic()
            q.powerdown()
            status = q.wait_exit(EXIT_TIMEOUT_S)
            r["off_s"] = time.monotonic() - t
            log = q.output()
            n_ready = len(re.findall(READY_RE, log, re.MULTILINE))
            if n_ready != 1:
                problems.append("%d 'kvmbox ready' lines, not one" % n_ready)
            if status != 0:
                problems.append("QEMU exit status %s after the power button" % status)
            for want in ("kvmbox: powering off", "reboot: Power down"):
                if want not in log:
                    problems.append("no %r in %s" % (want, q.serial_log))
            if name in ("uefi", "bios", "data-late"):
                # The stick's data partition is mounted, and what kvmbox
                # logged is on the disk after the power-off.
                if "data=/data" not in r["ready_line"]:
                    problems.append("data partition not mounted: %r" % r["ready_line"])
                elif "kvmbox ready" not in data_log(os.path.join(WORK, name + ".img")):
                    problems.append("no ready line in /log/kvmbox.log on the data partition")
            if name == "data-damaged":
                if "data=none" not in r["ready_line"]:
                    problems.append("ready line should say data=none: %r" % r["ready_line"])
                if not re.search(r"data: mounting /dev/vda2 on /data failed: .*running WITHOUT persistence", log):
                    problems.append("no clear message about the failed mount in %s" % q.serial_log)
            if problems:
                r["reason"] = "; ".join(problems)
            else:
                r["ok"] = True
    except QemuError as e:
        r["reason"] = str(e)
    return r


def main(argv):
    install_signal_handlers()
    names = argv[1:] or DEFAULT_PATHS
    bad = [n for n in names if n not in ALL_PATHS]
    if bad:
        print("usage: boot_test.py [%s]..." % "|".join(ALL_PATHS), file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        r = boot(name)
        if r["ok"]:
            kernel = " (kernel's first line at %.1f s)" % r["kernel_s"] if r["kernel_s"] is not None else ""
            print("ok boot-%s # ready %.1f s after QEMU start%s, off in %.1f s"
                  % (name, r["ready_s"], kernel, r["off_s"]), flush=True)
        else:
            failed += 1
            # The reason's first line is the verdict; the log tail follows
            # on stderr, for a person.
            first, _, rest = r["reason"].partition("\n")
            print("not ok boot-%s: %s" % (name, first), flush=True)
            if rest:
                print(rest, file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
