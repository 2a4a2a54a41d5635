#!/usr/bin/python3
"""The text console (`kvmbox console`, vmm/console/) on the real appliance's
serial port, driven as a person at the machine would.

Boots out/kernel/bzImage + out/initramfs.cpio.gz under TCG like
tests/web/appliance_api_test.py (a private copy of out/kvmbox.img with make
run's demo VM on it, QEMU's user network with a forward to port 443), but
with no admin password, and with the serial port as this test's keyboard
and screen. The serial output is run through a small VT100 model, so the
checks look at the screen as it is drawn:

  - the status screen shows the address 10.0.2.15, the certificate
    fingerprint the supervisor logged, and the first-boot setup code;
  - the admin password is set through the menu (typed twice, not echoed),
    then a login over HTTPS through the forward works with it;
  - the demo VM's console is attached from the VM list, `echo $((6*7))`
    typed there prints 42, and Ctrl-] comes back to the VM list and menu.

Prints "ok NAME" / "not ok NAME: reason". Logs in out/tests/console/.
"""

import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "web"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402
import appliance_api_test as aat  # noqa: E402  (its Api class: curl through the forward)

OUT = aat.OUT
WORK = os.path.join(OUT, "tests", "console")
PASSWORD = "console-test-password"
READY_RE = r"kvmbox ready\b.*$"
FAIL_RE = r"Kernel panic - not syncing.*$"

import report  # noqa: E402  (tests/lib: ok / not ok lines)
from report import result  # noqa: E402


class Screen:
    """Just enough of a VT100 to read what the console draws: cursor
    position, erase, scroll region, CR/LF; attributes are ignored."""
    def __init__(self, rows=24, cols=80):
        self.rows, self.cols = rows, cols
        self.grid = [[" "] * cols for _ in range(rows)]
        self.y = self.x = 0
        self.top, self.bottom = 0, rows - 1
        self.pending = b""

    def _lf(self):
        if self.y == self.bottom:
            del self.grid[self.top]
            self.grid.insert(self.bottom, [" "] * self.cols)
        elif self.y < self.rows - 1:
            self.y += 1

    def feed(self, data):
        data = self.pending + data
        self.pending = b""
        i = 0
        while i < len(data):
            b = data[i]
            if b == 0x1b:
                m = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z@])").match(data, i)
                if not m:
                    if len(data) - i < 16:
                        self.pending = data[i:]
                        return
                    i += 1
                    continue
                args = [int(a) if a else 0 for a in m.group(1).replace(b"?", b"").split(b";")] if m.group(1) else []
                self._csi(m.group(2), args)
                i = m.end()
                continue
            if b == 0x0d:
                self.x = 0
            elif b == 0x0a:
                self._lf()
            elif b == 0x08:
                self.x = max(0, self.x - 1)
            elif b >= 0x20:
                if self.x >= self.cols:
                    self.x = 0
                    self._lf()
                self.grid[self.y][self.x] = chr(b) if b < 0x7f else "?"
                self.x += 1
            i += 1

    def _csi(self, cmd, a):
        g = lambda n, d=1: a[n] if len(a) > n and a[n] else d
        if cmd == b"H" or cmd == b"f":
            self.y = min(self.rows, g(0)) - 1
            self.x = min(self.cols, g(1)) - 1
        elif cmd == b"K":
            for x in range(self.x, self.cols):
                self.grid[self.y][x] = " "
        elif cmd == b"J":
            if g(0, 0) == 2:
                self.grid = [[" "] * self.cols for _ in range(self.rows)]
        elif cmd == b"r":
            self.top = g(0) - 1
            self.bottom = g(1, self.rows) - 1
            self.y = self.x = 0

    def text(self):
        return "\n".join("".join(r).rstrip() for r in self.grid)


def screen_of(q):
    s = Screen()
    s.feed(q.output().encode("utf-8", "replace"))
    return s.text()


def wait_screen(q, pattern, timeout):
    """The screen as drawn on the serial port, once PATTERN is on it; None
    after TIMEOUT seconds."""
    end = time.monotonic() + timeout
    rx = re.compile(pattern, re.MULTILINE)
    while time.monotonic() < end:
        text = screen_of(q)
        if rx.search(text):
            return text
        if not q.running():
            break
        time.sleep(0.5)
    return None


def last_screen(q):
    return "screen now:\n    " + "\n    ".join(screen_of(q).split("\n"))


