#!/usr/bin/python3
"""The web console on the real appliance, as a person uses it in a browser.

Boots the appliance under TCG the way tests/web/appliance_api_test.py does
(its boot(), Api and admin_hash(): a private copy of out/kvmbox.img with
make run's demo VM, a forward from this host to the appliance's port 443),
then drives headless Chromium through the forward (tests/web/
browser_appliance_test.js, the self-signed certificate accepted):

  appliance_browser_login          the login form, then the dashboard
  appliance_browser_demo_console   the demo VM's console page: `echo $((6*7))`
                                   typed into xterm.js, 42 read back from the
                                   terminal's rows (through the WebSocket)
  appliance_browser_upload         the test guest's kernel and initramfs
                                   uploaded on the Images page
  appliance_browser_vm_create      a VM made with the form from those images
  appliance_browser_vm_start       started with its button; the guest's init
                                   line shows in the terminal
  appliance_browser_vm_list        both VMs in the list, web1 running
  appliance_browser_vm_stop        stopped with its button (ACPI power button)
  appliance_browser_devices, _settings   the screens render
  appliance_browser_mdev_create    an instance of the first mdev type (the
                                   kernel's mtty sample) made with its button
  appliance_mdev_remove            removed with DELETE /api/host/mdevs/UUID;
                                   a second DELETE is a 404
Screenshots of each screen: out/screenshots/appliance-*.png.

Prints "ok NAME" / "not ok NAME: reason". Logs in out/tests/browser-appliance/.
"""

import contextlib
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import appliance_api_test as a  # noqa: E402  (boot, Api, admin_hash, paths)
from qemu import QemuError, install_signal_handlers  # noqa: E402  (tests/lib, on the path after the import)

a.WORK = os.path.join(a.OUT, "tests", "browser-appliance")  # logs apart from appliance_api_test's
NPM_DIR = os.path.join(a.OUT, "tests", "web-npm")
PLAYWRIGHT = os.path.join(NPM_DIR, "node_modules", "playwright-core")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SHOTS = os.path.join(a.OUT, "screenshots")
DRIVER = os.path.join(HERE, "browser_appliance_test.js")


def missing():
    """What this needs and does not find, or None."""
    for f in (a.KVMBOX, a.KERNEL, a.INITRAMFS, a.IMG, a.GUEST_INITRD, a.DEMO_INITRD, PLAYWRIGHT, CHROMIUM):
        if not os.path.exists(f):
            return "%s is missing (make image test-build)" % f
    return None


@contextlib.contextmanager
def appliance(name):
    """The appliance booted with the demo VM running: yields its Api (logged
    in with a token) whose .port is the forward to 443."""
    os.makedirs(a.WORK, exist_ok=True)
    disk = os.path.join(a.WORK, "disk.img")
    subprocess.run(["cp", "--sparse=always", a.IMG, disk], check=True)
    subprocess.run([os.path.join(a.ROOT, "image", "run-demo.sh"), disk, a.KERNEL, a.DEMO_INITRD], check=True,
                   stdout=subprocess.DEVNULL)
    port = a.free_port()
    api = a.Api(port)
    with a.boot(name, disk, port, a.admin_hash()) as q:
        q.wait_for(a.READY_RE, 600, fail=a.FAIL_RE)
        if not api.wait_https(180):
            raise QemuError("no HTTPS answer through the forward")
        err = api.login()
        if err:
            raise QemuError(err)
        vm = api.wait_state("demo", ("running", "failed", "stopped"), 300)
        if not vm or vm["state"] != "running" or not api.wait_console("demo", r"kvmbox demo VM", 300):
            raise QemuError("the demo VM did not come up: %r" % vm)
        yield api
        q.powerdown()
        q.wait_exit(120)


def driver(api, mode, timeout, **extra):
    """Run the .js driver against the appliance; its CompletedProcess."""
    os.makedirs(SHOTS, exist_ok=True)
    env = dict(os.environ, KVMBOX_URL=api.base, PLAYWRIGHT_CORE=PLAYWRIGHT, CHROMIUM=CHROMIUM, SCREENSHOTS=SHOTS,
               PASSWORD=a.PASSWORD, GUEST_KERNEL=a.KERNEL, GUEST_INITRD=a.GUEST_INITRD, MODE=mode,
               **{k: str(v) for k, v in extra.items()})
    return subprocess.run(["node", DRIVER], env=env, capture_output=True, text=True, timeout=timeout)


def remove_mdev(api, out):
    """The instance the browser made goes with DELETE /api/host/mdevs/UUID;
    a second DELETE is a 404."""
    m = re.search(r"^# mdev_uuid ([0-9a-f-]{36})", out, re.M)
    if not m:
        return
    s1, _, t1 = api.call("DELETE", "/api/host/mdevs/" + m.group(1))
    s2, js, _ = api.call("DELETE", "/api/host/mdevs/" + m.group(1))
    a.result("appliance_mdev_remove", None if s1 == 204 and s2 == 404 and "no mdev" in js["error"]["message"]
             else "DELETE: %d %r, again: %d %r" % (s1, t1[:200], s2, js))


def main():
    install_signal_handlers()
    why = missing()
    if why:
        print("not ok appliance_browser: %s" % why, flush=True)
        return 1
    try:
        with appliance("browser-boot") as api:
            try:
                p = driver(api, "test", 900)
            except subprocess.TimeoutExpired as e:
                out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                sys.stdout.write(out)
                print("not ok appliance_browser: the browser ran past 900 s", flush=True)
                return 1
            sys.stdout.write(p.stdout)
            sys.stdout.flush()
            remove_mdev(api, p.stdout)
            if "not ok " in p.stdout or p.returncode:
                if "not ok " not in p.stdout:
                    print("not ok appliance_browser: the driver exited %d: %s" % (p.returncode, p.stderr[-800:]))
                return 1
    except QemuError as e:
        print("not ok appliance_browser_boot: %s" % e, flush=True)
        return 1
    return 1 if a.report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
