#!/usr/bin/python3
"""Image uploads (vmm/api/api_images*.c, the streaming bodies of
vmm/http/http_conn.c) against the real `out/kvmbox supervisor` on 127.0.0.1.

  upload_20mib          20 MiB streamed in: 201, the bytes and SHA-256 on disk,
                        listed with size and sum, no part file left
  upload_query_sum      ?sha256=HEX works like the header
  continue_100          Expect: 100-continue gets 100, then 201
  wrong_sum_422         a mismatching sum: 422, nothing stored, no part file
  bad_sum_400           a sum that is not 64 hex digits: 400 before the body
  exists_409, replace   an existing name needs ?replace=1
  names_*               ../x, %2e%2e%2fx, .hidden, a/b, a%2fb: 400 or 404, and
                        nothing written anywhere
  unauth_401_no_body    no credentials: 401 before any body byte is sent; the
                        connection closes; with Expect: 100-continue no 100
  csrf_403_no_body      a session without X-CSRF-Token: 403 before the body
  progress              half sent: GET shows uploading, received, expected; a
                        second upload of the name is 409; then the rest: 201
  disconnect            a client gone mid-upload leaves no part file
  stall_408             a client silent for body_ms: 408, no part file
  slow_but_steady       an upload longer than body_ms that keeps sending works
                        (body_ms is a progress deadline for streams)
  delete                204, then 404; the sum goes with it
  too_large_413         a Content-Length above 64 GiB: 413
  no_fd_leak            every upload's descriptors are closed at the end

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import https_test as h  # noqa: E402  (Supervisor, tls_connect, read_response, check)

BODY_MS = 1500
MIB = 1 << 20


class Client:
    def __init__(self, port, token):
        self.port = port
        self.token = token

    def head(self, method, path, length=None, extra=(), auth=True):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost", "Connection: close"]
        if auth:
            lines.append("Authorization: Bearer %s" % self.token)
        if length is not None:
            lines.append("Content-Length: %d" % length)
        lines += list(extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def request(self, method, path, body=None, extra=(), auth=True):
        """(status, headers, parsed JSON or None)."""
        data = body or b""
        length = len(data) if body is not None or method in ("PUT", "POST") else None
        s = h.tls_connect(self.port, timeout=30)
        try:
            s.sendall(self.head(method, path, length, extra, auth) + data)
            status, headers, reply, _ = h.read_response(s)
        finally:
            s.close()
        try:
            reply = json.loads(reply) if reply else None
        except ValueError:
            pass
        return status, headers, reply


# An already parsed reply against the error shape (https_test.py).
err = h.reply_error


def tree(root):
    """Every path under root with its size, to see that nothing was written."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = os.path.getsize(p) if os.path.exists(p) else -1
    return out


def part_files(images):
    return [f for f in os.listdir(images) if f.endswith(".part")] if os.path.isdir(images) else []


def wait_for(fn, secs=5.0):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


