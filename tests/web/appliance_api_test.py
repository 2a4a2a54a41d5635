#!/usr/bin/python3
"""The supervisor's API on the real appliance, as a user drives it with curl.

Boots out/kernel/bzImage + out/initramfs.cpio.gz under TCG (nested KVM
inside) with a private copy of out/kvmbox.img as the disk (its KVMBOX-DATA
partition is /data), a NIC on QEMU's user network and a forward from this
host to the appliance's port 443, and the admin password given as
kvmbox.adminhash= on the kernel command line. Then, over HTTPS through the
forward, with curl:

  - make run's demo VM (image/run-demo.sh puts it on the disk) has started
    by itself, shows its banner, and its busybox shell answers a command
    typed through the console endpoint, and one typed through the console's
    WebSocket, as the web console does it;
  - uploads the test guest's kernel and initramfs as images;
  - creates a VM from them, starts it, and reads the guest's serial output
    through the console endpoint; pauses, resumes, reads its counters;
  - checks the state machine: a second start, and a delete while it runs,
    are 409s with a reason;
  - stops it (the ACPI power button: the guest is told to wait for it) and
    sees "the guest powered off";
  - a VM whose kernel is missing ends "failed" with the VMM's reason;
  - a VM with restart "always" whose guest powers off is started again;
  - powers the appliance off and boots it again with the same disk: the
    definitions and images are still there.

Prints "ok NAME" / "not ok NAME: reason". Logs in out/tests/api/.
"""

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from qemu import Qemu, QemuError, install_signal_handlers  # noqa: E402

OUT = os.environ.get("KVMBOX_OUT", os.path.join(ROOT, "out"))
KVMBOX = os.path.join(OUT, "kvmbox")
KERNEL = os.path.join(OUT, "kernel", "bzImage")
INITRAMFS = os.path.join(OUT, "initramfs.cpio.gz")
IMG = os.path.join(OUT, "kvmbox.img")
GUEST_INITRD = os.path.join(OUT, "tests", "guest", "initramfs.cpio.gz")
DEMO_INITRD = os.path.join(OUT, "demo", "initramfs.cpio.gz")
WORK = os.path.join(OUT, "tests", "api")
PASSWORD = "appliance-test-password"
READY_RE = r"kvmbox ready\b.*$"
FAIL_RE = r"Kernel panic - not syncing.*$"

