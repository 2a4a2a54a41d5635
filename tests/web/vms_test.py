#!/usr/bin/python3
"""The VM registry's API (vmm/api/api_vms.c, vmm/supervisor/vm_*.c) against
the real `out/kvmbox supervisor` on 127.0.0.1 (HTTPS only, port 0; the log
says which). A build host has no /dev/kvm as a rule, so starting a VM is a
503 that says why; every other request works as on the appliance.

  create_*, get, list, put_*, delete_*   the definition round trip: 201 with
                        Location and the definition echoed; PUT cannot rename;
                        pending_changes stays false while stopped; 204 then 404
  dup_409, bad_json_400, types_400, unknown_key_400, supervisor_keys_400,
  names_400, paths_*    bad definitions: 400 (or 409) JSON errors whose message
                        names the problem, and nothing stored
  too_large_413, content_type_415
  start_503_no_kvm      the no-KVM reason, also in GET /api/vms (can_start,
                        why_not)
  transitions_409       stop, pause, resume, reboot of a stopped VM: 409 naming
                        the state
  console_*, log_*, counters_409, offset_400, api_logs
  unauth_401, csrf_403, unknown_404
  disk_*                STATE/vms/NAME.json is {"version":1,"vm":{...}}, 0600,
                        replaced atomically (new inode, old one kept as .1), no
                        temporary files left
  restart_*             definitions survive a restart; a newer file version,
                        a corrupt or unusable file is logged, skipped, left
                        byte for byte as it was, and its name stays taken
  limit_*               VMS_MAX (256) VMs, then 409; all of them after a
                        restart; 50 definitions after a restart

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import https_test as h  # noqa: E402  (KVMBOX, ADMIN_*, client_ctx, tls_connect, read_response, check, result)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VMS_MAX = int(re.search(r"#define VMS_MAX (\d+)", open(os.path.join(ROOT, "vmm/supervisor/vms.h")).read()).group(1))
DEF_MAX = 64 * 1024

WEB = {"name": "web", "kernel": "bzImage", "mem": "512M", "cpus": 2, "cmdline": "console=ttyS0 quiet",
       "autostart": False, "restart": "on-failure"}


class Supervisor:
    """`kvmbox supervisor --https 127.0.0.1:0 --http none`; its log in STATE.log."""

    def __init__(self, state):
        self.state = state
        self.logpath = state + ".log"
        self.log_fd = open(self.logpath, "a")
        self.log_start = self.log_fd.tell()
        self.proc = subprocess.Popen([h.KVMBOX, "supervisor", "--https", "127.0.0.1:0", "--http", "none",
                                      "--state", state, "--auth-iterations", "1000", "--admin-hash", h.ADMIN_HASH],
                                     stdout=self.log_fd, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while "ready" not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError("supervisor exited with %d: %s" % (self.proc.returncode, self.log()[-500:]))
            if time.monotonic() > deadline:
                raise RuntimeError("supervisor not ready in 20 s: " + self.log()[-500:])
            time.sleep(0.05)
        self.port = int(re.search(r"https: listening on 127\.0\.0\.1:(\d+)", self.log()).group(1))
        self.cookie, self.csrf = login(self.port)
        st, _, rep = Client(self.port, cookie=self.cookie, csrf=self.csrf).request(
            "POST", "/api/auth/tokens", {"name": "vms test"})
        if st != 201:
            raise RuntimeError("token: %d %r" % (st, rep))
        self.token = rep["token"]

    def log(self):
        """This run's part of the log."""
        with open(self.logpath, errors="replace") as f:
            f.seek(self.log_start)
            return f.read()

    def client(self):
        return Client(self.port, self.token)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log_fd.close()
                return None
        self.log_fd.close()
        return self.proc.returncode


def login(port):
    body = json.dumps({"user": "admin", "password": h.ADMIN_PASSWORD}).encode()
    st, headers, rep = h.raw(port, b"POST /api/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    if st != 200:
        raise RuntimeError("login: %d %r" % (st, rep))
    return headers["set-cookie"].split(";")[0], json.loads(rep)["csrf"]


class Client:
    """Requests over one kept-alive TLS connection (http.client opens a new
    one when the server closes it)."""

    def __init__(self, port, token=None, cookie=None, csrf=None):
        self.port, self.token, self.cookie, self.csrf = port, token, cookie, csrf
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, ctype="application/json", headers=None):
        """(status, headers with lower-case names, parsed JSON or the bytes)."""
        hd = {}
        if self.token:
            hd["Authorization"] = "Bearer " + self.token
        if self.cookie:
            hd["Cookie"] = self.cookie
        if self.csrf:
            hd["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            if ctype:
                hd["Content-Type"] = ctype
        elif method in ("POST", "PUT"):
            data = b""
        hd.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=h.client_ctx(), timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=hd)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a kept-alive connection the server had closed
                if attempt:
                    raise
        rh = {k.lower(): v for k, v in r.getheaders()}
        if rh.get("content-type", "").startswith("application/json") and raw:
            return r.status, rh, json.loads(raw)
        return r.status, rh, raw


