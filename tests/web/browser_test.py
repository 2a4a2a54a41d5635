#!/usr/bin/python3
"""The web console (web-ui/, vmm/api/api_webui.c) against the real
`out/kvmbox supervisor` on 127.0.0.1, first over plain HTTPS, then in headless
Chromium (Debian's chromium, driven by playwright-core from npm, which
`make test-build` installs with npm ci into out/tests/web-npm/).

  webui_page_headers   GET / is the page with Content-Security-Policy (script-src
                       'self', frame-ancestors 'none'), nosniff, Referrer-Policy
  webui_gzip           gzip when accepted (and the same bytes unzipped), plain
                       when not; ETag per representation; Vary
  webui_public_only    the page and its assets need no login; /api still does;
                       an unknown asset is a JSON 404
  webui_weight         the page and everything it loads, gzip-compressed, under 500 KB
  browser checks       tests/web/browser_test.js: first-boot setup, wrong password,
                       dashboard, a VM made with the form and seen in the list,
                       API errors shown with the API's message, image upload with
                       progress, host devices (an mdev create's 404 and 400 shown,
                       with made-up types), settings (network form: a bad address
                       refused with the API's message, DHCP saved for the next
                       boot; certificate: a mismatched pair refused with the
                       reason, a good pair and regenerate each change the
                       fingerprint), a phone-sized layout, no
                       CSP violation; a screenshot of each screen in out/screenshots/

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import https_test as h  # noqa: E402  (Supervisor, raw, check, result)

h.ADMIN_HASH = None  # first boot: the page must offer the setup
ROOT = h.ROOT
NPM_DIR = os.path.join(ROOT, "out", "tests", "web-npm")
PLAYWRIGHT = os.path.join(NPM_DIR, "node_modules", "playwright-core")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SHOTS = os.path.join(ROOT, "out", "screenshots")
WEIGHT_MAX = 500 * 1024


def get(port, path, gz=True, extra=b""):
    req = b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" % path.encode()
    if gz:
        req += b"Accept-Encoding: gzip, deflate, br\r\n"
    return h.raw(port, req + extra + b"\r\n")


def page_headers(port):
    status, headers, body = get(port, "/")
    if status != 200 or not headers.get("content-type", "").startswith("text/html"):
        return "GET /: %d %s" % (status, headers.get("content-type"))
    csp = headers.get("content-security-policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    if directives.get("script-src") != "'self'":
        return "script-src is %r, want 'self' alone: %r" % (directives.get("script-src"), csp)
    if directives.get("frame-ancestors") != "'none'" or directives.get("default-src") != "'none'":
        return "CSP %r" % csp
    if headers.get("x-content-type-options") != "nosniff" or not headers.get("referrer-policy"):
        return "headers %r" % headers
    page = (gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body).decode()
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) or re.search(r"\son[a-z]+=", page):
        return "inline script in the page"
    return None


def gzip_check(port):
    status, hz, bz = get(port, "/assets/app.js")
    status2, hp, bp = get(port, "/assets/app.js", gz=False)
    status3, hq, bq = get(port, "/assets/app.js", gz=False, extra=b"Accept-Encoding: gzip;q=0, identity\r\n")
    if (status, status2, status3) != (200, 200, 200):
        return "statuses %d %d %d" % (status, status2, status3)
    if hz.get("content-encoding") != "gzip" or "content-encoding" in hp or "content-encoding" in hq:
        return "content-encoding %r / %r / %r" % (hz.get("content-encoding"), hp.get("content-encoding"),
                                                  hq.get("content-encoding"))
    if gzip.decompress(bz) != bp or bq != bp:
        return "the gzip copy differs from the file"
    if not hz.get("etag") or hz.get("etag") == hp.get("etag") or hp.get("etag") != hq.get("etag"):
        return "ETags %r %r %r" % (hz.get("etag"), hp.get("etag"), hq.get("etag"))
    if "accept-encoding" not in hz.get("vary", "").lower():
        return "no Vary: Accept-Encoding"
    if not hp.get("content-type", "").startswith("text/javascript"):
        return "app.js is %r" % hp.get("content-type")
    return None


def public_only(port):
    for path in ("/", "/assets/app.css", "/assets/xterm.mjs", "/assets/favicon.svg"):
        status, _, _ = get(port, path)
        if status != 200:
            return "GET %s without login: %d" % (path, status)
    for path in ("/api/host", "/api/auth/session", "/api/vms"):
        status, _, body = get(port, path)
        if status != 401 and not (status == 404 and path == "/api/vms"):
            return "GET %s without login: %d" % (path, status)
    status, headers, body = get(port, "/assets/nothing.js")
    if status != 404 or b'"not_found"' not in body:
        return "unknown asset: %d %r" % (status, body[:100])
    status, _, _ = h.raw(port, b"POST /assets/app.js HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
    return None if status in (401, 405) else "POST to an asset: %d" % status


def weight(port):
    """The page, the files it names and the modules its script imports."""
    seen, todo, total = set(), ["/"], 0
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        status, headers, body = get(port, path)
        if status != 200:
            return "%s: %d" % (path, status)
        total += len(body)
        text = (gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body).decode("utf-8", "replace")
        todo += re.findall(r'["\'](/assets/[A-Za-z0-9._-]+)["\']', text)
        if path.endswith(".js"):
            todo += ["/assets/" + m for m in re.findall(r'import\(["\']\./([A-Za-z0-9._-]+)["\']\)', text)]
    print("# web console: %d files, %d bytes gzip-compressed" % (len(seen), total), flush=True)
    if "/assets/xterm.mjs" not in seen:
        return "the terminal's module was not found from the page: %s" % sorted(seen)
    return None if total < WEIGHT_MAX else "%d bytes, over %d" % (total, WEIGHT_MAX)


def make_pems(work):
    """Two ECDSA P-256 keys and a self-signed certificate for the first, made
    with openssl: the browser uploads a mismatched pair (the certificate with
    the second key), then the good one."""
    out = {}
    for k in ("a", "b"):
        key = os.path.join(work, "key-%s.pem" % k)
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
                       check=True, capture_output=True)
        out["KEY_" + k.upper()] = key
    cert = os.path.join(work, "cert-a.pem")
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", out["KEY_A"], "-subj", "/CN=x", "-days", "1",
                    "-out", cert], check=True, capture_output=True)
    out["CERT_A"] = cert
    return out


def browser(sup, work):
    for what, p in (("playwright-core (make test-build runs npm ci)", PLAYWRIGHT), ("chromium", CHROMIUM),
                    ("node", shutil.which("node") or "/usr/bin/node")):
        if not os.path.exists(p):
            h.result("browser_setup", "%s is missing: %s" % (what, p))
            return
    routes = subprocess.run([h.KVMBOX, "supervisor", "--routes"], capture_output=True, text=True).stdout.split("\n")
    os.makedirs(SHOTS, exist_ok=True)
    env = dict(os.environ, KVMBOX_URL="https://127.0.0.1:%d" % sup.https, PLAYWRIGHT_CORE=PLAYWRIGHT,
               CHROMIUM=CHROMIUM, SCREENSHOTS=SHOTS, HAS_KVM="1" if os.path.exists("/dev/kvm") else "0",
               HAS_VM_API="1" if "POST /api/vms" in routes else "0")
    if shutil.which("openssl"):
        env.update(make_pems(work))
    else:
        print("# no openssl on this host: the certificate upload checks are left out", flush=True)
    if env["HAS_VM_API"] != "1":
        print("# no POST /api/vms in this supervisor: the VM form checks are left out", flush=True)
    try:
        p = subprocess.run(["node", os.path.join(h.HERE, "browser_test.js")], env=env, capture_output=True,
                           text=True, timeout=240)
    except subprocess.TimeoutExpired as e:
        sys.stdout.write(e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or ""))
        h.result("browser_run", "browser_test.js ran past 240 s")
        return
    sys.stdout.write(p.stdout)
    sys.stdout.flush()
    h.failures += p.stdout.count("\nnot ok ") + p.stdout.startswith("not ok ")
    if p.returncode and "not ok " not in p.stdout:
        h.result("browser_run", "browser_test.js exited %d: %s" % (p.returncode, p.stderr[-1000:]))


def main():
    if not os.access(h.KVMBOX, os.X_OK):
        h.result("browser_binary", "%s is missing; run make out/kvmbox" % h.KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-browser-")
    sup = None
    try:
        sup = h.Supervisor(os.path.join(work, "state"))
        h.check("webui_page_headers", lambda: page_headers(sup.https))
        h.check("webui_gzip", lambda: gzip_check(sup.https))
        h.check("webui_public_only", lambda: public_only(sup.https))
        h.check("webui_weight", lambda: weight(sup.https))
        browser(sup, work)
        if sup.proc.poll() is not None:
            h.result("browser_supervisor_alive", "the supervisor exited with %d" % sup.proc.returncode)
    finally:
        if sup:
            sup.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
