#!/usr/bin/python3
"""Authentication of the supervisor's API (vmm/auth/, vmm/api/api_auth*.c),
against the real `out/kvmbox supervisor` on 127.0.0.1.

  passwd_hash_*         `kvmbox passwd-hash` makes PBKDF2-SHA256 that Python agrees with
  no_admin_*            a fresh state: 401 everywhere, login 409, setup from loopback
  setup_refused_remote  setup from this host's non-loopback address: 403 and
                        nothing saved without the console's setup code or
                        with a wrong one; 201 with the right one
  unauth_*              no credentials: 401 JSON on every route but login and setup
  wrong_password        401, and counts toward the limit
  login_*               JSON only; cookie HttpOnly, Secure, SameSite=Strict, Path=/
  csrf_*                with the cookie, changing requests need X-CSRF-Token (403)
  token_*               made, used as bearer (no CSRF needed), listed without
                        secrets, revoked (then 401)
  logout                ends the session; the cookie is cleared
  idle_timeout_*        a session unused for --session-idle-ms ends; one in use lives
  rate_limit_*          after 5 failures: 429 with Retry-After, even for the right
                        password; after the wait, login works again
  password_change_*     needs the current password; ends the sessions
  disk_*                users.json holds PBKDF2 with a 16-byte salt, mode 0600; no
                        password or token secret anywhere in the state directory
  restart_*             users and tokens survive a restart, sessions do not
  corrupt_*, future_*   a bad or newer users.json stops the supervisor with a clear
                        error and is left byte for byte as it was
  admin_hash_*          --admin-hash: a hash made by Python logs in; a bad one is refused

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import https_test as h  # noqa: E402  (Supervisor, raw, check, result)

ITER = 1000
IDLE_MS = 1500
PASSWORD = "first password 1"
NEW_PASSWORD = "second password 2"
SUP_ARGS = ["--auth-iterations", str(ITER), "--session-idle-ms", str(IDLE_MS)]
ADMIN_HASH = h.ADMIN_HASH  # made by Python's PBKDF2, for the --admin-hash checks
h.ADMIN_HASH = None        # every other start has no admin password to begin with


def request(port, method, path, body=None, cookie=None, csrf=None, bearer=None,
            ctype="application/json"):
    """(status, headers, parsed JSON or raw bytes) of one request."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost", "Connection: close"]
    if cookie:
        lines.append("Cookie: other=1; %s" % cookie)
    if csrf:
        lines.append("X-CSRF-Token: %s" % csrf)
    if bearer:
        lines.append("Authorization: Bearer %s" % bearer)
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        lines.append("Content-Type: %s" % ctype)
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: %d" % len(data))
    status, headers, reply = h.raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    try:
        reply = json.loads(reply) if reply else None
    except ValueError:
        pass
    return status, headers, reply


# An already parsed reply against the error shape (https_test.py).
err = h.reply_error


def login(port, password=PASSWORD):
    """(cookie "kvmbox_session=...", csrf, status, headers, reply)."""
    status, headers, reply = request(port, "POST", "/api/auth/login", {"user": "admin", "password": password})
    if status != 200:
        return None, None, status, headers, reply
    return headers["set-cookie"].split(";")[0], reply["csrf"], status, headers, reply


