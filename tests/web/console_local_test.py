#!/usr/bin/python3
"""The text console against a supervisor on this host, without QEMU.

Runs `kvmbox supervisor` with its local socket (--local) in a temporary
folder and `kvmbox console --socket` on a pty, and checks:

  - the socket is mode 0600, and a request on it is the admin: GET
    /api/host there carries the first-boot setup code;
  - POST /api/auth/reset is refused over HTTPS (403), even unauthenticated;
  - the status screen shows the certificate fingerprint and the setup code;
  - the admin password set through the menu (typed twice, never shown) lets
    one log in over HTTPS; the setup code is gone afterwards;
  - the log screen shows the supervisor's log; SIGTERM restores the tty.

Prints "ok NAME" / "not ok NAME: reason".
"""

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from console_test import Screen  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))
KVMBOX = os.path.join(OUT, "kvmbox")
PASSWORD = "local-console-password"

import report  # noqa: E402  (tests/lib: ok / not ok lines)
from report import result  # noqa: E402


def unix_get(sock_path, path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def curl(port, method, path, body):
    p = subprocess.run(["curl", "-sk", "--max-time", "30", "-X", method, "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Content-Type: application/json", "--data-binary", json.dumps(body),
                        "https://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True)
    return int(p.stdout or 0)


class Console:
    def __init__(self, sock_path):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(KVMBOX, ["kvmbox", "console", "--socket", sock_path])
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.screen = Screen()

    def pump(self, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    self.screen.feed(os.read(self.fd, 65536))
                except OSError:
                    return

    def wait(self, pattern, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.2)
            if re.search(pattern, self.screen.text(), re.MULTILINE):
                return True
        return False

    def type(self, keys):
        os.write(self.fd, keys.encode())

    def shown(self):
        return "screen:\n    " + "\n    ".join(self.screen.text().split("\n"))


def main():
    if not os.path.exists(KVMBOX):
        result("console-local", "%s is missing (make out/kvmbox)" % KVMBOX)
        return 1
    tmp = tempfile.mkdtemp(prefix="kvc-")
    sock_path = os.path.join(tmp, "run", "api.sock")
    logf = open(os.path.join(tmp, "log"), "w")
    sup = subprocess.Popen([KVMBOX, "supervisor", "--https", "127.0.0.1:0", "--http", "none", "--state",
                            os.path.join(tmp, "state"), "--local", sock_path, "--auth-iterations", "1000"],
                           stdout=logf, stderr=subprocess.STDOUT)
    con = None
    try:
        log = ""
        for _ in range(200):
            log = open(os.path.join(tmp, "log")).read()
            if "ready" in log:
                break
            time.sleep(0.05)
        port = int(re.search(r"https: listening on 127\.0\.0\.1:(\d+)", log).group(1))
        fp = re.search(r"fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", log).group(1)
        code = re.search(r"setup code ([A-Z0-9]{4}-[A-Z0-9]{4})", log).group(1)

        mode = stat.S_IMODE(os.stat(sock_path).st_mode)
        result("console-local-socket-mode", None if mode == 0o600 else "mode %o" % mode)
        st, body = unix_get(sock_path, "/api/host")
        js = json.loads(body) if st == 200 else {}
        result("console-local-is-admin", None if js.get("auth", {}).get("setup_code") == code
               else "GET /api/host: %d %r" % (st, body[:300]))
        st = curl(port, "POST", "/api/auth/reset", {"password": "from-the-network"})
        result("console-local-reset-403-remote", None if st == 403 else "HTTPS reset: %d" % st)

        con = Console(sock_path)
        ok = con.wait(r"SHA-256 %s\n\s+%s$" % (re.escape(fp[:47]), re.escape(fp[48:])))
        result("console-local-fingerprint", None if ok else con.shown())
        ok = con.wait(r"No admin password yet: setup code %s" % code)
        result("console-local-setup-code", None if ok else con.shown())

        con.type("2")
        ok = con.wait(r"New password: _")
        con.type("short\r")
        ok = ok and con.wait(r"Once more: +_")
        con.type("different\r")
        ok = ok and con.wait(r"the two passwords differ")
        result("console-local-password-mismatch", None if ok else con.shown())
        con.type("2")
        con.wait(r"New password: _")
        con.type(PASSWORD + "\r")
        con.wait(r"Once more: +_")
        con.type(PASSWORD + "\r")
        ok = con.wait(r"admin password set", 30)
        result("console-local-password", None if ok and PASSWORD not in con.screen.text() else con.shown())
        st = curl(port, "POST", "/api/auth/login", {"user": "admin", "password": PASSWORD})
        result("console-local-login", None if st == 200 else "login with the new password: %d" % st)
        st, body = unix_get(sock_path, "/api/host")
        js = json.loads(body) if st == 200 else {}
        result("console-local-setup-code-gone", None if js.get("auth") == {"admin_set": True} else repr(js))
        ok = con.wait(r"^ +2 Admin password", 5) and not re.search("setup code", con.screen.text())
        result("console-local-status-updated", None if ok else con.shown())

        con.type("4")
        ok = con.wait(r"admin password set on the appliance's console")
        con.type("\x1b")
        ok = ok and con.wait(r"^ +1 Network settings")
        result("console-local-log", None if ok else con.shown())

        os.kill(con.pid, signal.SIGTERM)
        _, status = os.waitpid(con.pid, 0)
        attrs = termios.tcgetattr(con.fd)
        restored = attrs[3] & termios.ICANON and attrs[3] & termios.ECHO
        result("console-local-sigterm", None if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and restored
               else "status %r, lflag %#x" % (status, attrs[3]))
        con = None
    finally:
        if con:
            os.kill(con.pid, signal.SIGKILL)
            os.waitpid(con.pid, 0)
        sup.send_signal(signal.SIGTERM)
        sup.wait(timeout=10)
        logf.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