def make_token(port):
    st, headers, body = h.raw(port, b"POST /api/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(login_body()) + login_body())
    if st != 200:
        raise RuntimeError("login: %d %r" % (st, body))
    cookie = headers["set-cookie"].split(";")[0]
    csrf = json.loads(body)["csrf"]
    req = json.dumps({"name": "images test"}).encode()
    st, _, body = h.raw(port, ("POST /api/auth/tokens HTTP/1.1\r\nHost: a\r\nCookie: %s\r\nX-CSRF-Token: %s\r\n"
                               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
                               (cookie, csrf, len(req))).encode() + req)
    if st != 201:
        raise RuntimeError("token: %d %r" % (st, body))
    return json.loads(body)["token"], cookie


def login_body():
    return json.dumps({"user": "admin", "password": h.ADMIN_PASSWORD}).encode()


def run(c, state, cookie):
    images = os.path.join(state, "images")
    data = os.urandom(20 * MIB)
    digest = hashlib.sha256(data).hexdigest()

    def upload_20mib():
        st, _, rep = c.request("PUT", "/api/images/disk-1.img", data, ["X-Checksum-SHA256: " + digest.upper()])
        if st != 201 or rep != {"name": "disk-1.img", "size": len(data), "sha256": digest, "in_ram": False}:
            return "status %d %r" % (st, rep)
        with open(os.path.join(images, "disk-1.img"), "rb") as f:
            on_disk = f.read()
        if hashlib.sha256(on_disk).hexdigest() != digest or len(on_disk) != len(data):
            return "the bytes on disk differ"
        if part_files(images):
            return "part file left: %r" % part_files(images)
        st, _, rep = c.request("GET", "/api/images")
        ent = [i for i in rep["images"] if i["name"] == "disk-1.img"] if st == 200 else []
        if not ent or ent[0].get("sha256") != digest or ent[0].get("size") != len(data) or ent[0]["uploading"]:
            return "list: %d %r" % (st, rep)
        st, _, rep = c.request("GET", "/api/images/disk-1.img")
        if st != 200 or rep.get("sha256") != digest or rep.get("in_ram") is not False:
            return "get: %d %r" % (st, rep)
        return None
    h.check("upload_20mib", upload_20mib)

    small = b"small image\n" * 1000
    small_sum = hashlib.sha256(small).hexdigest()
    h.check("upload_query_sum", lambda: None if c.request("PUT", "/api/images/small?sha256=" + small_sum, small)[0]
            == 201 else "not 201")

    def continue_100():
        s = h.tls_connect(c.port)
        try:
            s.sendall(c.head("PUT", "/api/images/cont.img", len(small), ["Expect: 100-continue"]))
            first = s.recv(100)
            if not first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
                return "no 100 first: %r" % first
            s.sendall(small)
            st, _, body, _ = h.read_response(s)
            return None if st == 201 else "status %d %r" % (st, body)
        finally:
            s.close()
    h.check("continue_100", continue_100)

    def wrong_sum():
        st, _, rep = c.request("PUT", "/api/images/bad.img", data[:3 * MIB], ["X-Checksum-SHA256: " + "0" * 64])
        e = err(st, rep, 422, "invalid_value")
        if e:
            return e
        if "SHA-256" not in rep["error"]["message"]:
            return "message does not say why: %r" % rep
        if os.path.exists(os.path.join(images, "bad.img")) or part_files(images):
            return "something was left: %r" % os.listdir(images)
        return None
    h.check("wrong_sum_422", wrong_sum)

    def bad_sum():
        # Refused from the head: the connection closes without the body.
        st, _, rep = c.request("PUT", "/api/images/bad.img?sha256=xyz", b"x")
        e = err(st, rep, 400, "bad_request")
        st, _, rep = c.request("PUT", "/api/images/bad.img", b"x", ["X-Checksum-SHA256: abc"])
        return e or err(st, rep, 400, "bad_request") or (None if not os.path.exists(os.path.join(images, "bad.img"))
                                                          else "stored")
    h.check("bad_sum_400", bad_sum)

    def exists():
        e = err(*c.request("PUT", "/api/images/small", b"other")[::2], 409, "conflict")
        if e:
            return e
        st, _, rep = c.request("PUT", "/api/images/small?replace=1", b"other")
        if st != 201 or rep["size"] != 5:
            return "replace: %d %r" % (st, rep)
        with open(os.path.join(images, "small"), "rb") as f:
            if f.read() != b"other":
                return "not replaced on disk"
        rep = c.request("GET", "/api/images/small")[2]
        return None if rep.get("sha256") == hashlib.sha256(b"other").hexdigest() else "old sum: %r" % rep
    h.check("exists_409_replace", exists)

    def names():
        work = os.path.dirname(state)
        before = tree(work)
        for name, want in (("../x", 404), ("%2e%2e%2fx", 400), ("..%2fx", 400), (".hidden", 400), ("a/b", 404),
                           ("a%2fb", 400), ("%2e%2e", 400), ("..", 400), (".", 400), ("x" * 129, 400),
                           ("sp%20ace", 400)):
            for method in ("PUT", "GET", "DELETE"):
                st, _, rep = c.request(method, "/api/images/" + name, b"evil" if method == "PUT" else None)
                if st != want:
                    return "%s %s: %d, want %d: %r" % (method, name, st, want, rep)
                if want == 400 and "not start with '.'" not in rep["error"]["message"]:
                    return "%s %s: the message does not say what is allowed: %r" % (method, name, rep)
        after = tree(work)
        # The supervisor's own log grows; nothing else may change.
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k) and not k.endswith(".log")}
        return "written: %r" % sorted(changed) if changed else None
    h.check("names_refused", names)

    def unauth():
        for extra in ([], ["Expect: 100-continue"]):
            s = h.tls_connect(c.port)
            try:
                s.sendall(c.head("PUT", "/api/images/noauth.img", 20 * MIB, extra, auth=False))
                st, headers, body, _ = h.read_response(s)  # no body byte sent
                e = err(st, json.loads(body), 401, "unauthorized")
                if e:
                    return "%r: %s" % (extra, e)
                if headers.get("connection") != "close":
                    return "the connection stays open"
                s.settimeout(5)
                if s.recv(100) != b"":
                    return "more than the 401 came"
            finally:
                s.close()
        return None if not os.path.exists(os.path.join(images, "noauth.img")) and not part_files(images) \
            else "a file was made"
    h.check("unauth_401_no_body", unauth)

    def csrf():
        s = h.tls_connect(c.port)
        try:
            s.sendall(("PUT /api/images/csrf.img HTTP/1.1\r\nHost: a\r\nCookie: %s\r\nContent-Length: %d\r\n\r\n" %
                       (cookie, 20 * MIB)).encode())
            st, _, body, _ = h.read_response(s)
            return err(st, json.loads(body), 403, "forbidden")
        finally:
            s.close()
    h.check("csrf_403_no_body", csrf)

    def progress():
        half = len(data) // 2
        s = h.tls_connect(c.port)
        try:
            s.sendall(c.head("PUT", "/api/images/prog.img", len(data)) + data[:half])
            seen = {}

            def got_half():
                st, _, rep = c.request("GET", "/api/images/prog.img")
                seen["rep"] = rep
                return st == 200 and rep.get("received") == half
            if not wait_for(got_half):
                return "GET while uploading: %r" % seen.get("rep")
            rep = seen["rep"]
            if rep.get("uploading") is not True or rep.get("expected") != len(data) or "size" in rep:
                return "GET while uploading: %r" % rep
            st, _, lst = c.request("GET", "/api/images")
            ent = [i for i in lst["images"] if i["name"] == "prog.img"]
            if not ent or not ent[0]["uploading"] or ent[0]["received"] != half:
                return "list while uploading: %r" % lst
            if not os.path.exists(os.path.join(images, ".prog.img.part")):
                return "no part file while uploading"
            e = err(*c.request("PUT", "/api/images/prog.img?replace=1", b"x")[::2], 409, "conflict")
            if e:
                return "second upload: " + e
            e = err(*c.request("DELETE", "/api/images/prog.img")[::2], 409, "conflict")
            if e:
                return "delete while uploading: " + e
            s.sendall(data[half:])
            st, _, body, _ = h.read_response(s)
            rep = json.loads(body)
            if st != 201 or rep["sha256"] != digest:
                return "end: %d %r" % (st, rep)
        finally:
            s.close()
        rep = c.request("GET", "/api/images/prog.img")[2]
        return None if rep.get("uploading") is False and rep.get("size") == len(data) else "after: %r" % rep
    h.check("progress", progress)

    def disconnect():
        s = h.tls_connect(c.port)
        s.sendall(c.head("PUT", "/api/images/gone.img", 20 * MIB) + data[:5 * MIB])
        wait_for(lambda: os.path.exists(os.path.join(images, ".gone.img.part")))
        s.close()
        if not wait_for(lambda: not part_files(images) and not os.path.exists(os.path.join(images, "gone.img"))):
            return "left: %r" % os.listdir(images)
        rep = c.request("GET", "/api/images/gone.img")
        return err(rep[0], rep[2], 404, "not_found")
    h.check("disconnect", disconnect)

    def stall():
        s = h.tls_connect(c.port, timeout=10)
        try:
            s.sendall(c.head("PUT", "/api/images/stall.img", 4 * MIB) + data[:MIB])
            t0 = time.monotonic()
            st, _, body, _ = h.read_response(s)
            dt = time.monotonic() - t0
            if st != 408 or dt < BODY_MS / 1000 * 0.8:
                return "status %d after %.1f s" % (st, dt)
        finally:
            s.close()
        return None if wait_for(lambda: not part_files(images)) else "left: %r" % os.listdir(images)
    h.check("stall_408", stall)

    def steady():
        # Four times body_ms in all, a piece every body_ms / 3.
        n = 12
        piece = len(small) // n + 1
        s = h.tls_connect(c.port, timeout=10)
        try:
            s.sendall(c.head("PUT", "/api/images/steady.img", len(small)))
            for i in range(n):
                time.sleep(BODY_MS / 3000)
                s.sendall(small[i * piece:(i + 1) * piece])
            st, _, body, _ = h.read_response(s)
            return None if st == 201 else "status %d %r" % (st, body)
        finally:
            s.close()
    h.check("slow_but_steady", steady)

    def delete():
        st, _, rep = c.request("DELETE", "/api/images/disk-1.img")
        if st != 204:
            return "status %d %r" % (st, rep)
        if os.path.exists(os.path.join(images, "disk-1.img")) or \
                os.path.exists(os.path.join(images, ".disk-1.img.sha256")):
            return "still on disk: %r" % os.listdir(images)
        e = err(*c.request("GET", "/api/images/disk-1.img")[::2], 404, "not_found")
        return e or err(*c.request("DELETE", "/api/images/disk-1.img")[::2], 404, "not_found")
    h.check("delete", delete)

    def too_large():
        s = h.tls_connect(c.port)
        try:
            s.sendall(c.head("PUT", "/api/images/huge.img", (64 << 30) + 1))
            st, _, body, _ = h.read_response(s)
            return err(st, json.loads(body), 413, "body_too_large")
        finally:
            s.close()
    h.check("too_large_413", too_large)


def main():
    if not os.access(h.KVMBOX, os.X_OK):
        h.result("images_binary", "%s is missing; run make out/kvmbox" % h.KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-images-")
    state = os.path.join(work, "state")
    sup = None
    try:
        sup = h.Supervisor(state, ["--limit", "body_ms=%d" % BODY_MS])
        token, cookie = make_token(sup.https)
        fd_dir = "/proc/%d/fd" % sup.proc.pid
        fds = len(os.listdir(fd_dir))
        run(Client(sup.https, token), state, cookie)
        # Every upload's files are closed, whatever way it ended (closed
        # connections linger up to 2 s).
        h.check("no_fd_leak", lambda: None if wait_for(lambda: len(os.listdir(fd_dir)) <= fds, 6) else
                "%d descriptors open, %d before" % (len(os.listdir(fd_dir)), fds))
        h.check("supervisor_alive", lambda: None if sup.proc.poll() is None else "exited %d" % sup.proc.returncode)
    finally:
        if sup:
            rc = sup.stop()
            if rc != 0:
                h.result("clean_exit", "exit status %r; log: %s" % (rc, sup.log()[-500:]))
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
