#!/usr/bin/python3
"""Headless seeds handed over at boot: init finds the seed and gives it to
the supervisor (`kvmbox supervisor --seed /run/kvmbox/seed.json`).

    tests/boot/seed_test.py [CASE...]    default: all of them

Cases (each a direct -kernel boot under TCG, like boot_test.py's "direct"):
  fwcfg      -fw_cfg name=opt/kvmbox/seed,file=seed.json: init must say the
             seed came from fw_cfg, with its size, and hand it over (needs a
             kernel with CONFIG_FW_CFG_SYSFS=y)
  data       no kvmbox.seed, a KVMBOX-DATA disk (made with mke2fs -d) holding
             /seed.json: the seed comes from /data/seed.json
  path       kvmbox.seed=/data/ci/seed.json on such a disk (which also has
             a /seed.json, that must not win)
  http       kvmbox.seed=http://10.0.2.2:PORT/seed.json (10.0.2.2 is this
             host in QEMU's user network) from an http.server this test runs,
             pinned with the right kvmbox.seedsha256: fetched, pin matched,
             handed over
  http-pin   the same with a wrong pin: refused with a clear line, and no
             seed is handed over
  http-404   a URL the server does not have: the status is in the log, and
             no seed is handed over
  http-retry the server starts only once init says it is fetching: the first
             try is refused, logged, and a later one gets the seed
  https      kvmbox.seed=https://...: refused, saying to use http:// and a pin
  http-dns   kvmbox.seed=http://seeds.kvmbox.test:PORT/seed.json with a
             static ip= whose DNS server is this host, where the test answers
             DNS on 127.0.0.1:53 (seeds.kvmbox.test is 10.0.2.2): the name is
             resolved and the seed fetched. Skipped where port 53 cannot be
             bound (not root, or a resolver there)
  poweroff   a fetched seed with one VM that cannot boot (its kernel is
             /init, no bzImage) and "poweroff": true: the supervisor exits
             with SUPERVISOR_EXIT_POWEROFF once the VM has ended, and init
             must power off by itself ("powering off: <reason>"), QEMU
             exiting 0 without the power button

Except in poweroff, the seed has no VMs and no power-off, so the appliance comes up whatever the
supervisor makes of it; each case then presses the power button and wants
QEMU to exit 0. Prints "ok seed-CASE ..." or "not ok seed-CASE: reason";
logs are in out/tests/boot/seed-CASE.serial.log.
"""

import hashlib
import http.server
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402
from boot_test import (FAIL_RE, INITRAMFS, KERNEL, READY_RE, READY_TIMEOUT_S, EXIT_TIMEOUT_S,  # noqa: E402
                       WATCHDOG_S, WORK, cmdline, machine_args)

CASES = ["fwcfg", "data", "path", "http", "http-pin", "http-404", "http-retry", "https", "http-dns", "poweroff"]
DNS_NAME = "seeds.kvmbox.test"
SEED = b'{"vms": [], "poweroff": false}\n'
POWEROFF_SEED = b'{"vms": [{"name": "nokernel", "kernel": "/init", "mem": "64M"}], "poweroff": true}\n'
FILES = {"/seed.json": SEED, "/poweroff.json": POWEROFF_SEED}
HANDED = "seed: handing %s to the supervisor (--seed /run/kvmbox/seed.json)"