def run(port, state, t):
    """The checks on one running supervisor with a fresh state; t collects
    what later checks need (tokens, cookies)."""
    st, _, rep = request(port, "GET", "/api/host")
    h.check("no_admin_401", lambda: err(st, rep, 401, "unauthorized") or
            (None if "setup" in rep["error"]["message"] else "message does not say how: %r" % rep))
    h.check("no_admin_login_409", lambda: err(*login(port)[2:5:2], 409, "conflict"))
    h.check("no_admin_setup_short", lambda: err(*request(port, "POST", "/api/auth/setup",
                                                         {"password": "short"})[::2], 422, "invalid_value"))

    def setup():
        st, _, rep = request(port, "POST", "/api/auth/setup", {"password": PASSWORD})
        if st != 201 or rep != {"user": "admin"}:
            return "setup: %d %r" % (st, rep)
        return err(*request(port, "POST", "/api/auth/setup", {"password": "another one"})[::2], 409, "conflict")
    h.check("no_admin_setup_loopback", setup)

    def unauth():
        for method, path in (("GET", "/api/host"), ("GET", "/api/openapi.yaml"), ("GET", "/api/auth/session"),
                             ("GET", "/api/auth/tokens"), ("POST", "/api/auth/tokens"),
                             ("POST", "/api/auth/logout"), ("DELETE", "/api/auth/tokens/0011223344556677"),
                             ("POST", "/api/auth/password")):
            st, _, rep = request(port, method, path, {} if method == "POST" else None)
            e = err(st, rep, 401, "unauthorized")
            if e:
                return "%s %s: %s" % (method, path, e)
        # A made-up or malformed cookie or token is no better.
        for kw in ({"cookie": "kvmbox_session=" + "A" * 43}, {"cookie": "kvmbox_session=x"},
                   {"bearer": "kvmbox_" + "A" * 43}):
            e = err(*request(port, "GET", "/api/host", **kw)[::2], 401, "unauthorized")
            if e:
                return "%r: %s" % (kw, e)
        st, headers, rep = h.raw(port, b"GET /api/host HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YTpi\r\n\r\n")
        if not headers.get("www-authenticate", "").startswith("Bearer"):
            return "401 without WWW-Authenticate: Bearer"
        e = err(*request(port, "POST", "/api/auth/tokens", {"name": ""}, bearer=t.get("tok1", "x"))[::2],
                401, "unauthorized")
        if e:
            return e
        return err(st, json.loads(rep), 401, "unauthorized") or \
            err(*request(port, "GET", "/api/nothing")[::2], 404, "not_found")
    h.check("unauth_401_everywhere", unauth)

    h.check("wrong_password", lambda: err(*login(port, "not the password")[2:5:2], 401, "unauthorized"))
    h.check("login_json_only", lambda: err(*request(port, "POST", "/api/auth/login",
                                                    b"user=admin&password=x", ctype="application/x-www-form-urlencoded")[::2],
                                           415, "unsupported_media_type"))
    h.check("login_bad_json", lambda: err(*request(port, "POST", "/api/auth/login", b'{"user":')[::2],
                                          400, "bad_request"))

    def login_cookie():
        cookie, csrf, st, headers, rep = login(port)
        if st != 200:
            return "login: %d %r" % (st, rep)
        sc = headers["set-cookie"]
        attrs = [a.strip() for a in sc.split(";")[1:]]
        for want in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            if want not in attrs:
                return "Set-Cookie %r lacks %s" % (sc, want)
        if not re.fullmatch(r"kvmbox_session=[A-Za-z0-9_-]{43}", cookie) or not csrf or len(csrf) < 32:
            return "cookie %r csrf %r" % (cookie, csrf)
        if rep["user"] != "admin" or rep["via"] != "session" or rep["idle_timeout_s"] != IDLE_MS // 1000:
            return "reply %r" % rep
        t["cookie"], t["csrf"] = cookie, csrf
        return None
    h.check("login_cookie_flags", login_cookie)

    def authed_get():
        st, _, rep = request(port, "GET", "/api/host", cookie=t["cookie"])
        if st != 200 or "hostname" not in rep:
            return "host: %d %r" % (st, rep)
        st, _, rep = request(port, "GET", "/api/auth/session", cookie=t["cookie"])
        return None if st == 200 and rep["csrf"] == t["csrf"] else "session: %d %r" % (st, rep)
    h.check("login_authed_get", authed_get)

    h.check("csrf_missing_403", lambda: err(*request(port, "POST", "/api/auth/tokens", {"name": "x"},
                                                     cookie=t["cookie"])[::2], 403, "forbidden"))
    # The session's token with its last character changed (to another one).
    wrong = t.get("csrf", "x")[:-1] + ("B" if t.get("csrf", "").endswith("A") else "A")
    h.check("csrf_wrong_403", lambda: err(*request(port, "POST", "/api/auth/tokens", {"name": "x"},
                                                   cookie=t["cookie"], csrf=wrong)[::2], 403, "forbidden"))

    def csrf_ok():
        st, _, rep = request(port, "POST", "/api/auth/tokens", {"name": "ci"}, cookie=t["cookie"], csrf=t["csrf"])
        if st != 201 or not rep.get("token", "").startswith("kvmbox_") or not re.fullmatch(r"[0-9a-f]{16}", rep["id"]):
            return "%d %r" % (st, rep)
        t["tok1"], t["id1"] = rep["token"], rep["id"]
        return None
    h.check("csrf_ok_token_created", csrf_ok)

    def bearer():
        st, _, rep = request(port, "GET", "/api/host", bearer=t["tok1"])
        if st != 200:
            return "host with bearer: %d %r" % (st, rep)
        # No CSRF with a token: a browser never sends one by itself.
        st, _, rep = request(port, "POST", "/api/auth/tokens", {"name": "backup"}, bearer=t["tok1"])
        if st != 201:
            return "create with bearer: %d %r" % (st, rep)
        t["tok2"], t["id2"] = rep["token"], rep["id"]
        st, _, rep = request(port, "GET", "/api/auth/session", bearer=t["tok2"])
        return None if st == 200 and rep == {"user": "admin", "via": "token", "token_id": t["id2"]} else \
            "session with bearer: %d %r" % (st, rep)
    h.check("token_bearer_works", bearer)

    h.check("token_empty_name_422", lambda: err(*request(port, "POST", "/api/auth/tokens", {"name": ""},
                                                         bearer=t["tok1"])[::2], 422, "invalid_value"))

    def listed():
        st, _, rep = request(port, "GET", "/api/auth/tokens", bearer=t["tok1"])
        ids = sorted(x["id"] for x in rep["tokens"])
        if st != 200 or ids != sorted([t["id1"], t["id2"]]):
            return "%d %r" % (st, rep)
        return None if all(set(x) == {"id", "name", "user", "created"} for x in rep["tokens"]) else "secret listed"
    h.check("token_list_no_secrets", listed)

    def revoke():
        st, _, rep = request(port, "POST", "/api/auth/tokens", {"name": "doomed"}, bearer=t["tok1"])
        doomed, did = rep["token"], rep["id"]
        st, _, rep = request(port, "DELETE", "/api/auth/tokens/" + did, bearer=t["tok1"])
        if st != 204:
            return "delete: %d %r" % (st, rep)
        e = err(*request(port, "GET", "/api/host", bearer=doomed)[::2], 401, "unauthorized")
        if e:
            return "revoked token still works: " + e
        e = err(*request(port, "DELETE", "/api/auth/tokens/" + did, bearer=t["tok1"])[::2], 404, "not_found")
        if e:
            return "second delete: " + e
        # A token may revoke itself; the request it came with still completes.
        st, _, rep = request(port, "POST", "/api/auth/tokens", {"name": "self"}, bearer=t["tok1"])
        selftok, sid = rep["token"], rep["id"]
        st, _, rep = request(port, "DELETE", "/api/auth/tokens/" + sid, bearer=selftok)
        if st != 204:
            return "self delete: %d %r" % (st, rep)
        return err(*request(port, "GET", "/api/host", bearer=selftok)[::2], 401, "unauthorized")
    h.check("token_revoke_401", revoke)

    def logout():
        cookie, csrf = login(port)[:2]
        e = err(*request(port, "POST", "/api/auth/logout", cookie=cookie)[::2], 403, "forbidden")
        if e:
            return "logout without csrf: " + e
        st, headers, rep = request(port, "POST", "/api/auth/logout", cookie=cookie, csrf=csrf)
        if st != 204 or "Max-Age=0" not in headers.get("set-cookie", ""):
            return "logout: %d %r %r" % (st, headers.get("set-cookie"), rep)
        e = err(*request(port, "GET", "/api/host", cookie=cookie)[::2], 401, "unauthorized")
        if e:
            return "after logout: " + e
        return None if request(port, "GET", "/api/host", cookie=t["cookie"])[0] == 200 else \
            "logout ended another session"
    h.check("logout", logout)

    def idle():
        dead = login(port)[0]
        alive = login(port)[0]
        for _ in range(3):  # 3 x 0.6 s: longer than the idle timeout in all
            time.sleep(IDLE_MS / 2500)
            if request(port, "GET", "/api/host", cookie=alive)[0] != 200:
                return "a session in use timed out"
        e = err(*request(port, "GET", "/api/host", cookie=dead)[::2], 401, "unauthorized")
        return "an idle session still works: " + e if e else None
    h.check("idle_timeout", idle)
    t["cookie"], t["csrf"] = login(port)[:2]

    def limit():
        for i in range(5):
            st = login(port, "wrong %d" % i)[2]
            if st != 401:
                return "failure %d: status %d" % (i + 1, st)
        cookie, _, st, headers, rep = login(port)
        e = err(st, rep, 429, "too_many_requests")
        if e:
            return "right password while locked: " + e
        wait = int(headers.get("retry-after", "0"))
        if not 1 <= wait <= 2:
            return "Retry-After %r" % headers.get("retry-after")
        time.sleep(wait + 0.1)
        if login(port)[2] != 200:
            return "no login after the wait"
        # The success cleared the count: one more failure is a plain 401.
        return err(*login(port, "wrong again")[2:5:2], 401, "unauthorized")
    h.check("rate_limit_429", limit)

    def change():
        cookie, csrf = login(port)[:2]
        e = err(*request(port, "POST", "/api/auth/password", {"current": "nope nope", "new": NEW_PASSWORD},
                         cookie=cookie, csrf=csrf)[::2], 403, "forbidden")
        if e:
            return "wrong current: " + e
        e = err(*request(port, "POST", "/api/auth/password", {"current": PASSWORD, "new": "short"},
                         cookie=cookie, csrf=csrf)[::2], 422, "invalid_value")
        if e:
            return "short new: " + e
        st, _, rep = request(port, "POST", "/api/auth/password", {"current": PASSWORD, "new": NEW_PASSWORD},
                             cookie=cookie, csrf=csrf)
        if st != 200:
            return "change: %d %r" % (st, rep)
        for c in (cookie, t["cookie"]):
            if request(port, "GET", "/api/host", cookie=c)[0] != 401:
                return "a session outlived the password change"
        if login(port)[2] != 401 or login(port, NEW_PASSWORD)[2] != 200:
            return "old password works or new one does not"
        return None if request(port, "GET", "/api/host", bearer=t["tok1"])[0] == 200 else "token lost"
    h.check("password_change", change)

    def disk():
        path = os.path.join(state, "auth", "users.json")
        if os.stat(path).st_mode & 0o777 != 0o600:
            return "mode %o" % (os.stat(path).st_mode & 0o777)
        doc = json.load(open(path))
        if doc["version"] != 1 or [u["name"] for u in doc["users"]] != ["admin"]:
            return "document %r" % doc
        m = re.fullmatch(r"pbkdf2-sha256\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)", doc["users"][0]["hash"])
        if not m or int(m.group(1)) != ITER:
            return "hash %r" % doc["users"][0]["hash"]
        salt, key = base64.b64decode(m.group(2)), base64.b64decode(m.group(3))
        if len(salt) != 16 or hashlib.pbkdf2_hmac("sha256", NEW_PASSWORD.encode(), salt, ITER) != key:
            return "not PBKDF2-SHA256 of the password with a 16-byte salt"
        want = {hashlib.sha256(t[k].encode()).hexdigest() for k in ("tok1", "tok2")}
        if {x["sha256"] for x in doc["tokens"]} != want:
            return "token hashes %r" % doc["tokens"]
        secrets = [PASSWORD, NEW_PASSWORD, t["tok1"], t["tok2"], t["tok1"][7:]]
        for root, _, files in os.walk(state):
            for f in files:
                data = open(os.path.join(root, f), "rb").read()
                for s in secrets:
                    if s.encode() in data:
                        return "%s holds a secret" % os.path.join(root, f)
        return None
    h.check("disk_pbkdf2_no_plaintext", disk)