def boot(disk, port):
    cmdline = "console=ttyS0 kvmbox.netwait=20"
    args = ["-nodefaults", "-display", "none", "-no-reboot",
            "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "1536M",
            "-kernel", aat.KERNEL, "-initrd", aat.INITRAMFS, "-append", cmdline,
            "-drive", "if=virtio,format=raw,file=" + disk,
            "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:443" % port,
            "-device", "virtio-net-pci,netdev=n0"]
    return Qemu(args, name="console-boot", logdir=WORK, watchdog_s=900)


def status_screen(q):
    fp = q.wait_for(r"certificate SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", 300, fail=FAIL_RE).group(1)
    code = re.search(r"setup code ([A-Z0-9]{4}-[A-Z0-9]{4})", q.output())
    scr = wait_screen(q, r"^  Address\s+10\.0\.2\.15/24", 180)
    result("console-status-address", None if scr else "no 'Address 10.0.2.15/24' row; " + last_screen(q))
    scr = wait_screen(q, r"SHA-256 %s\n\s+%s$" % (re.escape(fp[:47]), re.escape(fp[48:])), 60)
    result("console-status-fingerprint", None if scr else "no fingerprint %s; %s" % (fp, last_screen(q)))
    scr = code and wait_screen(q, r"No admin password yet: setup code %s" % code.group(1), 60)
    result("console-status-setup-code", None if scr else "setup code %s not shown; %s"
           % (code.group(1) if code else None, last_screen(q)))


def set_password(q, api):
    q.write("2")
    ok = wait_screen(q, r"New password: _", 30)
    q.write(PASSWORD + "\r")
    ok = ok and wait_screen(q, r"Once more: +_", 30)
    q.write(PASSWORD + "\r")
    # PBKDF2 under TCG takes a while.
    ok = ok and wait_screen(q, r"admin password set", 300)
    result("console-password-menu", None if ok else last_screen(q))
    if PASSWORD in screen_of(q):
        result("console-password-no-echo", "the password is on the screen")
    aat.PASSWORD = PASSWORD
    err = api.login()
    result("console-password-login", err)


def attach_demo(q, api):
    vm = api.wait_state("demo", ("running", "failed", "stopped"), 300)
    if not vm or vm["state"] != "running":
        result("console-attach", "the demo VM is not running: %r" % vm)
        return
    if not api.wait_console("demo", r"kvmbox demo VM", 300):
        result("console-attach", "no banner in the demo VM's console")
        return
    q.write("3")
    scr = wait_screen(q, r"^ *demo +running", 30)
    result("console-vm-list", None if scr else last_screen(q))
    mark = q.mark()
    q.write("\r")
    try:
        q.wait_for(r"Console of VM demo - press Ctrl-\] to detach", 30, start=mark, partial=True)
        time.sleep(1)
        q.write("\r")
        time.sleep(1)
        mark = q.mark()
        q.write("echo $((6*7))\r")
        q.wait_for(r"^42\r*$", 120, start=mark)
        result("console-attach-shell")
    except QemuError as e:
        result("console-attach-shell", str(e))
    q.write("\x1d")
    scr = wait_screen(q, r"detached from demo", 30)
    result("console-detach", None if scr and "virtual machines" in scr else last_screen(q))
    q.write("\x1b")
    scr = wait_screen(q, r"^ +1 Network settings +5 Regenerate certificate", 30)
    result("console-menu-again", None if scr else last_screen(q))


def main():
    install_signal_handlers()
    os.makedirs(WORK, exist_ok=True)
    aat.WORK = WORK  # Api writes its header file there
    for f in (aat.KVMBOX, aat.KERNEL, aat.INITRAMFS, aat.IMG, aat.DEMO_INITRD):
        if not os.path.exists(f):
            result("console-appliance", "%s is missing (run make image)" % f)
            return 1
    disk = os.path.join(WORK, "disk.img")
    subprocess.run(["cp", "--sparse=always", aat.IMG, disk], check=True)
    subprocess.run([os.path.join(ROOT, "image", "run-demo.sh"), disk, aat.KERNEL, aat.DEMO_INITRD], check=True)
    port = aat.free_port()
    api = aat.Api(port)
    try:
        with boot(disk, port) as q:
            q.wait_for(READY_RE, 600, fail=FAIL_RE)
            status_screen(q)
            if not api.wait_https(180):
                result("console-https", "no HTTPS answer through the forward")
                return 1
            set_password(q, api)
            if api.token:
                attach_demo(q, api)
            q.powerdown()
            status = q.wait_exit(180)
            result("console-poweroff", None if status == 0 else "QEMU exit status %s" % status)
    except QemuError as e:
        result("console-boot", str(e))
        return 1
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
