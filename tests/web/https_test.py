#!/usr/bin/python3
"""The supervisor's HTTPS server, run on the host (`kvmbox supervisor`).

Starts out/kvmbox supervisor on 127.0.0.1 with ports picked by the kernel
(port 0; the log says which) and a temporary state directory, and checks:

  tls13, tls12_*            TLS 1.3 works; TLS 1.2 with ECDHE-ECDSA + GCM or ChaCha20
  refuse_*                  TLS 1.0 and 1.1, CBC suites and RSA key exchange are
                            refused (hand-made ClientHellos, with a control that
                            the same hello with a good suite is answered)
  cert_*                    ECDSA P-256, self-signed, SAN has localhost and
                            127.0.0.1, verifies for both names
  fingerprint_logged        the SHA-256 in the log is that of the served cert
  restart_same_cert         a restart reuses the key and certificate
  user_cert, bad_user_cert  a user's cert.pem/key.pem is served; a bad pair is
                            reported and left alone, the self-signed one served
  api_token                 log in (admin, hash from --admin-hash) and make the
                            API token that every later request carries
  api_host, openapi_*       JSON answers; the OpenAPI document parses, documents
                            every route (`kvmbox supervisor --routes`) and the
                            replies match its schemas
  err_*                     404, 405, 400, 414, 431, 413, 411, 501, 505 as JSON errors
  keepalive, pipelining, head, expect_continue
  slow_header, slow_handshake   stalled clients are cut off after the timeout
  concurrent_200            200 TLS connections open at once, all served
  redirect_308              port 80 answers with 308 to the HTTPS URL
  garbage_survived          random bytes on both ports end those connections only
  no_fd_leak, no_temp_files every connection's descriptor is given back; no
                            temporary files are left in the state directory
  sigterm_exit0             SIGTERM stops it with status 0, mid-request

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import base64
import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KVMBOX = os.environ.get("KVMBOX_BIN", os.path.join(ROOT, "out", "kvmbox"))
HEADER_MS = 1000
HANDSHAKE_MS = 1500

failures = 0

# The API needs a login (tests/web/auth_test.py checks that): these checks
# run with an API token made at the start, sent by get() and the hand-made
# requests to /api/host and /api/openapi.yaml. The admin password's hash is
# made here with Python's own PBKDF2, so the server's is checked against it.
ADMIN_PASSWORD = "correct horse battery"
ADMIN_SALT = bytes(range(16))
ADMIN_HASH = "pbkdf2-sha256$1000$%s$%s" % (
    base64.b64encode(ADMIN_SALT).decode(),
    base64.b64encode(hashlib.pbkdf2_hmac("sha256", ADMIN_PASSWORD.encode(), ADMIN_SALT, 1000)).decode())
AUTH = b""


def result(name, err=None):
    global failures
    if err:
        failures += 1
        print("not ok %s: %s" % (name, err), flush=True)
    else:
        print("ok %s" % name, flush=True)


def check(name, fn):
    try:
        err = fn()
    except Exception as e:  # a check that throws has failed, with the reason
        err = "%s: %s" % (type(e).__name__, e)
    result(name, err)


class Supervisor:
    """One `kvmbox supervisor` process; its log goes to a file."""

    def __init__(self, state, extra=()):
        self.state = state
        self.logpath = os.path.join(state + ".log")
        self.log_fd = open(self.logpath, "w")
        args = [KVMBOX, "supervisor", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0",
                "--state", state, "--limit", "header_ms=%d" % HEADER_MS,
                "--limit", "handshake_ms=%d" % HANDSHAKE_MS] + \
            (["--admin-hash", ADMIN_HASH] if ADMIN_HASH else []) + list(extra)
        self.proc = subprocess.Popen(args, stdout=self.log_fd, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.log()
            if "ready" in text:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("supervisor exited with %d: %s" % (self.proc.returncode, text[-500:]))
            time.sleep(0.05)
        else:
            raise RuntimeError("supervisor not ready in 20 s: " + self.log()[-500:])
        text = self.log()
        self.https = int(re.search(r"https: listening on 127\.0\.0\.1:(\d+)", text).group(1))
        self.http = int(re.search(r"http: listening on 127\.0\.0\.1:(\d+)", text).group(1))

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def fingerprint(self):
        m = re.findall(r"https: certificate SHA-256 fingerprint ([0-9A-F:]+)", self.log())
        return m[-1] if m else None

    def stop(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self.log_fd.close()
        return self.proc.returncode


def client_ctx(maximum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_connect(port, ctx=None, name="localhost", timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return (ctx or client_ctx()).wrap_socket(sock, server_hostname=name)


def read_response(sock):
    """(status, headers with lower-case names, body) of one response."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed before a response (%r)" % buf[:80])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def raw(port, data, ctx=None):
    """Send bytes over TLS and read one response."""
    s = tls_connect(port, ctx)
    try:
        s.sendall(data)
        status, headers, body, _ = read_response(s)
        return status, headers, body
    finally:
        s.close()