import report  # noqa: E402  (tests/lib: ok / not ok lines)
from report import result  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Api:
    """curl against the forward: what a user types, and what they see."""

    def __init__(self, port):
        self.port = port
        self.base = "https://127.0.0.1:%d" % port
        self.token = None

    def call(self, method, path, body=None, data_file=None, headers=(), timeout=120, raw=None):
        cmd = ["curl", "-sk", "--max-time", str(timeout), "-X", method, "-o", "-", "-w", "\n%{http_code}",
               "-D", os.path.join(WORK, "last-headers")]
        if self.token:
            cmd += ["-H", "Authorization: Bearer " + self.token]
        for h in headers:
            cmd += ["-H", h]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        elif data_file:
            cmd += ["-H", "Content-Type: application/octet-stream", "--data-binary", "@" + data_file]
        elif raw is not None:
            cmd += ["--data-binary", "@-"]
        elif method in ("POST", "PUT"):
            cmd += ["--data-binary", ""]
        cmd.append(self.base + path)
        p = subprocess.run(cmd, capture_output=True, timeout=timeout + 10, input=raw)
        out = p.stdout
        nl = out.rfind(b"\n")
        status = int(out[nl + 1:] or b"0")
        text = out[:nl]
        try:
            js = json.loads(text) if text[:1] in (b"{", b"[") else None
        except ValueError:
            js = None
        return status, js, text

    def headers(self):
        with open(os.path.join(WORK, "last-headers"), "rb") as f:
            return f.read().decode("latin-1")

    def wait_https(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                s, _, _ = self.call("GET", "/api/openapi.yaml", timeout=20)
                if s:
                    return s
            except subprocess.TimeoutExpired:
                pass
            time.sleep(2)
        return 0

    def login(self):
        s, js, text = self.call("POST", "/api/auth/login", {"user": "admin", "password": PASSWORD},
                                timeout=180)
        if s != 200:
            return "login: %d %r" % (s, text[:200])
        cookie = re.search(r"kvmbox_session=([^;\s]+)", self.headers())
        if not cookie:
            return "login set no kvmbox_session cookie"
        s, js, text = self.call("POST", "/api/auth/tokens", {"name": "appliance-test"},
                                headers=("Cookie: kvmbox_session=" + cookie.group(1),
                                         "X-CSRF-Token: " + js["csrf"]))
        if s != 201:
            return "token: %d %r" % (s, text[:200])
        self.token = js["token"]
        return None

    def vm(self, name):
        s, js, _ = self.call("GET", "/api/vms/" + name)
        return js if s == 200 else None

    def wait_state(self, name, states, timeout):
        end = time.monotonic() + timeout
        vm = None
        while time.monotonic() < end:
            vm = self.vm(name)
            if vm and vm["state"] in states:
                return vm
            time.sleep(1)
        return vm

    def wait_console(self, name, pattern, timeout):
        end = time.monotonic() + timeout
        text = b""
        while time.monotonic() < end:
            s, _, text = self.call("GET", "/api/vms/%s/console" % name)
            if s == 200 and re.search(pattern.encode(), text):
                return text
            time.sleep(2)
        return None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def admin_hash():
    p = subprocess.run([KVMBOX, "passwd-hash"], input=PASSWORD + "\n", capture_output=True, text=True,
                       check=True)
    return p.stdout.strip()


def boot(name, disk, port, hashed):
    cmdline = "console=ttyS0 kvmbox.adminhash=%s kvmbox.netwait=20" % hashed
    args = ["-nodefaults", "-display", "none", "-no-reboot",
            "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "1536M",
            "-kernel", KERNEL, "-initrd", INITRAMFS, "-append", cmdline,
            "-drive", "if=virtio,format=raw,file=" + disk,
            "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:443" % port,
            "-device", "virtio-net-pci,netdev=n0"]
    return Qemu(args, name=name, logdir=WORK, watchdog_s=900)


def websocket_echo(api):
    """The console as the browser has it: a WebSocket through the forward,
    the shell's answer to a typed line coming back in binary frames."""
    sys.path.insert(0, HERE)
    from ws_test import WS  # noqa: E402
    ws = WS(api.port, "/api/vms/demo/console/ws", headers={"Authorization": "Bearer " + api.token})
    try:
        if ws.status != 101:
            return "upgrade answered %d" % ws.status
        op, first = ws.recv(timeout=30)
        if op != 1 or b"offset" not in first:
            return "first frame %r, not the offset" % first[:80]
        ws.send(2, b"echo ws-$((6*7))-ok\n")
        seen = b""
        end = time.monotonic() + 120
        while time.monotonic() < end and b"ws-42-ok" not in seen:
            op, data = ws.recv(timeout=max(1, end - time.monotonic()))
            if op == 2:
                seen += data
        return None if b"ws-42-ok" in seen else "no ws-42-ok in %r" % seen[-200:]
    except (OSError, EOFError, ValueError) as e:
        return "websocket: %s" % e
    finally:
        ws.close()


def first_boot(api, q):
    err = api.login()
    result("api-login", err)
    if err:
        return False

    # make run's demo: autostarted, and its shell answers on the console.
    vm = api.wait_state("demo", ("running", "failed", "stopped"), 300)
    result("api-demo-autostart", None if vm and vm["state"] == "running" else "demo VM: %r" % vm)
    out = api.wait_console("demo", r"kvmbox demo VM", 300)
    result("api-demo-banner", None if out else "no banner in the demo VM's console")
    if out:
        # The shell computes the answer: an echo of the typed line alone
        # would not contain it.
        s, _, text = api.call("POST", "/api/vms/demo/console", data_file=None,
                              headers=("Content-Type: application/octet-stream",), timeout=30,
                              raw=b"echo kvmbox-$((6*7))-ok\n")
        out = api.wait_console("demo", r"kvmbox-42-ok", 120)
        result("api-demo-shell", None if s == 204 and out else "POST console %d; no kvmbox-42-ok in the console" % s)
    result("api-demo-websocket", websocket_echo(api))
    s, js, _ = api.call("POST", "/api/vms/demo/stop", {"force": True})
    api.wait_state("demo", ("stopped", "failed"), 60)

    # Images: the test guest's kernel and initramfs, streamed with a checksum.
    for local, name in ((KERNEL, "guest-kernel"), (GUEST_INITRD, "guest-initrd")):
        s, js, text = api.call("PUT", "/api/images/" + name, data_file=local,
                               headers=("X-Checksum-SHA256: " + sha256(local),), timeout=600)
        result("api-upload-" + name, None if s == 201 and js and js.get("sha256") == sha256(local)
               else "PUT /api/images/%s: %d %r" % (name, s, text[:200]))

    # Create, start, console.
    demo = {"name": "guest1", "kernel": "guest-kernel", "initrd": "guest-initrd", "mem": "128M", "cpus": 1,
            "cmdline": "console=ttyS0 kvmbox.test=wait", "stop-timeout": 60}
    s, js, text = api.call("POST", "/api/vms", demo)
    result("api-vm-create", None if s == 201 and js["state"] == "stopped" else "%d %r" % (s, text[:300]))
    s, js, text = api.call("POST", "/api/vms/guest1/start")
    result("api-vm-start", None if s == 202 and js["state"] in ("starting", "running") else "%d %r" % (s, text[:300]))
    vm = api.wait_state("guest1", ("running",), 120)
    result("api-vm-running", None if vm and vm["state"] == "running" and vm.get("pid") else "state %r" % vm)
    out = api.wait_console("guest1", r"KVMBOX-GUEST: waiting", 300)
    result("api-vm-console", None if out and b"KVMBOX-GUEST: init" in out
           else "no 'KVMBOX-GUEST: waiting' in GET /api/vms/guest1/console")
    if out:
        off = int(re.search(r"X-Console-Offset: (\d+)", api.headers()).group(1))
        s, _, tail = api.call("GET", "/api/vms/guest1/console?offset=%d" % off)
        result("api-vm-console-offset", None if s == 200 and off >= len(out) and b"KVMBOX-GUEST: init" not in tail
               else "offset %d: %d %r" % (off, s, tail[:100]))

    # The state machine refuses what makes no sense, with a reason.
    s, js, _ = api.call("POST", "/api/vms/guest1/start")
    result("api-vm-start-twice-409", None if s == 409 and "running" in js["error"]["message"] else "%d %r" % (s, js))
    s, js, _ = api.call("DELETE", "/api/vms/guest1")
    result("api-vm-delete-running-409", None if s == 409 and "stop it" in js["error"]["message"] else "%d %r" % (s, js))

    s, js, _ = api.call("POST", "/api/vms/guest1/pause")
    ok = s == 200 and js["state"] == "paused"
    s, js, _ = api.call("POST", "/api/vms/guest1/resume")
    ok = ok and s == 200 and js["state"] == "running"
    result("api-vm-pause-resume", None if ok else "%d %r" % (s, js))
    s, js, _ = api.call("GET", "/api/vms/guest1/counters")
    result("api-vm-counters", None if s == 200 and isinstance(js.get("exits"), dict) and js.get("vcpu_run_us", 0) > 0
           else "%d %r" % (s, js))

    # Stop: the guest waits for the power button, then powers off.
    s, js, _ = api.call("POST", "/api/vms/guest1/stop")
    result("api-vm-stop", None if s == 202 and js["state"] == "stopping" else "%d %r" % (s, js))
    vm = api.wait_state("guest1", ("stopped", "failed"), 120)
    result("api-vm-stopped", None if vm and vm["state"] == "stopped" and vm["last_exit"]["code"] == 0
           and "powered off" in vm["last_exit"]["reason"] else "%r" % vm)
    s, _, log = api.call("GET", "/api/vms/guest1/log")
    result("api-vm-log", None if s == 200 and b"VM guest1 ended" in log else "%d %r" % (s, log[-300:]))

    # A VM that cannot start says why.
    s, js, text = api.call("POST", "/api/vms", {"name": "broken", "kernel": "no-such-kernel", "mem": "64M"})
    s2, js, _ = api.call("POST", "/api/vms/broken/start")
    vm = api.wait_state("broken", ("failed",), 60)
    result("api-vm-failed-reason", None if s == 201 and vm and vm["state"] == "failed" and
           "no-such-kernel" in vm["last_exit"]["reason"] else "%d %d %r" % (s, s2, vm))

    # restart "always": the guest powers off at once and is started again.
    s, js, text = api.call("POST", "/api/vms", {"name": "bouncer", "kernel": "guest-kernel",
                                                "initrd": "guest-initrd", "mem": "96M",
                                                "cmdline": "console=ttyS0", "restart": "always"})
    api.call("POST", "/api/vms/bouncer/start")
    end = time.monotonic() + 400
    vm = None
    while time.monotonic() < end:
        vm = api.vm("bouncer")
        if vm and vm["restarts"] >= 1:
            break
        time.sleep(3)
    result("api-vm-restart-always", None if vm and vm["restarts"] >= 1 and vm["last_exit"]["code"] == 0
           else "%r" % vm)
    s, js, _ = api.call("POST", "/api/vms/bouncer/stop", {"force": True})
    vm = api.wait_state("bouncer", ("stopped",), 120)
    result("api-vm-stop-restarting", None if vm and vm["state"] == "stopped" else "%d %r" % (s, vm))
    return True


def second_boot(api):
    err = api.login()
    if err:
        result("api-persist", err)
        return
    vm = api.vm("guest1")
    s, js, _ = api.call("GET", "/api/images")
    names = sorted(i["name"] for i in js.get("images", [])) if s == 200 and js else []
    result("api-persist", None if vm and vm["definition"]["kernel"] == "guest-kernel" and vm["state"] == "stopped"
           and "guest-kernel" in names else "after a reboot: vm %r, images %r" % (vm, names))


def main():
    install_signal_handlers()
    os.makedirs(WORK, exist_ok=True)
    for f in (KVMBOX, KERNEL, INITRAMFS, IMG, GUEST_INITRD, DEMO_INITRD):
        if not os.path.exists(f):
            result("api-appliance", "%s is missing (run make image)" % f)
            return 1
    disk = os.path.join(WORK, "disk.img")
    subprocess.run(["cp", "--sparse=always", IMG, disk], check=True)
    subprocess.run([os.path.join(ROOT, "image", "run-demo.sh"), disk, KERNEL, DEMO_INITRD], check=True)
    hashed = admin_hash()
    for n in (1, 2):
        port = free_port()
        api = Api(port)
        try:
            with boot("api-boot%d" % n, disk, port, hashed) as q:
                q.wait_for(READY_RE, 600, fail=FAIL_RE)
                if not api.wait_https(180):
                    result("api-boot%d" % n, "no HTTPS answer through the forward")
                    return 1
                if n == 1:
                    if not first_boot(api, q):
                        return 1
                else:
                    second_boot(api)
                q.powerdown()
                status = q.wait_exit(120)
                if n == 1:
                    result("api-poweroff", None if status == 0 else "QEMU exit status %s" % status)
        except QemuError as e:
            result("api-boot%d" % n, str(e))
            return 1
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