def err(resp, want_status, want_code, *words):
    """None when resp is the JSON error want_status/want_code whose message
    holds every one of words; else what is wrong."""
    st, hd, rep = resp
    if st != want_status:
        return "status %d, want %d: %r" % (st, want_status, rep)
    if hd.get("content-type") != "application/json":
        return "content type %r: %r" % (hd.get("content-type"), rep)
    if not isinstance(rep, dict) or set(rep) != {"error"} or set(rep["error"]) != {"code", "message"}:
        return "not the error shape: %r" % (rep,)
    if rep["error"]["code"] != want_code:
        return "code %r, want %r: %r" % (rep["error"]["code"], want_code, rep)
    msg = rep["error"]["message"]
    for w in words:
        if w not in msg:
            return "the message does not name %r: %r" % (w, msg)
    return None


def first(*errs):
    for e in errs:
        if e:
            return e
    return None


def vm_files(state):
    d = os.path.join(state, "vms")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def stray_files(state):
    """Anything in STATE/vms that is not NAME.json or its previous version NAME.json.1."""
    return [f for f in vm_files(state) if not re.fullmatch(r"[A-Za-z0-9_-]+\.json(\.1)?", f)]


def read_vm_file(state, name):
    with open(os.path.join(state, "vms", name + ".json"), "rb") as f:
        return f.read()


def names_of(c):
    st, _, rep = c.request("GET", "/api/vms")
    if st != 200:
        raise RuntimeError("list: %d %r" % (st, rep))
    return [x["name"] for x in rep["vms"]], rep


# --- the checks on one supervisor with a fresh state ---