def get(port, path, method="GET"):
    return raw(port, ("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" % (method, path)).encode() +
               AUTH + b"\r\n")


def json_error(status, headers, body, want_status, want_code):
    if status != want_status:
        return "status %d, want %d (%r)" % (status, want_status, body[:200])
    if headers.get("content-type") != "application/json":
        return "content type %r" % headers.get("content-type")
    doc = json.loads(body)
    if set(doc) != {"error"} or set(doc["error"]) != {"code", "message"}:
        return "not the error shape: %r" % doc
    if doc["error"]["code"] != want_code or not doc["error"]["message"]:
        return "code %r, want %r" % (doc["error"]["code"], want_code)
    return None


def reply_error(status, reply, want_status, want_code):
    """json_error() for a reply already parsed into reply (a dict, or None)."""
    if status != want_status:
        return "status %d, want %d: %r" % (status, want_status, reply)
    if not isinstance(reply, dict) or set(reply) != {"error"} or reply["error"].get("code") != want_code:
        return "not the error shape with code %s: %r" % (want_code, reply)
    return None


# --- hand-made ClientHellos: what the server refuses must be refused by it,
# not by this Python's OpenSSL, which may not even offer TLS 1.0 or CBC. ---

def client_hello(version, suites):
    def ext(kind, data):
        return struct.pack(">HH", kind, len(data)) + data
    exts = (ext(0x000a, struct.pack(">HHH", 4, 0x0017, 0x001d)) +    # groups: P-256, X25519
            ext(0x000b, b"\x01\x00") +                               # point formats: uncompressed
            ext(0x000d, struct.pack(">HHHH", 6, 0x0403, 0x0804, 0x0401)) +  # ECDSA-SHA256, ...
            ext(0xff01, b"\x00"))                                     # renegotiation_info
    body = (struct.pack(">H", version) + os.urandom(32) + b"\x00" +
            struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", s) for s in suites) +
            b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def hello_answer(port, version, suites):
    """'server_hello' (with the version it chose), 'alert' or 'closed'."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(client_hello(version, suites))
        data = b""
        while len(data) < 11:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        return "closed"
    finally:
        s.close()
    if len(data) >= 11 and data[0] == 0x16 and data[5] == 0x02:
        return "server_hello %04x" % struct.unpack(">H", data[9:11])
    if len(data) >= 2 and data[0] == 0x15:
        return "alert"
    return "closed" if not data else "other %r" % data[:16]


ECDHE_ECDSA_AES128_GCM = 0xc02b
ECDHE_ECDSA_AES128_CBC_SHA256 = 0xc023
ECDHE_ECDSA_AES128_CBC_SHA = 0xc009
RSA_AES128_GCM = 0x009c
RSA_AES128_CBC_SHA = 0x002f
ECDHE_RSA_AES128_GCM = 0xc02f


# --- a small checker for the OpenAPI schema subset the document uses ---

def schema_errors(spec, schema, value, where="$"):
    if "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return schema_errors(spec, node, value, where)
    if value is None:
        return [] if schema.get("nullable") else ["%s: null" % where]
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool,
             "integer": int, "number": (int, float)}
    t = schema.get("type")
    if t and (not isinstance(value, kinds[t]) or (t in ("integer", "number") and isinstance(value, bool))):
        return ["%s: %r is not %s" % (where, value, t)]
    errs = []
    if "enum" in schema and value not in schema["enum"]:
        errs.append("%s: %r not in %r" % (where, value, schema["enum"]))
    if t == "object":
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errs.append("%s: missing %s" % (where, k))
        for k, v in value.items():
            if k in props:
                errs += schema_errors(spec, props[k], v, "%s.%s" % (where, k))
            elif schema.get("additionalProperties") is False:
                errs.append("%s: undocumented %s" % (where, k))
    return errs


def load_yaml(text):
    """PyYAML if it is there, else mini_yaml."""
    try:
        import yaml
    except ImportError:
        return mini_yaml(text)
    return yaml.safe_load(text)


def mini_yaml(text):
    """The YAML subset openapi.yaml is written in: block mappings and
    sequences, plain and quoted scalars, one-line or wrapped flow sequences,
    literal blocks (|). Anything else raises ValueError, so the document
    stays in the subset and parses without PyYAML."""
    lines = text.split("\n")
    pos = 0

    def ind(line):
        return len(line) - len(line.lstrip(" "))

    def skip():
        nonlocal pos
        while pos < len(lines) and (not lines[pos].strip() or lines[pos].lstrip().startswith("#")):
            pos += 1

    def scalar(v):
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] == "'":
            return v[1:-1].replace("''", "'")
        if len(v) >= 2 and v[0] == v[-1] == '"':
            return json.loads(v)
        if v.startswith("["):
            if not v.endswith("]"):
                raise ValueError("unterminated flow sequence %r" % v)
            return [scalar(x) for x in v[1:-1].split(",") if x.strip()]
        if v in ("true", "false"):
            return v == "true"
        if v in ("null", "~", ""):
            return None
        if re.fullmatch(r"-?[0-9]+", v):
            return int(v)
        if "\t" in v or v[0] in "{&*!%@`>":
            raise ValueError("not in the YAML subset: %r" % v)
        return v

    def value(rest, indent):
        nonlocal pos
        rest = rest.strip()
        if rest == "|":
            pos += 1
            out = []
            while pos < len(lines) and (not lines[pos].strip() or ind(lines[pos]) > indent):
                out.append(lines[pos])
                pos += 1
            while out and not out[-1].strip():
                out.pop()
            cut = min(ind(x) for x in out if x.strip())
            return "\n".join(x[cut:] for x in out) + "\n"
        if rest == "":
            pos += 1
            skip()
            if pos < len(lines) and (ind(lines[pos]) > indent or
                                     (ind(lines[pos]) == indent and lines[pos].lstrip().startswith("- "))):
                return block()
            return None
        while rest.startswith("[") and not rest.endswith("]"):
            pos += 1
            rest += " " + lines[pos].strip()
        pos += 1
        return scalar(rest)

    def mapping(indent):
        nonlocal pos
        d = {}
        while True:
            skip()
            if pos >= len(lines) or ind(lines[pos]) != indent or lines[pos].lstrip().startswith("- "):
                return d
            m = re.match(r"('[^']*'|\"[^\"]*\"|[^:'\"\s][^:]*):(?:\s+|$)(.*)", lines[pos].strip())
            if not m:
                raise ValueError("line %d: %r" % (pos + 1, lines[pos]))
            key = scalar(m.group(1))
            if key in d:
                raise ValueError("line %d: duplicate key %r" % (pos + 1, key))
            d[key] = value(m.group(2), indent)

    def seq(indent):
        nonlocal pos
        out = []
        while True:
            skip()
            if pos >= len(lines) or ind(lines[pos]) != indent or not lines[pos].lstrip().startswith("- "):
                return out
            item = lines[pos].lstrip()[2:]
            if re.match(r"[^\s'\"\[][^:]*:(\s|$)", item):
                lines[pos] = " " * (indent + 2) + item  # "- k: v" opens a mapping
                out.append(mapping(indent + 2))
            else:
                out.append(value(item, indent))

    def block():
        skip()
        if pos >= len(lines):
            return None
        line = lines[pos]
        return seq(ind(line)) if line.lstrip().startswith("- ") else mapping(ind(line))

    if "\t" in text:
        raise ValueError("tabs in YAML")
    doc = block()
    skip()
    if pos < len(lines):
        raise ValueError("line %d: %r is out of place" % (pos + 1, lines[pos]))
    return doc


def main():
    if not os.access(KVMBOX, os.X_OK):
        result("https_binary", "%s is missing; run make out/kvmbox" % KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-https-")
    state = os.path.join(work, "state")
    sup = None
    try:
        sup = Supervisor(state)
        check("api_token", lambda: make_token(sup.https))
        run_checks(sup, work, state)
        # Restart on the same state: same certificate.
        fp1 = sup.fingerprint()
        sup = restart(sup, state)
        check("restart_same_cert", lambda: None if sup.fingerprint() == fp1 and
              served_fp(sup.https) == fp1 and "made a new" not in sup.log()
              else "fingerprint %s after restart, %s before" % (sup.fingerprint(), fp1))
        sup = user_cert_checks(sup, work, state)
        check("sigterm_exit0", lambda: sigterm_check(sup))
    finally:
        if sup and sup.proc.poll() is None:
            sup.proc.kill()
            sup.proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def make_token(port):
    """Log in as admin and make the API token the other checks use."""
    global AUTH
    body = json.dumps({"user": "admin", "password": ADMIN_PASSWORD}).encode()
    status, headers, reply = raw(port, b"POST /api/auth/login HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    if status != 200:
        return "login: %d %r" % (status, reply[:200])
    cookie = headers["set-cookie"].split(";")[0]
    csrf = json.loads(reply)["csrf"]
    body = b'{"name":"https_test"}'
    status, _, reply = raw(port, ("POST /api/auth/tokens HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                                  "Cookie: %s\r\nX-CSRF-Token: %s\r\nContent-Type: application/json\r\n"
                                  "Content-Length: %d\r\n\r\n" % (cookie, csrf, len(body))).encode() + body)
    if status != 201:
        return "token: %d %r" % (status, reply[:200])
    AUTH = ("Authorization: Bearer %s\r\n" % json.loads(reply)["token"]).encode()
    return None


def restart(sup, state):
    rc = sup.stop()
    if rc != 0:
        raise RuntimeError("supervisor exited with %r on SIGTERM" % rc)
    return Supervisor(state)


def served_der(port, name="localhost"):
    s = tls_connect(port, name=name)
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


def served_fp(port):
    return ":".join("%02X" % b for b in hashlib.sha256(served_der(port)).digest())


# DER encodings of the OIDs that make a certificate ECDSA P-256.
OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")      # 1.2.840.10045.2.1
OID_PRIME256V1 = bytes.fromhex("06082a8648ce3d030107")       # 1.2.840.10045.3.1.7
OID_ECDSA_SHA256 = bytes.fromhex("06082a8648ce3d040302")     # 1.2.840.10045.4.3.2


def verified_peercert(port, cafile, name):
    """Connect trusting only cafile, check name; the decoded certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=cafile)
    s = tls_connect(port, ctx, name=name)
    try:
        return s.getpeercert()
    finally:
        s.close()


