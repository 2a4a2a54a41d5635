#!/usr/bin/python3
"""`kvmbox ctl` (vmm/ctl/) against the real `out/kvmbox supervisor` on
127.0.0.1, with HOME in a temporary folder (so ~/.config/kvmbox is its own).

  tofu_*            no trust option: refused (exit 3) showing the fingerprint the
                    supervisor logged; nothing sent, nothing remembered
  fingerprint_*     a wrong one: exit 3 naming both; the right one (any case, colons
                    optional) works and is remembered in known_hosts; later calls
                    need no option; a changed certificate is refused
  insecure_warns    --insecure works and warns on stderr
  cacert_verifies   --cacert with the certificate itself as the CA; a CA file that
                    does not load is a usage error
  usage_*, conn_*   exit 2 for usage errors, 3 for DNS and refused connections
  login_*           login --password-stdin stores a token (0600) per URL; a wrong
                    password is the API's message with exit 1
  host_*, pci_*     text and --json
  token_*           create (the secret works as --token), list, delete (then 401)
  api_*             the raw escape hatch: GET, POST from stdin, an error's text and
                    exit status
  passwd_*          change the password; a wrong current one is refused
  vm_*, logs        create/list/show/edit/start/console/log/counters/stop/delete
  image_*           upload (streamed past the 256 KiB body limit, with its SHA-256),
                    list, a second upload refused, --replace, delete

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import https_test as h  # noqa: E402  (Supervisor, check, result)

KVMBOX = h.KVMBOX
PASSWORD = h.ADMIN_PASSWORD  # the supervisor starts with --admin-hash of it
NEW_PASSWORD = "a brand new passphrase"


class Ctl:
    """Runs `kvmbox ctl` with its own HOME."""

    def __init__(self, home, url=None):
        self.home = home
        self.url = url
        os.makedirs(home, exist_ok=True)

    def __call__(self, *args, stdin=None, url=True, env=None, timeout=60):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("KVMBOX_") and k != "XDG_CONFIG_HOME"}
        e["HOME"] = self.home
        e.update(env or {})
        argv = [KVMBOX, "ctl"] + (["--url", self.url] if url and self.url else []) + list(args)
        p = subprocess.run(argv, input=(stdin or "").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=e, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def path(self, name):
        return os.path.join(self.home, ".config", "kvmbox", name)


def want(rc, out, err, code, needle=None, where="err"):
    """None if the exit status is code and needle is in stdout or stderr."""
    if rc != code:
        return "exit %d, want %d; stdout %r stderr %r" % (rc, code, out[-400:], err[-400:])
    text = err if where == "err" else out
    if needle and needle not in text:
        return "%r not in std%s: %r" % (needle, where, text[-600:])
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def trust_checks(sup, work, url, fp):
    c = Ctl(os.path.join(work, "home-trust"), url)
    plain = fp.replace(":", "").lower()

    def tofu():
        rc, out, err = c("host")
        e = want(rc, out, err, 3, fp) or want(rc, out, err, 3, "--fingerprint")
        if e:
            return e
        if os.path.exists(c.path("known_hosts")):
            return "known_hosts written without --fingerprint"
        return None
    h.check("tofu_refused_shows_logged_fingerprint", tofu)

    def wrong():
        bad = ("00" if not plain.startswith("00") else "11") + plain[2:]
        rc, out, err = c("--fingerprint", bad, "host")
        e = want(rc, out, err, 3, "mismatch")
        if e:
            return e
        if fp not in err or bad.upper()[:2] + ":" + fp[3:] not in err:
            return "both fingerprints are not in %r" % err
        if os.path.exists(c.path("known_hosts")):
            return "a wrong fingerprint was remembered"
        return None
    h.check("fingerprint_wrong_exit3", wrong)

    h.check("fingerprint_bad_format_usage",
            lambda: want(*c("--fingerprint", "abc", "host"), 2, "64 hex digits"))

    def insecure():
        d = Ctl(os.path.join(work, "home-insecure"), url)
        rc, out, err = d("--insecure", "api", "GET", "/api/host")
        # No credentials: the API's 401, but the connection was made.
        e = want(rc, out, err, 1, "warning") or want(rc, out, err, 1, "--insecure")
        if e:
            return e
        if os.path.exists(d.path("known_hosts")):
            return "--insecure remembered a fingerprint"
        return None
    h.check("insecure_warns", insecure)
    return c, plain


def login_checks(sup, work, url, fp, c, plain):
    def wrong_pw():
        rc, out, err = c("--fingerprint", plain, "login", "--password-stdin", stdin="not the password\n")
        return want(rc, out, err, 1, "wrong user or password")
    h.check("login_wrong_password", wrong_pw)

    def login():
        rc, out, err = c("--fingerprint", plain, "login", "--password-stdin", stdin=PASSWORD + "\n")
        e = want(rc, out, err, 0, "logged in", where="out")
        if e:
            return e
        st = os.stat(c.path("token"))
        if st.st_mode & 0o777 != 0o600:
            return "token file mode %o" % (st.st_mode & 0o777)
        with open(c.path("token")) as f:
            line = f.read()
        if not re.match(r"^%s kvmbox_\S+\n$" % re.escape(url.lower()), line):
            return "token file holds %r" % line
        with open(c.path("known_hosts")) as f:
            kh = f.read()
        if fp not in kh:
            return "known_hosts holds %r" % kh
        return None
    h.check("login_stores_token_and_fingerprint", login)

    def remembered():
        # No --url, no --fingerprint: the latest login's server, its pinned certificate.
        rc, out, err = c("host", url=False)
        e = want(rc, out, err, 0, fp, where="out")
        return e or (None if "version" in out else "no version line: %r" % out)
    h.check("fingerprint_remembered_no_options", remembered)

    def changed_cert():
        d = Ctl(os.path.join(work, "home-changed"), url)
        os.makedirs(os.path.dirname(d.path("known_hosts")), exist_ok=True)
        with open(d.path("known_hosts"), "w") as f:
            f.write("%s %s\n" % (url[len("https://"):], "AB:" * 31 + "AB"))
        rc, out, err = d("host")
        return want(rc, out, err, 3, "mismatch") or want(rc, out, err, 3, "known_hosts") or \
            (None if fp in err else "the server's fingerprint is not shown: %r" % err)
    h.check("fingerprint_known_hosts_mismatch", changed_cert)


def basic_checks(sup, work, url, fp, c):
    def host_text():
        rc, out, err = c("host")
        e = want(rc, out, err, 0)
        for k in ("host", "version", "cpu", "memory", "kvm", "state", "certificate"):
            if not e and not re.search(r"^%s\s" % k, out, re.M):
                e = "no %s line: %r" % (k, out)
        return e
    h.check("host_text", host_text)

    def host_json():
        rc, out, err = c("--json", "host")
        e = want(rc, out, err, 0)
        return e or (None if json.loads(out)["tls"]["sha256_fingerprint"] == fp else "wrong JSON: %r" % out)
    h.check("host_json", host_json)

    def pci():
        rc, out, err = c("pci")
        e = want(rc, out, err, 0, "BDF", where="out")
        if e:
            return e
        rc, out, err = c("pci", "--json")
        return want(rc, out, err, 0) or (None if "devices" in json.loads(out) else "no devices: %r" % out)
    h.check("pci_text_and_json", pci)

    def tokens():
        rc, out, err = c("token", "create", "ci check")
        e = want(rc, out, err, 0)
        if e:
            return e
        secret = out.strip()
        if not secret.startswith("kvmbox_"):
            return "no secret: %r" % out
        rc, out, err = c("token", "list")
        if rc or "ci check" not in out:
            return "list: %d %r %r" % (rc, out, err)
        tid = [ln.split()[0] for ln in out.splitlines() if "ci check" in ln][0]
        rc, out, err = c("--token", secret, "--json", "token", "list")
        if rc or len(json.loads(out)["tokens"]) != 2:
            return "with --token: %d %r %r" % (rc, out, err)
        rc, out, err = c("token", "delete", tid)
        if rc or "revoked" not in out:
            return "delete: %d %r %r" % (rc, out, err)
        rc, out, err = c("host", env={"KVMBOX_TOKEN": secret})
        return want(rc, out, err, 1, "HTTP 401") or want(rc, out, err, 1, "kvmbox ctl login")
    h.check("token_create_list_delete", tokens)

    def api_get():
        rc, out, err = c("api", "GET", "/api/host")
        return want(rc, out, err, 0) or (None if json.loads(out)["tls"]["sha256_fingerprint"] == fp else out)
    h.check("api_get_host", api_get)

    def api_post_stdin():
        rc, out, err = c("api", "post", "/api/auth/tokens", "-", stdin='{"name":"from stdin"}')
        e = want(rc, out, err, 0)
        if e:
            return e
        tid = json.loads(out)["id"]
        return want(*c("api", "DELETE", "/api/auth/tokens/" + tid), 0)
    h.check("api_post_body_stdin", api_post_stdin)

    def api_error():
        rc, out, err = c("api", "GET", "/api/nope")
        e = want(rc, out, err, 1, "there is nothing at /api/nope") or want(rc, out, err, 1, "HTTP 404")
        return e or (None if json.loads(out)["error"]["code"] == "not_found" else out)
    h.check("api_error_message_exit1", api_error)

    h.check("api_error_text_command",
            lambda: want(*c("token", "delete", "0011223344556677"), 1, "no API token with id 0011223344556677"))

    def usage():
        for args, needle in ((["bogus"], "unknown command"), (["vm"], "usage"), (["--nope", "host"], "unknown option"),
                             (["api", "GET"], "usage"), (["token", "create"], "usage"),
                             (["--url", "http://127.0.0.1", "host"], "HTTPS only")):
            rc, out, err = c(*args, url=args[0] != "--url")
            e = want(rc, out, err, 2, needle)
            if e:
                return "%s: %s" % (args, e)
        rc, out, err = c(url=False)
        return want(rc, out, err, 2, "usage")
    h.check("usage_errors_exit2", usage)

    def refused():
        d = Ctl(os.path.join(work, "home-refused"), "https://127.0.0.1:%d" % free_port())
        return want(*d("--insecure", "host"), 3, "refused")
    h.check("conn_refused_exit3", refused)

    def dns():
        d = Ctl(os.path.join(work, "home-dns"), "https://no-such-host.invalid")
        return want(*d("--insecure", "host"), 3, "cannot resolve no-such-host.invalid")
    h.check("conn_dns_exit3", dns)

    h.check("logs", lambda: want(*c("logs"), 0, "https: listening on", where="out"))

    def cacert():
        # The self-signed certificate is its own CA; it names 127.0.0.1.
        ca = os.path.join(sup.state, "tls", "selfsigned-cert.pem")
        e = want(*c("--cacert", ca, "host"), 0, fp, where="out")
        return e or want(*c("--cacert", os.path.join(work, "nothing.pem"), "host"), 2, "cannot load the CA")
    h.check("cacert_verifies", cacert)


def passwd_checks(c, work, url, plain):
    h.check("passwd_wrong_current", lambda: want(*c("passwd", "--password-stdin",
                                                    stdin="not it at all\n%s\n" % NEW_PASSWORD),
                                                 1, "the current password is wrong"))

    def change():
        rc, out, err = c("passwd", "--password-stdin", stdin="%s\n%s\n" % (PASSWORD, NEW_PASSWORD))
        e = want(rc, out, err, 0, "password changed", where="out")
        if e:
            return e
        d = Ctl(os.path.join(work, "home-newpw"), url)
        rc, out, err = d("--fingerprint", plain, "login", "--password-stdin", stdin=NEW_PASSWORD + "\n")
        return want(rc, out, err, 0, "logged in", where="out")
    h.check("passwd_change_then_login", change)


def vm_checks(c, work):
    defn = {"name": "web", "kernel": "/nonexistent/bzImage", "mem": "128M", "cpus": 1}
    path = os.path.join(work, "web.json")
    with open(path, "w") as f:
        json.dump(defn, f)

    h.check("vm_create", lambda: want(*c("vm", "create", path), 0, "web: stopped", where="out"))
    h.check("vm_create_again_409", lambda: want(*c("vm", "create", path), 1, "already exists"))

    def create_stdin_bad():
        return want(*c("vm", "create", "-", stdin="{not json"), 2, "not valid JSON")
    h.check("vm_create_bad_json_usage", create_stdin_bad)

    def lst():
        rc, out, err = c("vm", "list")
        e = want(rc, out, err, 0, "NAME", where="out")
        if e:
            return e
        if not re.search(r"^web\s+stopped\s", out, re.M):
            return "no web line: %r" % out
        rc, out, err = c("--json", "vm", "list")
        return want(rc, out, err, 0) or (None if json.loads(out)["vms"][0]["name"] == "web" else out)
    h.check("vm_list", lst)

    def show():
        rc, out, err = c("vm", "show", "web")
        e = want(rc, out, err, 0, "definition", where="out")
        return e or (None if "/nonexistent/bzImage" in out else "no kernel in %r" % out)
    h.check("vm_show", show)

    def edit():
        defn2 = dict(defn, cpus=2)
        rc, out, err = c("vm", "edit", "web", "-", stdin=json.dumps(defn2))
        e = want(rc, out, err, 0, "web:", where="out")
        if e:
            return e
        rc, out, err = c("--json", "vm", "show", "web")
        return want(rc, out, err, 0) or (None if json.loads(out)["definition"]["cpus"] == 2 else out)
    h.check("vm_edit", edit)

    h.check("vm_show_missing_404", lambda: want(*c("vm", "show", "nope"), 1, "HTTP 404"))

    def start():
        # No /dev/kvm here: 503 with the reason. With KVM the kernel file is missing.
        rc, out, err = c("vm", "start", "web")
        if os.path.exists("/dev/kvm"):
            return None if rc in (0, 1) else "exit %d: %r" % (rc, err)
        return want(rc, out, err, 1, "HTTP 503")
    h.check("vm_start_error_text", start)

    h.check("vm_console", lambda: want(*c("vm", "console", "web"), 0))
    h.check("vm_log", lambda: want(*c("vm", "log", "web"), 0))
    h.check("vm_counters_not_running", lambda: want(*c("vm", "counters", "web"), 1, "only while it runs"))
    h.check("vm_stop_force_usage", lambda: want(*c("vm", "pause", "web", "--force"), 2, "stop only"))
    h.check("vm_delete", lambda: want(*c("vm", "delete", "web"), 0, "web: deleted", where="out"))
    h.check("vm_gone", lambda: want(*c("vm", "show", "web"), 1, "no VM named"))


def image_checks(c, work):
    data = os.urandom(300 * 1024 + 17)  # past the 256 KiB limit of an ordinary body
    path = os.path.join(work, "disk.img")
    with open(path, "wb") as f:
        f.write(data)
    digest = hashlib.sha256(data).hexdigest()

    h.check("image_upload", lambda: want(*c("image", "upload", path), 0, digest, where="out"))

    def lst():
        rc, out, err = c("image", "list")
        e = want(rc, out, err, 0, "disk.img", where="out")
        if e:
            return e
        rc, out, err = c("--json", "image", "list")
        im = [i for i in json.loads(out)["images"] if i["name"] == "disk.img"]
        if not im or im[0].get("size") != len(data) or im[0].get("sha256") not in (None, digest):
            return "listed as %r" % im
        return None
    h.check("image_list", lst)

    h.check("image_upload_exists_409", lambda: want(*c("image", "upload", path), 1, "replace"))
    h.check("image_upload_replace", lambda: want(*c("image", "upload", path, "--replace"), 0, "uploaded", where="out"))
    h.check("image_upload_named", lambda: want(*c("image", "upload", path, "other.img"), 0, "other.img", where="out"))
    h.check("image_upload_missing_file", lambda: want(*c("image", "upload", path + ".nope"), 2, "No such file"))

    def delete():
        for n in ("disk.img", "other.img"):
            e = want(*c("image", "delete", n), 0, "deleted", where="out")
            if e:
                return e
        rc, out, err = c("--json", "image", "list")
        return want(rc, out, err, 0) or (None if not json.loads(out)["images"] else out)
    h.check("image_delete", delete)


def main():
    if not os.access(KVMBOX, os.X_OK):
        h.result("ctl_binary", "%s is missing; run make out/kvmbox" % KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-ctl-")
    state = os.path.join(work, "state")
    sup = None
    try:
        sup = h.Supervisor(state)
        url = "https://127.0.0.1:%d" % sup.https
        fp = sup.fingerprint()
        c, plain = trust_checks(sup, work, url, fp)
        login_checks(sup, work, url, fp, c, plain)
        basic_checks(sup, work, url, fp, c)
        vm_checks(c, work)
        image_checks(c, work)
        passwd_checks(c, work, url, plain)
    finally:
        if sup:
            sup.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