def run_api(sup, t):
    c = sup.client()
    state = sup.state

    def list_empty():
        st, hd, rep = c.request("GET", "/api/vms")
        if st != 200 or rep.get("vms") != [] or not isinstance(rep.get("can_start"), bool):
            return "%d %r" % (st, rep)
        t["can_start"] = rep["can_start"]
        t["why_not"] = rep.get("why_not")
        if not rep["can_start"] and (not t["why_not"] or "/dev/kvm" not in t["why_not"]):
            return "can_start false without a why_not naming /dev/kvm: %r" % rep
        return None
    h.check("list_empty", list_empty)

    def create():
        st, hd, rep = c.request("POST", "/api/vms", WEB)
        if st != 201:
            return "status %d %r" % (st, rep)
        if hd.get("location") != "/api/vms/web":
            return "Location %r" % hd.get("location")
        if rep.get("definition") != WEB:
            return "definition not echoed: %r" % rep.get("definition")
        want = {"name": "web", "state": "stopped", "autostart": False, "restart": "on-failure",
                "restarts": 0, "last_exit": None, "pending_changes": False, "transient": False}
        for k, v in want.items():
            if rep.get(k) != v:
                return "%s is %r, want %r: %r" % (k, rep.get(k), v, rep)
        if "pid" in rep:
            return "a stopped VM with a pid: %r" % rep
        return None
    h.check("create_201", create)

    def get():
        st, _, rep = c.request("GET", "/api/vms/web")
        return None if st == 200 and rep["name"] == "web" and rep["definition"] == WEB and \
            rep["state"] == "stopped" else "%d %r" % (st, rep)
    h.check("get_200", get)

    def listed():
        names, rep = names_of(c)
        return None if names == ["web"] and rep["vms"][0]["definition"] == WEB else "%r" % rep
    h.check("list_200", listed)

    h.check("dup_409", lambda: err(c.request("POST", "/api/vms", dict(WEB, cpus=1)), 409, "conflict",
                                   '"web"', "exists"))
    h.check("dup_kept_first", lambda: None if c.request("GET", "/api/vms/web")[2]["definition"] == WEB
            else "the duplicate changed the first")

    def disk_file():
        raw = read_vm_file(state, "web")
        doc = json.loads(raw)
        if doc != {"version": 1, "vm": WEB}:
            return "file holds %r" % doc
        mode = os.stat(os.path.join(state, "vms", "web.json")).st_mode & 0o777
        if mode != 0o600:
            return "mode %o" % mode
        return "stray files: %r" % stray_files(state) if stray_files(state) else None
    h.check("disk_version_1", disk_file)

    # --- PUT ---
    def put():
        before_raw = read_vm_file(state, "web")
        before_ino = os.stat(os.path.join(state, "vms", "web.json")).st_ino
        new = dict(WEB, cpus=4, autostart=True, restart="always")
        del new["name"]  # the name comes from the URL
        st, _, rep = c.request("PUT", "/api/vms/web", new)
        if st != 200:
            return "status %d %r" % (st, rep)
        if rep["definition"] != dict(new, name="web") or rep["autostart"] is not True or rep["restart"] != "always":
            return "reply %r" % rep
        if rep["pending_changes"] is not False:
            return "pending_changes %r while stopped" % rep["pending_changes"]
        if c.request("GET", "/api/vms/web")[2]["definition"] != dict(new, name="web"):
            return "GET does not show the change"
        if json.loads(read_vm_file(state, "web")) != {"version": 1, "vm": dict(new, name="web")}:
            return "the file does not hold the change"
        # Replaced by rename: a new inode; the old one is kept as web.json.1.
        st1 = os.stat(os.path.join(state, "vms", "web.json.1"))
        if os.stat(os.path.join(state, "vms", "web.json")).st_ino == before_ino or st1.st_ino != before_ino:
            return "web.json was rewritten in place, not replaced"
        if open(os.path.join(state, "vms", "web.json.1"), "rb").read() != before_raw:
            return "web.json.1 is not the previous version"
        if stray_files(state):
            return "stray files: %r" % stray_files(state)
        # Back to WEB for the later checks.
        st, _, rep = c.request("PUT", "/api/vms/web", WEB)
        return None if st == 200 and rep["definition"] == WEB else "put back: %d %r" % (st, rep)
    h.check("put_200_pending_false", put)

    def put_rename():
        e = err(c.request("PUT", "/api/vms/web", dict(WEB, name="web2")), 400, "bad_request", "renamed")
        if e:
            return e
        if c.request("GET", "/api/vms/web2")[0] != 404 or c.request("GET", "/api/vms/web")[2]["definition"] != WEB:
            return "renamed after all"
        return None if not os.path.exists(os.path.join(state, "vms", "web2.json")) else "web2.json written"
    h.check("put_rename_refused", put_rename)
    h.check("put_name_mismatch", lambda: err(c.request("PUT", "/api/vms/web", dict(WEB, name="other")),
                                             400, "bad_request", '"web"', '"other"'))

    def put_bad():
        raw = read_vm_file(state, "web")
        e = err(c.request("PUT", "/api/vms/web", dict(WEB, cpus="two")), 400, "bad_request", "cpus")
        if e:
            return e
        if c.request("GET", "/api/vms/web")[2]["definition"] != WEB or read_vm_file(state, "web") != raw:
            return "a refused PUT changed the VM"
        return first(err(c.request("PUT", "/api/vms/web", WEB, ctype="text/plain"), 415, "unsupported_media_type",
                         "application/json"),
                     err(c.request("PUT", "/api/vms/web", b"{nope"), 400, "bad_request", "JSON"),
                     err(c.request("PUT", "/api/vms/nosuch", dict(WEB, name="nosuch")), 404, "not_found", "nosuch"))
    h.check("put_refused_unchanged", put_bad)

    # --- bad definitions ---
    def refused(body, status, code, *words, ctype="application/json"):
        """POST body: the error, and nothing new listed or on disk."""
        before_files, before_names = vm_files(state), names_of(c)[0]
        e = err(c.request("POST", "/api/vms", body, ctype=ctype), status, code, *words)
        if e:
            return "%r: %s" % (body if not isinstance(body, bytes) or len(body) < 200 else body[:60], e)
        if vm_files(state) != before_files or names_of(c)[0] != before_names:
            return "%r: something was stored" % (body if len(body) < 200 else body[:60],)
        return None

    h.check("bad_json_400", lambda: first(
        refused(b'{"name": "x", "kernel": ', 400, "bad_request", "not valid JSON"),
        refused(b'{"name": "x",}', 400, "bad_request", "not valid JSON"),
        refused(b'', 400, "bad_request", "JSON"),
        refused(b'["name", "x"]', 400, "bad_request", "JSON object"),
        refused(b'"web"', 400, "bad_request", "JSON object")))

    h.check("types_400", lambda: first(
        refused(dict(WEB, name="t1", cpus="two"), 400, "bad_request", "cpus", "two"),
        refused(dict(WEB, name="t2", mem=True), 400, "bad_request", "mem"),
        refused(dict(WEB, name="t3", autostart="yes"), 400, "bad_request", "autostart", "true or false"),
        refused(dict(WEB, name="t4", restart="sometimes"), 400, "bad_request", "restart", "on-failure"),
        refused(dict(WEB, name="t5", restart=1), 400, "bad_request", "restart"),
        refused(dict(WEB, name="t6", cpus=-1), 400, "bad_request", "cpus"),
        refused(dict(WEB, name="t7", cpus=0), 400, "bad_request", "cpus"),
        refused(dict(WEB, name="t8", mem="lots"), 400, "bad_request", "mem", "lots"),
        refused(dict(WEB, name="t9", disks="disk.img"), 400, "bad_request", "disks"),
        refused(dict(WEB, name=7), 400, "bad_request", "name")))

    h.check("unknown_key_400", lambda: first(
        refused(dict(WEB, name="u1", colour="red"), 400, "bad_request", "colour"),
        refused(dict(WEB, name="u2", disks=[{"path": "d.img", "speed": "fast"}]), 400, "bad_request", "speed")))

    h.check("supervisor_keys_400", lambda: first(
        refused(dict(WEB, name="s1", serial="socket:/tmp/s"), 400, "bad_request", '"serial"', "supervisor"),
        refused(dict(WEB, name="s2", serial="stdio"), 400, "bad_request", '"serial"', "supervisor"),
        refused(dict(WEB, name="s3", control="/tmp/ctl"), 400, "bad_request", '"control"', "supervisor")))

    def names():
        for n in ("a/b", "..", "../etc", "a b", " web", "web ", "a.b", "a\\b", "wéb", "x" * 64, "web\n"):
            e = refused(dict(WEB, name=n), 400, "bad_request", "name")
            if e:
                return e
        e = refused({"kernel": "bzImage"}, 400, "bad_request", '"name" is missing')
        if e:
            return e
        return refused(dict(WEB, name=""), 400, "bad_request", "name")
    h.check("names_400", names)

    def paths_refused():
        for kw, word in ((dict(kernel="../x"), "../x"), (dict(kernel="a/b"), "a/b"),
                         (dict(kernel=".hidden"), ".hidden"),
                         (dict(kernel="/boot/../etc/shadow"), ".."), (dict(kernel="/boot/.."), ".."),
                         (dict(kernel=".."), ".."),
                         (dict(initrd="../initrd.img"), "../initrd.img"),
                         (dict(disks=["../disk.img"]), "../disk.img"),
                         (dict(disks=[{"path": "sub/disk.img"}]), "sub/disk.img"),
                         (dict(disk="../d.img"), "../d.img")):
            e = refused(dict(WEB, name="p", **kw), 400, "bad_request", word)
            if e:
                return e
        return refused({"name": "p", "mem": "512M"}, 400, "bad_request", "kernel")
    h.check("paths_traversal_400", paths_refused)

    def paths_ok():
        for n, kw in (("abs", dict(kernel="/boot/vmlinuz", initrd="/boot/initrd.img", disks=["/dev/vdb"])),
                      ("img", dict(kernel="bzImage-6.12", initrd="initramfs.cpio.gz", disks=[{"path": "disk.img"}]))):
            d = dict(WEB, name=n, **kw)
            st, _, rep = c.request("POST", "/api/vms", d)
            if st != 201 or rep["definition"] != d:
                return "%s: %d %r" % (n, st, rep)
            if c.request("DELETE", "/api/vms/" + n)[0] != 204:
                return "%s: not deleted" % n
        return None
    h.check("paths_absolute_and_image_ok", paths_ok)

    def too_large():
        # Valid JSON just over 64 KiB (the server takes bodies up to 256 KiB):
        # the registry's own limit.
        big = json.dumps(dict(WEB, name="big")).encode()
        big = big[:-1] + b" " * (DEF_MAX + 1 - len(big)) + b"}"
        e = refused(big, 413, "body_too_large", str(DEF_MAX))
        if e:
            return e
        # Exactly 64 KiB is fine.
        ok = big[:-2] + b"}"
        st, _, rep = c.request("POST", "/api/vms", ok)
        if st != 201:
            return "64 KiB: %d %r" % (st, rep)
        if c.request("DELETE", "/api/vms/big")[0] != 204:
            return "big not deleted"
        e = err(c.request("PUT", "/api/vms/web", big), 413, "body_too_large", str(DEF_MAX))
        if e:
            return "PUT: " + e
        # A PUT without "name" just under 64 KiB: stored with the name in
        # front it would pass the limit and never load again, so it is refused.
        # (Escapes keep each string within the VMM's own 4 KiB limits.)
        x = b"\\u0078"
        grow = b'{"kernel":"/' + x * 4000 + b'","autostart":false,"restart":"always","cmdline":"' + x * 4000 + \
            b'","initrd":"/'
        grow += x * ((DEF_MAX - len(grow) - 2) // 6)
        grow += b"x" * (DEF_MAX - len(grow) - 2) + b'"}'
        before = read_vm_file(state, "web")
        e = err(c.request("PUT", "/api/vms/web", grow), 413, "body_too_large", str(DEF_MAX))
        if e:
            return "PUT growing past the limit: " + e
        if read_vm_file(state, "web") != before:
            return "PUT growing past the limit changed web.json"
        # Over the server's own limit: refused from the head.
        s = h.tls_connect(sup.port)
        try:
            s.sendall(("POST /api/vms HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
                       (sup.token, 1 << 20)).encode())
            st, hd, body, _ = h.read_response(s)
        finally:
            s.close()
        return err((st, hd, json.loads(body)), 413, "body_too_large")
    h.check("too_large_413", too_large)

    def content_type():
        e = first(refused(dict(WEB, name="ct"), 415, "unsupported_media_type", "application/json", ctype="text/plain"),
                  refused(dict(WEB, name="ct"), 415, "unsupported_media_type", "application/json", ctype=None),
                  refused(dict(WEB, name="ct"), 415, "unsupported_media_type", "application/json",
                          ctype="application/jsonp"),
                  refused(dict(WEB, name="ct"), 415, "unsupported_media_type", "application/json",
                          ctype="application/x-www-form-urlencoded"))
        if e:
            return e
        st, _, rep = c.request("POST", "/api/vms", dict(WEB, name="ct"), ctype="Application/JSON; charset=utf-8")
        if st != 201:
            return "with a charset: %d %r" % (st, rep)
        return None if c.request("DELETE", "/api/vms/ct")[0] == 204 else "ct not deleted"
    h.check("content_type_415", content_type)

    # --- lifecycle on a host without KVM ---
    def start():
        if t["can_start"]:
            return None  # /dev/kvm works here: nothing to refuse
        e = err(c.request("POST", "/api/vms/web/start"), 503, "unavailable", "/dev/kvm")
        if e:
            return e
        msg = c.request("POST", "/api/vms/web/start")[2]["error"]["message"]
        if msg != t["why_not"]:
            return "the 503 says %r, GET /api/vms says %r" % (msg, t["why_not"])
        st, _, rep = c.request("GET", "/api/vms/web")
        if rep["state"] != "stopped" or "pid" in rep:
            return "after a refused start: %r" % rep
        return None if not os.listdir(os.path.join(state, "run")) else \
            "a refused start left %r in STATE/run" % os.listdir(os.path.join(state, "run"))
    h.check("start_503_no_kvm", start)
    if t["can_start"]:
        print("# /dev/kvm works here: start_503_no_kvm checked nothing")

    def transitions():
        for act, words in (("stop", ("web", "stopped", "not running")), ("pause", ("web", "stopped", "running")),
                           ("resume", ("web", "stopped", "paused")), ("reboot", ("web", "stopped", "running"))):
            e = err(c.request("POST", "/api/vms/web/" + act), 409, "conflict", *words)
            if e:
                return "%s: %s" % (act, e)
        e = err(c.request("POST", "/api/vms/web/stop", {"force": True}), 409, "conflict", "stopped")
        if e:
            return "stop with force: " + e
        e = err(c.request("POST", "/api/vms/web/stop", b"nope"), 400, "bad_request", "force")
        if e:
            return "stop with a bad body: " + e
        e = err(c.request("POST", "/api/vms/web/stop", {"force": "yes"}), 400, "bad_request", "force")
        if e:
            return "stop with force \"yes\": " + e
        return None if c.request("GET", "/api/vms/web")[2]["state"] == "stopped" else "state changed"
    h.check("transitions_409", transitions)

    def console_get():
        for q in ("", "?offset=0", "?offset=12345"):
            st, hd, body = c.request("GET", "/api/vms/web/console" + q)
            if st != 200 or body != b"" or hd.get("x-console-offset") != "0" or hd.get("x-console-start") != "0":
                return "%s: %d %r %r" % (q, st, hd, body)
            if not hd.get("content-type", "").startswith("text/plain"):
                return "content type %r" % hd.get("content-type")
        return None
    h.check("console_get_empty", console_get)

    def offset_400():
        for q in ("abc", "-1", "1x", "99999999999999999999999", "", "0x10"):
            e = err(c.request("GET", "/api/vms/web/console?offset=" + q), 400, "bad_request", "offset")
            if e:
                return "?offset=%s: %s" % (q, e)
        return err(c.request("GET", "/api/vms/web/log?offset=abc"), 400, "bad_request", "offset")
    h.check("offset_400", offset_400)

    h.check("console_post_409", lambda: first(
        err(c.request("POST", "/api/vms/web/console", b"root\n", ctype="application/octet-stream"),
            409, "conflict", "web", "stopped"),
        err(c.request("POST", "/api/vms/web/console"), 409, "conflict", "stopped")))
    h.check("counters_409", lambda: err(c.request("GET", "/api/vms/web/counters"), 409, "conflict", "web", "stopped"))

    def log_get():
        st, hd, body = c.request("GET", "/api/vms/web/log")
        return None if st == 200 and body == b"" and hd.get("x-console-offset") == "0" else "%d %r %r" % (st, hd, body)
    h.check("log_get_empty", log_get)

    def api_logs():
        st, hd, body = c.request("GET", "/api/logs")
        if st != 200 or not hd.get("content-type", "").startswith("text/plain"):
            return "%d %r" % (st, hd)
        text = body.decode(errors="replace")
        return None if "vms: defined web" in text and "ready" in text else "log lacks the lines: %r" % text[-300:]
    h.check("api_logs", api_logs)

    # --- authentication ---
    endpoints = [("GET", "/api/vms"), ("POST", "/api/vms"), ("GET", "/api/vms/web"), ("PUT", "/api/vms/web"),
                 ("DELETE", "/api/vms/web"), ("POST", "/api/vms/web/start"), ("POST", "/api/vms/web/stop"),
                 ("POST", "/api/vms/web/reboot"), ("POST", "/api/vms/web/pause"), ("POST", "/api/vms/web/resume"),
                 ("GET", "/api/vms/web/console"), ("POST", "/api/vms/web/console"), ("GET", "/api/vms/web/counters"),
                 ("GET", "/api/vms/web/log"), ("GET", "/api/logs")]

    def unauth():
        anon = Client(sup.port)
        bad = Client(sup.port, token="kvmbox_" + "A" * 43)
        for method, path in endpoints:
            body = WEB if method in ("POST", "PUT") else None
            for who in (anon, bad):
                e = err(who.request(method, path, body), 401, "unauthorized")
                if e:
                    return "%s %s: %s" % (method, path, e)
        anon.close()
        bad.close()
        return None if c.request("GET", "/api/vms/web")[0] == 200 else "web is gone"
    h.check("unauth_401", unauth)

    def csrf():
        nocsrf = Client(sup.port, cookie=sup.cookie)
        for method, path in endpoints:
            if method == "GET":
                continue
            e = err(nocsrf.request(method, path, dict(WEB, name="viacookie") if method == "POST" else WEB),
                    403, "forbidden", "CSRF")
            if e:
                return "%s %s without X-CSRF-Token: %s" % (method, path, e)
        if names_of(c)[0] != ["web"]:
            return "a refused request changed the list: %r" % names_of(c)[0]
        st, _, rep = nocsrf.request("GET", "/api/vms/web")
        if st != 200:
            return "GET with the cookie: %d" % st
        withcsrf = Client(sup.port, cookie=sup.cookie, csrf=sup.csrf)
        st, _, rep = withcsrf.request("POST", "/api/vms", dict(WEB, name="viacookie"))
        if st != 201:
            return "with X-CSRF-Token: %d %r" % (st, rep)
        st = withcsrf.request("DELETE", "/api/vms/viacookie")[0]
        nocsrf.close()
        withcsrf.close()
        return None if st == 204 else "delete with X-CSRF-Token: %d" % st
    h.check("csrf_403", csrf)

    def unknown():
        for method, path in endpoints:
            if "/web" not in path:
                continue
            path = path.replace("/web", "/nosuch")
            body = dict(WEB, name="nosuch") if method == "PUT" else None
            e = err(c.request(method, path, body), 404, "not_found", "nosuch")
            if e:
                return "%s %s: %s" % (method, path, e)
        return None
    h.check("unknown_404", unknown)

    def delete():
        st, _, rep = c.request("POST", "/api/vms", dict(WEB, name="doomed"))
        if st != 201:
            return "create: %d %r" % (st, rep)
        c.request("PUT", "/api/vms/doomed", dict(WEB, name="doomed", cpus=3))  # leaves doomed.json.1
        st, hd, body = c.request("DELETE", "/api/vms/doomed")
        if st != 204 or body:
            return "delete: %d %r" % (st, body)
        e = first(err(c.request("GET", "/api/vms/doomed"), 404, "not_found", "doomed"),
                  err(c.request("DELETE", "/api/vms/doomed"), 404, "not_found", "doomed"))
        if e:
            return e
        left = [f for f in vm_files(state) if f.startswith("doomed")]
        if left:
            return "left on disk: %r" % left
        if names_of(c)[0] != ["web"]:
            return "list %r" % names_of(c)[0]
        # The name is free again.
        st, _, _ = c.request("POST", "/api/vms", dict(WEB, name="doomed"))
        return None if st == 201 and c.request("DELETE", "/api/vms/doomed")[0] == 204 else "not created again"
    h.check("delete_204_then_404", delete)

    h.check("no_temp_files", lambda: "stray files: %r" % stray_files(state) if stray_files(state) else None)
    c.close()


# --- files a newer or broken kvmbox might leave ---

BAD_FILES = {
    # name: (content, a phrase of its log line)
    "future": (b'{"version": 2, "vm": {"name": "future", "kernel": "bzImage", "cpus": 1, "gpu": "yes"}}\n',
               "was written by a newer kvmbox"),
    "broken": (b'{"version":1,"vm":{"name":"broken","kernel":', "not a kvmbox VM file"),
    "noversion": (b'{"vm": {"name": "noversion", "kernel": "bzImage"}}', "not a kvmbox VM file"),
    "badpath": (b'{"version":1,"vm":{"name":"badpath","kernel":"../../etc/shadow"}}', "neither an absolute path"),
    # A file whose VM is named differently: loading it as "web" would make two
    # VMs of one name, and deleting that one would leave this file behind.
    "alias": (b'{"version":1,"vm":{"name":"web","kernel":"other"}}', "alias.json"),
}


def run_restart(work):
    state = os.path.join(work, "restart")
    sup = Supervisor(state)
    try:
        c = sup.client()
        defs = {"web": WEB, "db": dict(WEB, name="db", cpus=1, mem=1 << 30, autostart=True, restart="always",
                                        disks=[{"path": "db.img", "readonly": "off"}], nics=[{"user": "on"}])}
        for d in defs.values():
            st, _, rep = c.request("POST", "/api/vms", d)
            if st != 201:
                raise RuntimeError("create %s: %d %r" % (d["name"], st, rep))
        c.request("PUT", "/api/vms/web", dict(WEB, cmdline="changed"))
        defs["web"] = dict(WEB, cmdline="changed")
        c.close()
    finally:
        rc = sup.stop()
    h.check("restart_clean_exit", lambda: None if rc == 0 else "exit status %r" % rc)

    for name, (content, _) in BAD_FILES.items():
        with open(os.path.join(state, "vms", name + ".json"), "wb") as f:
            f.write(content)
    # What a crash mid-write leaves: a temporary file, never loaded.
    with open(os.path.join(state, "vms", ".ghost.json.tmp.123"), "wb") as f:
        f.write(json.dumps({"version": 1, "vm": dict(WEB, name="ghost")}).encode())
    snapshot = {f: open(os.path.join(state, "vms", f), "rb").read() for f in vm_files(state)}

    sup = Supervisor(state)
    try:
        c = sup.client()
        log = sup.log()

        def kept():
            st, _, rep = c.request("GET", "/api/vms")
            got = {x["name"]: x["definition"] for x in rep["vms"]}
            if got != defs:
                return "after the restart: %r" % got
            db = [x for x in rep["vms"] if x["name"] == "db"][0]
            if db["autostart"] is not True or db["restart"] != "always" or db["state"] not in ("stopped", "failed"):
                return "db: %r" % db
            return None
        h.check("restart_keeps_definitions", kept)

        def no_dups():
            names = names_of(c)[0]
            return None if len(names) == len(set(names)) else "a name twice: %r" % names
        h.check("restart_no_duplicate_names", no_dups)

        def future():
            e = err(c.request("GET", "/api/vms/future"), 404, "not_found")
            if e:
                return "loaded: " + e
            if not re.search(r"future\.json was written by a newer kvmbox", log):
                return "no log line: %r" % log[-600:]
            e = err(c.request("POST", "/api/vms", dict(WEB, name="future")), 409, "conflict", '"future"', "exists")
            if e:
                return "create of its name: " + e
            e = err(c.request("DELETE", "/api/vms/future"), 404, "not_found")
            if e:
                return "delete: " + e
            return None if read_vm_file(state, "future") == BAD_FILES["future"][0] else "the file was changed"
        h.check("restart_future_version_skipped", future)

        def bad(name, phrase):
            def fn():
                if name in names_of(c)[0]:
                    return "%s was loaded" % name
                line = [ln for ln in log.splitlines() if name + ".json" in ln]
                if not line or phrase not in line[0]:
                    return "log line %r lacks %r" % (line, phrase)
                e = err(c.request("POST", "/api/vms", dict(WEB, name=name)), 409, "conflict", name)
                if e:
                    return "create of its name: " + e
                return None if read_vm_file(state, name) == BAD_FILES[name][0] else "the file was changed"
            return fn
        for name, (_, phrase) in BAD_FILES.items():
            if name != "future":
                h.check("restart_%s_skipped" % name, bad(name, phrase))

        h.check("restart_temp_file_ignored", lambda: None if "ghost" not in names_of(c)[0] else "ghost loaded")

        def untouched():
            now = {f: open(os.path.join(state, "vms", f), "rb").read() for f in vm_files(state)}
            changed = sorted(f for f in set(now) | set(snapshot) if now.get(f) != snapshot.get(f))
            return None if not changed else "STATE/vms changed: %r" % changed
        h.check("restart_files_untouched", untouched)

        def delete_after():
            if c.request("DELETE", "/api/vms/web")[0] != 204:
                return "delete failed"
            # alias.json stays: it is not web's file.
            if os.path.exists(os.path.join(state, "vms", "web.json")):
                return "web.json still there"
            return None if read_vm_file(state, "alias") == BAD_FILES["alias"][0] else "alias.json changed"
        h.check("restart_delete_after", delete_after)
        c.close()
    finally:
        rc = sup.stop()
    h.check("restart_clean_exit_2", lambda: None if rc == 0 else "exit status %r" % rc)


def create_many(port, token, names, workers=8):
    """POST every name, over `workers` connections at once; the statuses."""
    def part(chunk):
        c = Client(port, token)
        out = [c.request("POST", "/api/vms", dict(WEB, name=n, cpus=1 + i % 8))[0] for i, n in chunk]
        c.close()
        return out
    items = list(enumerate(names))
    chunks = [items[i::workers] for i in range(workers)]
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return [s for r in ex.map(part, chunks) for s in r]


def run_limits(work):
    state = os.path.join(work, "limit")
    sup = Supervisor(state)
    try:
        c = sup.client()

        def limit():
            t0 = time.monotonic()
            statuses = create_many(sup.port, sup.token, ["vm%03d" % i for i in range(VMS_MAX)])
            if statuses != [201] * VMS_MAX:
                return "creates: %r" % sorted(set(statuses))
            e = err(c.request("POST", "/api/vms", dict(WEB, name="onemore")), 409, "conflict", str(VMS_MAX))
            if e:
                return "VM %d: %s" % (VMS_MAX + 1, e)
            names = names_of(c)[0]
            if len(names) != VMS_MAX or "onemore" in names:
                return "%d listed" % len(names)
            if os.path.exists(os.path.join(state, "vms", "onemore.json")):
                return "onemore.json written"
            # Deleting one makes room for one.
            if c.request("DELETE", "/api/vms/vm000")[0] != 204 or \
                    c.request("POST", "/api/vms", dict(WEB, name="onemore"))[0] != 201:
                return "no room after a delete"
            print("# %d VMs created in %.1f s" % (VMS_MAX, time.monotonic() - t0))
            return None
        h.check("limit_%d_then_409" % VMS_MAX, limit)
        c.close()
    finally:
        sup.stop()

    sup = Supervisor(state)
    try:
        def all_back():
            names = names_of(sup.client())[0]
            return None if len(names) == VMS_MAX and "onemore" in names and "vm000" not in names else \
                "%d listed after a restart" % len(names)
        h.check("limit_all_after_restart", all_back)
    finally:
        sup.stop()

    state = os.path.join(work, "fifty")
    sup = Supervisor(state)
    try:
        statuses = create_many(sup.port, sup.token, ["f%02d" % i for i in range(50)], workers=4)
        before = names_of(sup.client())[1]["vms"]
    finally:
        sup.stop()
    sup = Supervisor(state)
    try:
        def fifty():
            if statuses != [201] * 50:
                return "creates: %r" % statuses
            after = names_of(sup.client())[1]["vms"]
            b = {x["name"]: x["definition"] for x in before}
            a = {x["name"]: x["definition"] for x in after}
            return None if len(a) == 50 and a == b else "%d of 50 after a restart" % len(a)
        h.check("restart_50_listed", fifty)
    finally:
        sup.stop()


def main():
    if not os.access(h.KVMBOX, os.X_OK):
        h.result("vms_binary", "%s is missing; run make out/kvmbox" % h.KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-vms-")
    try:
        sup = Supervisor(os.path.join(work, "state"))
        try:
            run_api(sup, {})
            h.check("supervisor_alive", lambda: None if sup.proc.poll() is None else "exited %d" % sup.proc.returncode)
        finally:
            rc = sup.stop()
            if rc != 0:
                h.result("clean_exit", "exit status %r; log: %s" % (rc, sup.log()[-500:]))
        for part in (run_restart, run_limits):
            try:
                part(work)
            except Exception as e:  # a setup failure: the checks after it did not run
                h.result(part.__name__, "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