class SeedServer:
    """http.server on 127.0.0.1, serving SEED at /seed.json and 404 for the
    rest, and remembering the paths asked for."""

    def __init__(self, port=0):
        self.paths = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                body = FILES.get(self.path)
                if body is None:
                    self.send_error(404, "File not found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


class DnsServer:
    """Answers A queries for DNS_NAME with 10.0.2.2 (this host in QEMU's
    user network) on 127.0.0.1:53, NXDOMAIN for any other name."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))  # OSError where it cannot: the case is skipped
        self.sock.settimeout(0.5)
        self.names = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 17:
                continue
            labels, o = [], 12
            while o < len(q) and q[o]:
                labels.append(q[o + 1:o + 1 + q[o]].decode("ascii", "replace"))
                o += 1 + q[o]
            question = q[12:o + 5]
            name = ".".join(labels)
            self.names.append(name)
            found = name.lower() == DNS_NAME
            head = q[:2] + struct.pack(">HHHHH", 0x8180 if found else 0x8183, 1, 1 if found else 0, 0, 0)
            answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("10.0.2.2") if found else b""
            self.sock.sendto(head + question + answer, peer)

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def expectations(case, port):
    """QEMU arguments, the lines the log must have, and those it must not."""
    base = ["-kernel", KERNEL, "-initrd", INITRAMFS]
    append = cmdline()
    if case == "fwcfg":
        path = os.path.join(WORK, "seed-fwcfg.json")
        with open(path, "wb") as f:
            f.write(SEED)
        src = "fw_cfg opt/kvmbox/seed"
        return (base + ["-append", append, "-nic", "none", "-fw_cfg", "name=opt/kvmbox/seed,file=" + path],
                ["seed: from %s (%d bytes)" % (src, len(SEED)), HANDED % src], [])
    if case in ("data", "path"):
        tree = os.path.join(WORK, "seed-data.d")
        shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(os.path.join(tree, "ci"))
        with open(os.path.join(tree, "seed.json"), "wb") as f:
            f.write(b'{"vms": [], "poweroff": false, "from": "the wrong one"}\n' if case == "path" else SEED)
        with open(os.path.join(tree, "ci", "seed.json"), "wb") as f:
            f.write(SEED)
        img = os.path.join(WORK, "seed-data.img")
        if os.path.exists(img):
            os.unlink(img)
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "KVMBOX-DATA", "-d", tree, img, "32M"],
                       check=True, stdout=subprocess.DEVNULL)
        src = "/data/seed.json" if case == "data" else "/data/ci/seed.json"
        extra = "" if case == "data" else " kvmbox.seed=" + src
        return (base + ["-append", append + extra, "-nic", "none", "-drive", "if=virtio,format=raw,file=" + img],
                ["seed: from %s (%d bytes)" % (src, len(SEED)), HANDED % src], [])
    url = "http://10.0.2.2:%d/%s" % (port, {"http-404": "missing.json", "poweroff": "poweroff.json"}.get(
        case, "seed.json"))
    if case == "https":
        url = "https://10.0.2.2:%d/seed.json" % port
        return (base + ["-append", append + " kvmbox.seed=" + url, "-nic", "none"],
                ["seed: kvmbox.seed=%s: https:// is not supported at boot" % url,
                 "use http:// and kvmbox.seedsha256=HEX to pin it; no seed is run"], ["seed: handing", "seed: fetching"])
    if case == "http-dns":
        url = "http://%s:%d/seed.json" % (DNS_NAME, port)
        # A static address, so that the DNS server is this host (10.0.2.2).
        return (base + ["-append", append + " ip=10.0.2.15::10.0.2.2:255.255.255.0::::10.0.2.2 kvmbox.seed=" + url,
                        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"],
                ["seed: from %s (%d bytes)" % (url, len(SEED)), HANDED % url], [])
    if case == "poweroff":
        return (base + ["-append", append + " kvmbox.seed=" + url,
                        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"],
                [HANDED % url, "kvmbox: powering off: seed: "], [])
    good = hashlib.sha256(SEED).hexdigest()
    pin = good if case != "http-pin" else hashlib.sha256(b"something else").hexdigest()
    args = base + ["-append", append + " kvmbox.seed=%s kvmbox.seedsha256=%s" % (url, pin),
                   "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"]
    fetching = "seed: fetching %s" % url
    if case == "http-retry":
        return args, [fetching, "seed: fetching %s (try 1): connecting to 10.0.2.2:%d: Connection refused; "
                      "trying again in 1 s" % (url, port), "seed: from %s (%d bytes)" % (url, len(SEED)),
                      HANDED % url], []
    if case == "http":
        return args, [fetching, "seed: sha256 %s matches kvmbox.seedsha256" % good,
                      "seed: from %s (%d bytes)" % (url, len(SEED)), HANDED % url], []
    if case == "http-pin":
        return args, [fetching, "seed: the seed from %s has sha256 %s, not the %s that kvmbox.seedsha256 pins; "
                      "refusing it" % (url, good, pin)], [HANDED % url]
    return args, [fetching, "seed: fetching %s: the server answered 404 File not found; no seed is run" % url], \
        [HANDED % url]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LateServer:
    """For http-retry: a port with nothing on it until start()."""

    def __init__(self):
        self.port = free_port()
        self.server = None

    def start(self):
        self.server = SeedServer(self.port).__enter__()

    @property
    def paths(self):
        return self.server.paths if self.server else []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.server:
            self.server.__exit__()
        return False


def run(case, server):
    args, want, unwanted = expectations(case, server.port)
    missing = [f for f in (KERNEL, INITRAMFS) if not os.path.exists(f)]
    if missing:
        return "missing %s (run make image)" % ", ".join(missing)
    name = "seed-" + case
    try:
        with Qemu(machine_args() + args, name=name, logdir=WORK, watchdog_s=WATCHDOG_S) as q:
            if case == "http-retry":
                q.wait_for(r"seed: fetching .*\(try 1\)", READY_TIMEOUT_S, fail=FAIL_RE + "|" + READY_RE)
                server.start()
            q.wait_for(READY_RE, READY_TIMEOUT_S, fail=FAIL_RE)
            if case == "poweroff":
                # No button: the seed's end must power the appliance off.
                q.wait_for(r"reboot: Power down", READY_TIMEOUT_S, fail=FAIL_RE)
            else:
                q.powerdown()
            status = q.wait_exit(EXIT_TIMEOUT_S)
            log = q.output().replace("\r", "")
    except QemuError as e:
        return str(e)
    problems = ["no %r in the log" % w for w in want if w not in log]
    problems += ["%r should not be in the log" % u for u in unwanted if u in log]
    if case == "fwcfg" and "seed: from fw_cfg" not in log and os.path.getmtime(KERNEL) < os.path.getmtime(
            os.path.join(os.path.dirname(HERE), "..", "kernel", "kvmbox.config")):
        problems.append("(out/kernel/bzImage is older than kernel/kvmbox.config: run make kernel for fw_cfg)")
    if case.startswith("http") and case != "https" and not server.paths:
        problems.append("the appliance never asked this host's HTTP server")
    if status != 0:
        problems.append("QEMU exit status %s after the power button" % status)
    if problems:
        return "; ".join(problems) + " (see %s)" % os.path.join(WORK, name + ".serial.log")
    return None


def main(argv):
    install_signal_handlers()
    cases = argv[1:] or CASES
    bad = [c for c in cases if c not in CASES]
    if bad:
        print("usage: seed_test.py [%s]..." % "|".join(CASES), file=sys.stderr)
        return 2
    os.makedirs(WORK, exist_ok=True)
    failed = 0
    for case in cases:
        dns = None
        if case == "http-dns":
            try:
                dns = DnsServer()
            except OSError as e:
                print("ok seed-%s # SKIP cannot answer DNS on 127.0.0.1:53: %s" % (case, e), flush=True)
                continue
        try:
            with (LateServer() if case == "http-retry" else SeedServer()) as server:
                why = run(case, server)
        finally:
            if dns:
                dns.close()
        if why is None:
            print("ok seed-%s" % case, flush=True)
        else:
            failed += 1
            first, _, rest = why.partition("\n")
            print("not ok seed-%s: %s" % (case, first), flush=True)
            if rest:
                print(rest, file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