def local_address():
    """An address of this host other than loopback (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()


def setup_remote(work):
    """POST /api/auth/setup from an address that is not loopback: 403."""
    addr = local_address()
    if not addr or addr.startswith("127."):
        return "this host has no non-loopback IPv4 address to test from"
    state = os.path.join(work, "remote")
    log = open(state + ".log", "w")
    p = subprocess.Popen([h.KVMBOX, "supervisor", "--https", "%s:0" % addr, "--http", "none", "--state", state] +
                         SUP_ARGS, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "ready" not in open(state + ".log").read():
            time.sleep(0.05)
        m = re.search(r"https: listening on [0-9.]+:(\d+)", open(state + ".log").read())
        if not m:
            return "did not start: %r" % open(state + ".log").read()[-300:]
        body = b'{"password":"remote password"}'
        sock = h.client_ctx().wrap_socket(socket.create_connection((addr, int(m.group(1))), timeout=10),
                                          server_hostname="localhost")
        try:
            sock.sendall(b"POST /api/auth/setup HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            st, _, rep, _ = h.read_response(sock)
        finally:
            sock.close()
        e = err(st, json.loads(rep), 403, "forbidden")
        if e:
            return e
        if os.path.exists(os.path.join(state, "auth", "users.json")):
            return "a password was saved"
        # With the setup code from the console it works; a wrong code does not.
        code = re.search(r"setup code ([A-Z0-9]{4}-[A-Z0-9]{4})", open(state + ".log").read())
        if not code:
            return "the log shows no setup code"

        def post(payload):
            body = json.dumps(payload).encode()
            sock = h.client_ctx().wrap_socket(socket.create_connection((addr, int(m.group(1))), timeout=10),
                                              server_hostname="localhost")
            try:
                sock.sendall(b"POST /api/auth/setup HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                st, _, rep, _ = h.read_response(sock)
            finally:
                sock.close()
            return st, json.loads(rep)
        wrong = "AAAA-AAAA" if code.group(1) != "AAAA-AAAA" else "BBBB-BBBB"
        st, rep = post({"password": "remote password", "setup_code": wrong})
        e = err(st, rep, 403, "forbidden")
        if e:
            return "wrong code: " + e
        if os.path.exists(os.path.join(state, "auth", "users.json")):
            return "a password was saved with a wrong setup code"
        st, rep = post({"password": "remote password", "setup_code": code.group(1).lower()})
        if st != 201:
            return "the right setup code: %d %r" % (st, rep)
        return None if os.path.exists(os.path.join(state, "auth", "users.json")) else "no users.json after setup"
    finally:
        p.terminate()
        p.wait()
        log.close()


def start_fails(state, extra=()):
    """Run the supervisor expecting it to refuse to start: (rc, output)."""
    p = subprocess.run([h.KVMBOX, "supervisor", "--https", "127.0.0.1:0", "--http", "none", "--state", state] +
                       SUP_ARGS + list(extra), capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def main():
    if not os.access(h.KVMBOX, os.X_OK):
        h.result("auth_binary", "%s is missing; run make out/kvmbox" % h.KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-auth-")
    state = os.path.join(work, "state")
    sup = None
    t = {}
    try:
        def passwd_hash():
            p = subprocess.run([h.KVMBOX, "passwd-hash", "--iterations", "1000"], input="pass word 123\n",
                               capture_output=True, text=True, timeout=20)
            m = re.fullmatch(r"pbkdf2-sha256\$1000\$(\S+)\$(\S+)\n", p.stdout)
            if p.returncode or not m:
                return "rc %d out %r err %r" % (p.returncode, p.stdout, p.stderr)
            salt = base64.b64decode(m.group(1))
            ok = hashlib.pbkdf2_hmac("sha256", b"pass word 123", salt, 1000) == base64.b64decode(m.group(2))
            p2 = subprocess.run([h.KVMBOX, "passwd-hash"], input="pass word 123\n", capture_output=True, text=True,
                                timeout=60)
            if not ok or len(salt) != 16:
                return "Python's PBKDF2 disagrees"
            if not p2.stdout.startswith("pbkdf2-sha256$310000$") or p2.stdout.split("$")[2] == m.group(1):
                return "default rounds or salt reuse: %r" % p2.stdout
            p3 = subprocess.run([h.KVMBOX, "passwd-hash"], input="short\n", capture_output=True, text=True)
            return None if p3.returncode and "8 characters" in p3.stderr else "short password: %r" % p3.stderr
        h.check("passwd_hash_pbkdf2", passwd_hash)

        sup = NoAdminSupervisor(state)
        run(sup.https, state, t)

        def restart():
            nonlocal sup
            sup.stop()
            sup = NoAdminSupervisor(state)
            port = sup.https
            if request(port, "GET", "/api/host", bearer=t["tok1"])[0] != 200:
                return "token lost"
            if request(port, "GET", "/api/host", cookie=t["cookie"])[0] != 401:
                return "a session survived the restart"
            return None if login(port, NEW_PASSWORD)[2] == 200 else "password lost"
        h.check("restart_keeps_users_tokens", restart)
        sup.stop()
        sup = None

        def bad_store(name, content, want):
            def fn():
                s = os.path.join(work, name)
                os.makedirs(os.path.join(s, "auth"))
                path = os.path.join(s, "auth", "users.json")
                with open(path, "wb") as f:
                    f.write(content)
                rc, out = start_fails(s, ["--admin-hash", ADMIN_HASH])
                if rc != 1 or want not in out or "users.json" not in out:
                    return "rc %d, log %r" % (rc, out[-400:])
                if open(path, "rb").read() != content or os.listdir(os.path.join(s, "auth")) != ["users.json"]:
                    return "the file was touched"
                return None
            return fn
        h.check("corrupt_store_refused", bad_store("corrupt", b'{"version":1,"users":[', "not valid JSON"))
        h.check("future_store_refused", bad_store("future", b'{"version":7,"users":[],"tokens":[],"x":1}\n',
                                                  "newer"))

        def admin_hash():
            s = os.path.join(work, "hash")
            rc, out = start_fails(s, ["--admin-hash", "pbkdf2-sha256$10$abc$def"])
            if rc != 1 or "passwd-hash" not in out:
                return "bad hash: rc %d %r" % (rc, out[-300:])
            if os.path.exists(os.path.join(s, "auth", "users.json")):
                return "a bad hash was saved"
            good = h.Supervisor(s, SUP_ARGS + ["--admin-hash", ADMIN_HASH])
            try:
                if login(good.https, h.ADMIN_PASSWORD)[2] != 200:
                    return "the hash from Python does not log in"
                return None if "admin password set from --admin-hash" in good.log() else "not logged"
            finally:
                good.stop()
        h.check("admin_hash_option", admin_hash)
        h.check("setup_refused_remote", lambda: setup_remote(work))
    finally:
        if sup and sup.proc.poll() is None:
            sup.proc.kill()
            sup.proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


class NoAdminSupervisor(h.Supervisor):
    """A supervisor started without --admin-hash (https_test's own passes one)."""

    def __init__(self, state):
        super().__init__(state, SUP_ARGS)


if __name__ == "__main__":
    sys.exit(main())