def run_checks(sup, work, state):
    port = sup.https

    def tls13():
        s = tls_connect(port)
        try:
            if s.version() != "TLSv1.3":
                return "negotiated %s" % s.version()
            if s.cipher()[0] not in ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256",
                                     "TLS_CHACHA20_POLY1305_SHA256"):
                return "cipher %s" % s.cipher()[0]
            s.sendall(b"GET /api/host HTTP/1.1\r\n" + AUTH + b"Host: localhost\r\n\r\n")
            status = read_response(s)[0]
            return None if status == 200 else "status %d" % status
        finally:
            s.close()
    check("tls13", tls13)

    def tls12(suite):
        def fn():
            s = tls_connect(port, client_ctx(ssl.TLSVersion.TLSv1_2, suite))
            try:
                if s.version() != "TLSv1.2" or s.cipher()[0] != suite:
                    return "negotiated %s %s" % (s.version(), s.cipher()[0])
                return None
            finally:
                s.close()
        return fn
    check("tls12_ecdhe_aes128_gcm", tls12("ECDHE-ECDSA-AES128-GCM-SHA256"))
    check("tls12_ecdhe_aes256_gcm", tls12("ECDHE-ECDSA-AES256-GCM-SHA384"))
    check("tls12_ecdhe_chacha20", tls12("ECDHE-ECDSA-CHACHA20-POLY1305"))

    def hello(version, suites, want):
        def fn():
            got = hello_answer(port, version, suites)
            return None if got.startswith(want) else "answer %s, want %s" % (got, want)
        return fn
    # The control: this hand-made hello is good enough to be answered.
    check("hello_control_tls12_gcm", hello(0x0303, [ECDHE_ECDSA_AES128_GCM], "server_hello 0303"))
    for name, ver, suites in (
            ("refuse_tls10", 0x0301, [ECDHE_ECDSA_AES128_GCM, ECDHE_ECDSA_AES128_CBC_SHA]),
            ("refuse_tls11", 0x0302, [ECDHE_ECDSA_AES128_GCM, ECDHE_ECDSA_AES128_CBC_SHA]),
            ("refuse_cbc_sha256", 0x0303, [ECDHE_ECDSA_AES128_CBC_SHA256]),
            ("refuse_cbc_sha1", 0x0303, [ECDHE_ECDSA_AES128_CBC_SHA]),
            ("refuse_rsa_kex_gcm", 0x0303, [RSA_AES128_GCM]),
            ("refuse_rsa_kex_cbc", 0x0303, [RSA_AES128_CBC_SHA]),
            ("refuse_ecdhe_rsa", 0x0303, [ECDHE_RSA_AES128_GCM])):
        got = None
        try:
            got = hello_answer(port, ver, suites)
            result(name, None if got in ("alert", "closed") else "answer %s" % got)
        except Exception as e:
            result(name, "%s: %s" % (type(e).__name__, e))

    def python_refused(maximum, ciphers):
        def fn():
            try:
                ctx = client_ctx(maximum, ciphers)
            except ssl.SSLError:
                return "this Python cannot offer %s" % ciphers
            try:
                s = tls_connect(port, ctx)
            except (ssl.SSLError, ConnectionResetError):
                return None
            v = s.version()
            s.close()
            return "handshake succeeded with %s" % v
        return fn
    check("refuse_openssl_cbc", python_refused(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA256"))
    check("refuse_openssl_rsa", python_refused(ssl.TLSVersion.TLSv1_2, "AES128-GCM-SHA256"))

    der = served_der(port)
    pem_path = os.path.join(work, "served.pem")
    with open(pem_path, "w") as f:
        f.write(ssl.DER_cert_to_PEM_cert(der))

    def cert_p256():
        if OID_EC_PUBLIC_KEY not in der or OID_PRIME256V1 not in der:
            return "not an ECDSA P-256 key"
        if OID_ECDSA_SHA256 not in der:
            return "not signed with ECDSA-SHA256"
        return None
    check("cert_ecdsa_p256", cert_p256)

    def cert_self_signed():
        # Trusting nothing but the served certificate itself, it verifies:
        # it is signed by its own key.
        c = verified_peercert(port, pem_path, "localhost")
        return None if c["issuer"] == c["subject"] else "issuer %r, subject %r" % (c["issuer"], c["subject"])
    check("cert_self_signed", cert_self_signed)

    def cert_san():
        c = verified_peercert(port, pem_path, "localhost")
        san = c.get("subjectAltName", ())
        want = [("DNS", "localhost"), ("DNS", "kvmbox"), ("IP Address", "127.0.0.1"),
                ("DNS", socket.gethostname())]
        missing = [w for w in want if w not in san]
        return "SAN %r lacks %r" % (san, missing) if missing else None
    check("cert_san", cert_san)

    def cert_verifies():
        for name in ("localhost", "127.0.0.1"):
            verified_peercert(port, os.path.join(state, "tls", "selfsigned-cert.pem"), name)
        try:
            verified_peercert(port, pem_path, "not-this-host.example")
        except ssl.SSLCertVerificationError:
            return None
        return "verified for a name it does not have"
    check("cert_verifies_for_names", cert_verifies)

    def fp_logged():
        fp = sup.fingerprint()
        want = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
        return None if fp == want else "log says %s, served cert is %s" % (fp, want)
    check("fingerprint_logged", fp_logged)

    def files_private():
        mode = os.stat(os.path.join(state, "tls", "selfsigned-key.pem")).st_mode & 0o777
        return None if mode == 0o600 else "key file mode %o" % mode
    check("key_file_0600", files_private)

    spec = {}

    def api_host():
        status, headers, body = get(port, "/api/host")
        if status != 200 or headers.get("content-type") != "application/json":
            return "status %d, type %s" % (status, headers.get("content-type"))
        h = json.loads(body)
        if h["hostname"] != socket.gethostname():
            return "hostname %r" % h["hostname"]
        if h["kvm"] != os.path.exists("/dev/kvm"):
            return "kvm %r" % h["kvm"]
        if h["iommu"] != bool(os.path.isdir("/sys/class/iommu") and os.listdir("/sys/class/iommu")):
            return "iommu %r" % h["iommu"]
        with open("/proc/meminfo") as f:
            total = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) * 1024
        if h["memory"]["total_bytes"] != total:
            return "memory %r, /proc says %d" % (h["memory"], total)
        if not 1 <= h["cpu"]["count"] <= os.cpu_count():
            return "cpu count %r" % h["cpu"]["count"]
        if not h["cpu"]["model"] or not isinstance(h["uptime_s"], int) or h["uptime_s"] <= 0:
            return "cpu model or uptime: %r" % h
        if h["state"] != {"dir": state, "persistent": True}:
            return "state %r" % h["state"]
        if h["tls"]["sha256_fingerprint"] != sup.fingerprint():
            return "tls %r" % h["tls"]
        return None
    check("api_host", api_host)

    def openapi_served():
        status, headers, body = get(port, "/api/openapi.yaml")
        if status != 200 or headers.get("content-type") != "application/yaml":
            return "status %d type %s" % (status, headers.get("content-type"))
        with open(os.path.join(ROOT, "vmm", "api", "openapi.yaml"), "rb") as f:
            if f.read() != body:
                return "served document differs from vmm/api/openapi.yaml"
        doc = load_yaml(body.decode())
        if not str(doc.get("openapi", "")).startswith("3.") or "paths" not in doc:
            return "not an OpenAPI 3 document"
        version = json.loads(get(port, "/api/host")[2])["version"]
        if doc["info"]["version"] != version:
            return "documents version %s, the server is %s" % (doc["info"]["version"], version)
        spec.update(doc)
        return None
    check("openapi_served_parses", openapi_served)

    def mini_agrees():
        # The fallback for hosts without PyYAML must read the document as
        # PyYAML does (checked where PyYAML is installed).
        try:
            import yaml
        except ImportError:
            return None if mini_yaml(open(os.path.join(ROOT, "vmm", "api", "openapi.yaml")).read()) else "empty"
        with open(os.path.join(ROOT, "vmm", "api", "openapi.yaml")) as f:
            text = f.read()
        return None if mini_yaml(text) == yaml.safe_load(text) else "mini_yaml and PyYAML disagree"
    check("openapi_fallback_parser_agrees", mini_agrees)

    def openapi_routes():
        if not spec:
            return "no document"
        out = subprocess.run([KVMBOX, "supervisor", "--routes"], capture_output=True, text=True, check=True).stdout
        routes = {tuple(line.split(" ", 1)) for line in out.strip().splitlines()}
        documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                      if m in ("get", "put", "post", "delete", "patch", "head", "options")}
        if not routes:
            return "--routes printed nothing"
        if routes != documented:
            return "undocumented %s, not served %s" % (sorted(routes - documented), sorted(documented - routes))
        return None
    check("openapi_documents_every_route", openapi_routes)

    def openapi_schemas():
        if not spec:
            return "no document"
        status, _, body = get(port, "/api/host")
        s = spec["paths"]["/api/host"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        errs = schema_errors(spec, s, json.loads(body))
        status, _, body = get(port, "/api/nothing")
        errs += schema_errors(spec, {"$ref": "#/components/schemas/Error"}, json.loads(body))
        # The error codes the server can send are all in the enum.
        codes = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
        with open(os.path.join(ROOT, "vmm", "http", "http_parse.c")) as f:
            src = f.read()
        for code in re.findall(r'return "([a-z_]+)";', src.split("http_status_code", 1)[1]):
            if code not in codes:
                errs.append("code %s not in the enum" % code)
        return "; ".join(errs) if errs else None
    check("openapi_replies_match_schemas", openapi_schemas)

    def host_pci():
        # The host's PCI functions as the API shows them: every function in
        # sysfs, each with its group and driver as sysfs says, in the
        # documented shape.
        status, _, body = get(port, "/api/host/pci")
        if status != 200:
            return "status %d: %r" % (status, body[:200])
        doc = json.loads(body)
        errs = schema_errors(spec, {"$ref": "#/components/schemas/HostPci"}, doc) if spec else []
        want = sorted(os.listdir("/sys/bus/pci/devices"))
        got = sorted(d["bdf"] for d in doc["devices"])
        if got != want:
            errs.append("functions %s, sysfs has %s" % (got, want))
        for d in doc["devices"]:
            link = os.path.join("/sys/bus/pci/devices", d["bdf"], "driver")
            drv = os.path.basename(os.readlink(link)) if os.path.islink(link) else None
            if d["driver"] != drv:
                errs.append("%s: driver %r, sysfs %r" % (d["bdf"], d["driver"], drv))
        return "; ".join(errs) if errs else None
    check("api_host_pci", host_pci)

    check("err_404_json", lambda: json_error(*get(port, "/api/nothing"), 404, "not_found"))

    def err_405():
        status, headers, body = raw(port, b"POST /api/host HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        return json_error(status, headers, body, 405, "method_not_allowed") or (
            None if headers.get("allow") == "GET, HEAD, OPTIONS" else "Allow %r" % headers.get("allow"))
    check("err_405_json", err_405)
    check("err_400_json", lambda: json_error(*raw(port, b"GARBAGE\r\n\r\n"), 400, "bad_request"))
    check("err_400_bare_lf", lambda: json_error(*raw(port, b"GET / HTTP/1.1\nHost: a\n\n"), 400, "bad_request"))
    check("err_414_json", lambda: json_error(
        *raw(port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n"), 414, "request_line_too_long"))
    check("err_431_json", lambda: json_error(
        *raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"), 431,
        "headers_too_large"))
    check("err_413_json", lambda: json_error(
        *raw(port, b"POST /api/host HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 65536),
        413, "body_too_large"))
    check("err_411_json", lambda: json_error(*raw(port, b"POST /api/host HTTP/1.1\r\nHost: a\r\n\r\n"), 411,
                                             "length_required"))
    check("err_501_chunked", lambda: json_error(
        *raw(port, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 501,
        "not_implemented"))
    check("err_505_json", lambda: json_error(*raw(port, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505,
                                             "version_not_supported"))

    def keepalive():
        s = tls_connect(port)
        try:
            for _ in range(3):
                s.sendall(b"GET /api/host HTTP/1.1\r\n" + AUTH + b"Host: a\r\n\r\n")
                status, headers, _, extra = read_response(s)
                if status != 200 or headers.get("connection") != "keep-alive" or extra:
                    return "status %d connection %s" % (status, headers.get("connection"))
            return None
        finally:
            s.close()
    check("keepalive", keepalive)

    def pipelining():
        s = tls_connect(port)
        try:
            s.sendall(b"GET /api/host HTTP/1.1\r\n" + AUTH + b"Host: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /api/openapi.yaml HTTP/1.1\r\n" + AUTH + b"Host: a\r\nConnection: close\r\n\r\n")
            got = []
            buf = b""
            for _ in range(3):
                # read_response may read past one response: feed leftovers back.
                status, headers, body, buf = read_buffered(s, buf)
                got.append(status)
            last_close = headers.get("connection") == "close"
            return None if got == [200, 404, 200] and last_close else "statuses %r" % got
        finally:
            s.close()
    check("pipelining", pipelining)

    def head():
        s = tls_connect(port)
        try:
            s.sendall(b"HEAD /api/openapi.yaml HTTP/1.1\r\n" + AUTH + b"Host: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
            status, headers, _, buf = read_buffered(s, b"", head_only=True)
            n = int(headers.get("content-length", "0"))
            status2, _, _, _ = read_buffered(s, buf)
            return None if status == 200 and n > 1000 and status2 == 404 else "HEAD %d len %d then %d" % (
                status, n, status2)
        finally:
            s.close()
    check("head_no_body", head)

    def expect_continue():
        s = tls_connect(port)
        try:
            s.sendall(b"POST /api/host HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            status, _, _, buf = read_buffered(s, b"")
            if status != 100:
                return "first status %d" % status
            s.sendall(b"{}")
            status, _, _, _ = read_buffered(s, buf)
            return None if status == 405 else "then status %d" % status
        finally:
            s.close()
    check("expect_continue", expect_continue)

    def slow_header():
        s = tls_connect(port)
        try:
            s.sendall(b"GET /api/host HTTP/1.1\r\n" + AUTH + b"Host: a\r\n")
            t0 = time.monotonic()
            s.settimeout(10)
            try:
                status, _, body, _ = read_response(s)
            except EOFError:
                status = None
            dt = time.monotonic() - t0
            if not HEADER_MS / 1000 * 0.8 <= dt <= HEADER_MS / 1000 + 2:
                return "cut off after %.2f s, header timeout is %d ms" % (dt, HEADER_MS)
            return None if status == 408 else "status %r" % status
        finally:
            s.close()
    check("slow_header_timeout", slow_header)

    def slow_handshake():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            t0 = time.monotonic()
            data = s.recv(100)  # we never send a ClientHello
            dt = time.monotonic() - t0
            if data:
                return "got %r" % data[:20]
            ok = HANDSHAKE_MS / 1000 * 0.8 <= dt <= HANDSHAKE_MS / 1000 + 2
            return None if ok else "closed after %.2f s, handshake timeout is %d ms" % (dt, HANDSHAKE_MS)
        except ConnectionResetError:
            return None
        finally:
            s.close()
    check("slow_handshake_timeout", slow_handshake)

    def concurrent():
        socks = []
        try:
            for _ in range(200):
                socks.append(tls_connect(port, timeout=20))
            for s in socks:
                s.sendall(b"GET /api/host HTTP/1.1\r\n" + AUTH + b"Host: a\r\nConnection: close\r\n\r\n")
            ok = sum(1 for s in socks if read_response(s)[0] == 200)
            return None if ok == 200 else "%d of 200 served" % ok
        finally:
            for s in socks:
                s.close()
    check("concurrent_200", concurrent)

    def redirect():
        s = socket.create_connection(("127.0.0.1", sup.http), timeout=10)
        try:
            s.sendall(("GET /api/host?x=1 HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % sup.http).encode())
            status, headers, body, _ = read_response(s)
        finally:
            s.close()
        want = "https://localhost:%d/api/host?x=1" % port
        if status != 308 or headers.get("location") != want:
            return "status %d location %r, want %r" % (status, headers.get("location"), want)
        # And the Location works.
        st = get(port, "/api/host?x=1")[0]
        return None if st == 200 else "following it gave %d" % st
    check("redirect_308", redirect)

    def redirect_no_host():
        s = socket.create_connection(("127.0.0.1", sup.http), timeout=10)
        try:
            s.sendall(b"DELETE /a/b HTTP/1.0\r\n\r\n")
            status, headers, _, _ = read_response(s)
        finally:
            s.close()
        want = "https://127.0.0.1:%d/a/b" % port
        return None if status == 308 and headers.get("location") == want else "status %d location %r" % (
            status, headers.get("location"))
    check("redirect_308_without_host", redirect_no_host)

    def garbage():
        # Random bytes where a ClientHello belongs, and inside a TLS session
        # where a request belongs: each connection ends, the server lives.
        rnd = random.Random(1234)
        for i in range(40):
            s = socket.create_connection(("127.0.0.1", port if i % 2 else sup.http), timeout=10)
            try:
                s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 3000))))
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except (ConnectionResetError, BrokenPipeError):
                pass
            except OSError as e:
                # The server may reset the connection before our shutdown():
                # that is the connection ending, as it should.
                if e.errno != errno.ENOTCONN:
                    raise
            finally:
                s.close()
        for i in range(10):
            s = tls_connect(port)
            try:
                s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 3000))) + b"\r\n\r\n")
                status = read_response(s)[0]
                if status not in (400, 414, 431, 501, 505):
                    return "random request answered %d" % status
            except EOFError:
                pass
            finally:
                s.close()
        return None if sup.proc.poll() is None else "the server died"
    check("garbage_survived", garbage)

    def still_alive():
        return None if get(port, "/api/host")[0] == 200 and sup.proc.poll() is None else "not serving"
    check("serving_after_abuse", still_alive)

    def no_fd_leak():
        # Every connection above is closed (some linger up to 2 s): the
        # descriptors must come back to the listeners, epoll, signalfd, stdio,
        # and the VM registry's epoll and timerfd.
        fd_dir = "/proc/%d/fd" % sup.proc.pid
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            n = len(os.listdir(fd_dir))
            if n <= 10:
                return None
            time.sleep(0.2)
        return "%d descriptors open: %s" % (n, sorted(os.readlink(os.path.join(fd_dir, f))
                                                      for f in os.listdir(fd_dir)))
    check("no_fd_leak", no_fd_leak)

    def no_temp_files():
        left = [f for f in os.listdir(os.path.join(state, "tls")) if ".tmp" in f]
        return "left behind: %r" % left if left else None
    check("no_temp_files", no_temp_files)


def read_buffered(sock, buf, head_only=False):
    """Like read_response, starting with bytes already read; returns the rest."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = 0 if head_only or status == 100 else int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def user_cert_checks(sup, work, state):
    tls = os.path.join(state, "tls")
    key, cert = os.path.join(tls, "key.pem"), os.path.join(tls, "cert.pem")
    # Another key and certificate, as a user would bring: made by a second
    # supervisor in a state directory of its own.
    other_state = os.path.join(work, "other")
    Supervisor(other_state).stop()
    shutil.copy(os.path.join(other_state, "tls", "selfsigned-cert.pem"), cert)
    shutil.copy(os.path.join(other_state, "tls", "selfsigned-key.pem"), key)
    with open(cert) as f:
        user_der = ssl.PEM_cert_to_DER_cert(f.read())
    user_fp = ":".join("%02X" % b for b in hashlib.sha256(user_der).digest())
    sup = restart(sup, state)

    def user_cert():
        if served_fp(sup.https) != user_fp or sup.fingerprint() != user_fp:
            return "served %s, log %s, user's %s" % (served_fp(sup.https), sup.fingerprint(), user_fp)
        return None if "serving the certificate in" in sup.log() else "log does not say so"
    check("user_cert", user_cert)

    # A key that is not the certificate's: reported, files kept, self-signed served.
    third_state = os.path.join(work, "third")
    Supervisor(third_state).stop()
    shutil.copy(os.path.join(third_state, "tls", "selfsigned-key.pem"), key)
    with open(key, "rb") as f:
        bad_key = f.read()
    sup = restart(sup, state)

    def bad_user_cert():
        log = sup.log()
        if "does not belong to the (first) certificate" not in log:
            return "no clear error in the log: %s" % log[-600:]
        with open(key, "rb") as f:
            if f.read() != bad_key:
                return "the user's key file was changed"
        with open(os.path.join(tls, "selfsigned-cert.pem")) as f:
            self_fp = ":".join("%02X" % b for b in hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).digest())
        return None if served_fp(sup.https) == self_fp else "not serving the self-signed certificate"
    check("bad_user_cert_reported_kept", bad_user_cert)

    # Garbage in the files: same.
    with open(cert, "w") as f:
        f.write("not a certificate\n")
    sup = restart(sup, state)
    check("garbage_user_cert_reported", lambda: None if "not PEM" in sup.log() and
          get(sup.https, "/api/host")[0] == 200 else sup.log()[-600:])
    os.unlink(cert)
    os.unlink(key)
    return sup


def sigterm_check(sup):
    # With a connection open mid-request, it must still exit 0 promptly.
    s = tls_connect(sup.https)
    s.sendall(b"GET /api/host HTTP/1.1\r\n" + AUTH)
    t0 = time.monotonic()
    rc = sup.stop()
    s.close()
    dt = time.monotonic() - t0
    if rc != 0:
        return "exit status %r" % rc
    return None if dt < 3 else "took %.1f s" % dt


if __name__ == "__main__":
    sys.exit(main())
