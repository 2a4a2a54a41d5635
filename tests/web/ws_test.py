#!/usr/bin/python3
"""The console WebSocket, GET /api/vms/NAME/console/ws (vmm/api/api_vm_ws.c,
vmm/http/http_ws*.c), against the real `out/kvmbox supervisor` on 127.0.0.1.
A build host has no /dev/kvm, so no VM runs: what can be checked is the
protocol and the stopped VM's side of it.

  handshake_accept      101, Upgrade/Connection headers, the RFC 6455
                        Sec-WebSocket-Accept for the key sent
  first_offset          the first frame is text {"offset":N}; the (empty) ring
                        of a stopped VM follows, so nothing else comes
  cookie_same_origin    the session cookie with Origin = https://Host works
  unauth_401            no cookie, no token: 401
  foreign_origin_403    the cookie (or a token) with another site's Origin: 403
  cookie_no_origin_403  the cookie without an Origin: 403
  unknown_vm_404, bad_offset_400, not_upgrade_426, bad_version_426
  input_stopped_error   input to a stopped VM: a text frame
                        {"error":{"code":"conflict",...}}, the socket stays open
  ping_pong             a ping gets a pong with the same payload
  unmasked_1002         an unmasked client frame: close 1002
  oversized_1009        a message over 4096 bytes: close 1009
  fragmented_input      a fragmented message is one input (an error frame)
  close_echo            a close is echoed with its status
  delete_1001           deleting the VM closes its viewers with 1001
  many_viewers          50 sockets at once all get their first frame
  no_fd_leak            the supervisor's descriptors are back where they were

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import https_test as h  # noqa: E402
import vms_test as v  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VM = {"name": "ws", "kernel": "bzImage", "mem": "64M", "cpus": 1, "cmdline": "console=ttyS0"}


class WS:
    """A WebSocket client on a TLS socket: the handshake, then frames."""

    def __init__(self, port, path, headers=None, key=None):
        self.sock = h.tls_connect(port, timeout=10)
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        hd = {"Host": "127.0.0.1:%d" % port, "Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": self.key}
        hd.update(headers or {})
        req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in hd.items() if kv[1] is not None)
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {}
        for ln in lines[1:]:
            k, _, val = ln.partition(":")
            self.headers[k.strip().lower()] = val.strip()
        if self.status != 101:  # the error's body, by Content-Length
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                d = self.sock.recv(65536)
                if not d:
                    break
                self.buf += d
            self.body = self.buf[:n]

    def send(self, opcode, payload=b"", fin=True, masked=True, length=None):
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | opcode
        mb = 0x80 if masked else 0
        if n < 126:
            head = struct.pack("!BB", b0, mb | n)
        elif n <= 0xFFFF:
            head = struct.pack("!BBH", b0, mb | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mb | 127, n)
        if masked:
            mask = os.urandom(4)
            head += mask
            payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + payload)

    def _need(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("the server closed the connection")
            self.buf += d

    def recv(self, timeout=5):
        """(opcode, payload) of the next frame."""
        self.sock.settimeout(timeout)
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise ValueError("a masked server frame")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def expect_close(self, status):
        """None if a close frame with status comes (data frames before it are skipped)."""
        for _ in range(100):
            op, p = self.recv()
            if op == 8:
                got = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None
                return None if got == status else "close status %r (%r), want %d" % (got, p[2:], status)
        return "no close frame"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def run(sup):
    port = sup.port
    c = sup.client()
    st, _, rep = c.request("POST", "/api/vms", VM)
    if st != 201:
        raise RuntimeError("create: %d %r" % (st, rep))
    time.sleep(0.3)
    fds_before = fd_count(sup.proc.pid)
    path = "/api/vms/ws/console/ws"
    tok = {"Authorization": "Bearer " + sup.token}
    origin = "https://127.0.0.1:%d" % port

    def handshake():
        w = WS(port, path, tok)
        try:
            if w.status != 101:
                return "status %d %r" % (w.status, getattr(w, "body", b""))
            want = base64.b64encode(hashlib.sha1(w.key.encode() + GUID).digest()).decode()
            if w.headers.get("sec-websocket-accept") != want:
                return "accept %r, want %r" % (w.headers.get("sec-websocket-accept"), want)
            if w.headers.get("upgrade", "").lower() != "websocket" or w.headers.get("connection", "").lower() != "upgrade":
                return "headers %r" % w.headers
            if "content-length" in w.headers:
                return "a Content-Length on a 101"
        finally:
            w.close()
    h.check("handshake_accept", handshake)

    def first_offset():
        w = WS(port, path, tok)
        try:
            op, p = w.recv()
            if op != 1 or json.loads(p) != {"offset": 0}:
                return "first frame %r %r" % (op, p)
            try:
                op, p = w.recv(timeout=0.5)
                return "more frames from an empty ring: %r %r" % (op, p)
            except socket.timeout:
                return None
        finally:
            w.close()
    h.check("first_offset", first_offset)

    def cookie_same_origin():
        w = WS(port, path, {"Cookie": sup.cookie, "Origin": origin})
        try:
            return None if w.status == 101 else "status %d %r" % (w.status, w.body)
        finally:
            w.close()
    h.check("cookie_same_origin", cookie_same_origin)

    def status_of(headers, p=path):
        w = WS(port, p, headers)
        w.close()
        return w.status

    def want_status(headers, want, p=path):
        st = status_of(headers, p)
        return None if st == want else "status %d, want %d" % (st, want)
    h.check("unauth_401", lambda: want_status({"Origin": origin}, 401))
    h.check("foreign_origin_403", lambda: want_status({"Cookie": sup.cookie, "Origin": "https://evil.example"}, 403)
            or want_status(dict(tok, Origin="https://evil.example"), 403)
            or want_status({"Cookie": sup.cookie, "Origin": "https://127.0.0.1:%d.evil" % port}, 403))
    h.check("cookie_no_origin_403", lambda: want_status({"Cookie": sup.cookie}, 403))
    h.check("unknown_vm_404", lambda: want_status(tok, 404, "/api/vms/nosuch/console/ws"))
    h.check("bad_offset_400", lambda: want_status(tok, 400, path + "?offset=x"))
    h.check("not_upgrade_426", lambda: want_status(dict(tok, Upgrade=None), 426))
    h.check("bad_version_426", lambda: want_status(dict(tok, **{"Sec-WebSocket-Version": "8"}), 426))

    def opened():
        w = WS(port, path, tok)
        if w.status != 101:
            raise RuntimeError("status %d" % w.status)
        w.recv()  # {"offset":N}
        return w

    def input_stopped():
        w = opened()
        try:
            w.send(2, b"echo hi\n")
            op, p = w.recv()
            e = json.loads(p) if op == 1 else None
            if not e or e.get("error", {}).get("code") != "conflict" or "stopped" not in e["error"]["message"]:
                return "frame %r %r" % (op, p)
            w.send(9, b"still")  # the socket is still there
            op, p = w.recv()
            return None if (op, p) == (10, b"still") else "after the error: %r %r" % (op, p)
        finally:
            w.close()
    h.check("input_stopped_error", input_stopped)

    def ping_pong():
        w = opened()
        try:
            w.send(9, b"abc")
            op, p = w.recv()
            return None if (op, p) == (10, b"abc") else "got %r %r" % (op, p)
        finally:
            w.close()
    h.check("ping_pong", ping_pong)

    def unmasked():
        w = opened()
        try:
            w.send(2, b"x", masked=False)
            return w.expect_close(1002)
        finally:
            w.close()
    h.check("unmasked_1002", unmasked)

    def oversized():
        w = opened()
        try:
            w.send(2, b"", length=1 << 30)  # announced only: refused from the head
            err = w.expect_close(1009)
            if err:
                return err
            w2 = opened()
            try:
                w2.send(2, b"a" * 4097)
                return w2.expect_close(1009)
            finally:
                w2.close()
        finally:
            w.close()
    h.check("oversized_1009", oversized)

    def fragmented():
        w = opened()
        try:
            w.send(1, b"ab", fin=False)
            w.send(9, b"p")
            w.send(0, b"cd", fin=True)
            op, p = w.recv()
            if (op, p) != (10, b"p"):
                return "ping inside a message: %r %r" % (op, p)
            op, p = w.recv()
            return None if op == 1 and b"conflict" in p else "got %r %r" % (op, p)
        finally:
            w.close()
    h.check("fragmented_input", fragmented)

    def close_echo():
        w = opened()
        try:
            w.send(8, struct.pack("!H", 1000) + b"bye")
            err = w.expect_close(1000)
            if err:
                return err
            w.sock.settimeout(5)
            return None if w.sock.recv(10) == b"" else "data after the close"
        finally:
            w.close()
    h.check("close_echo", close_echo)

    def many():
        socks = [WS(port, path, tok) for _ in range(50)]
        try:
            bad = [w.status for w in socks if w.status != 101]
            if bad:
                return "statuses %r" % bad[:5]
            for w in socks:
                op, p = w.recv()
                if op != 1:
                    return "first frame %r %r" % (op, p)
        finally:
            for w in socks:
                w.close()
    h.check("many_viewers", many)

    def delete():
        st, _, rep = c.request("POST", "/api/vms", dict(VM, name="gone"))
        if st != 201:
            return "create: %d %r" % (st, rep)
        w = WS(port, "/api/vms/gone/console/ws", tok)
        try:
            w.recv()
            st, _, rep = c.request("DELETE", "/api/vms/gone")
            if st != 204:
                return "delete: %d %r" % (st, rep)
            return w.expect_close(1001)
        finally:
            w.close()
    h.check("delete_1001", delete)

    c.close()

    def no_leak():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            n = fd_count(sup.proc.pid)
            if n <= fds_before:
                return None
            time.sleep(0.2)
        return "%d descriptors, %d before" % (fd_count(sup.proc.pid), fds_before)
    h.check("no_fd_leak", no_leak)


def main():
    if not os.access(h.KVMBOX, os.X_OK):
        h.result("ws_binary", "%s is missing; run make out/kvmbox" % h.KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-ws-")
    try:
        sup = v.Supervisor(os.path.join(work, "state"))
        try:
            run(sup)
            h.check("supervisor_alive", lambda: None if sup.proc.poll() is None else "exited %d" % sup.proc.returncode)
        finally:
            rc = sup.stop()
            if rc != 0:
                h.result("clean_exit", "exit status %r; log: %s" % (rc, sup.log()[-500:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
