#!/usr/bin/python3
"""Settings, the HTTPS certificate and the networks of the supervisor's API
(vmm/api/api_settings.c, api_cert.c, api_networks.c, vmm/api/settings.c,
vmm/http/tls_server.c), against the real `out/kvmbox supervisor` on
127.0.0.1.

  settings_*     GET gives the defaults, then what PUT stored (also on disk);
                 a partial PUT keeps the rest; every bad field is a 400 that
                 names it; 415 without JSON; 401 without a token
  future_*       a version-2 settings.json: GET and PUT refuse it (409) and
                 leave it byte for byte as it was
  corrupt_*      a broken settings.json: GET 500, PUT replaces it
  networks_*     the interfaces of /sys/class/net with their addresses, the
                 default route and DNS servers
  cert_*         the served certificate (GET); an uploaded P-256 pair is
                 served on a new TLS connection at once, while an open one
                 keeps the old; a mismatched pair, an RSA pair and garbage are
                 refused (422) and the old certificate is still served;
                 regenerate makes a new self-signed one; DELETE goes back;
                 GET /api/host follows each change
  restart_*      settings and the uploaded certificate survive a restart
  replies_match_schemas  the GET replies in the shapes openapi.yaml gives

Prints "ok NAME" / "not ok NAME: why" per check; exits 1 on a failure.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import https_test as h  # noqa: E402  (Supervisor, raw, check, result, served_der)

SUP_ARGS = ["--auth-iterations", "1000"]
T = {}  # the token, and what later checks need


def request(port, method, path, body=None, ctype="application/json", auth=True, sock=None):
    """(status, headers, parsed JSON or raw bytes) of one request; on sock
    (kept open) when given, else on a new connection."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
    if sock is None:
        lines.append("Connection: close")
    if auth:
        lines.append("Authorization: Bearer %s" % T["token"])
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        lines.append("Content-Type: %s" % ctype)
    if body is not None or method in ("POST", "PUT"):
        lines.append("Content-Length: %d" % len(data))
    msg = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    if sock is None:
        status, headers, reply = h.raw(port, msg)
    else:
        sock.sendall(msg)
        status, headers, reply, _ = h.read_response(sock)
    try:
        reply = json.loads(reply) if reply else None
    except ValueError:
        pass
    return status, headers, reply


def err(status, reply, want_status, want_code, words=()):
    if status != want_status:
        return "status %d, want %d: %r" % (status, want_status, reply)
    if not isinstance(reply, dict) or set(reply) != {"error"} or reply["error"].get("code") != want_code:
        return "not the error shape with code %s: %r" % (want_code, reply)
    for w in words:
        if w not in reply["error"]["message"]:
            return "message %r does not say %r" % (reply["error"]["message"], w)
    return None


def fp_of(der):
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def served_fp(port):
    """The fingerprint of what a NEW TLS connection is served."""
    return fp_of(h.served_der(port))


def pem_der(pem):
    import ssl
    return ssl.PEM_cert_to_DER_cert(pem)


def openssl_pair(work, name, kind="ec"):
    """(cert PEM, key PEM) of a new self-signed pair made by openssl."""
    key, crt = os.path.join(work, name + ".key"), os.path.join(work, name + ".crt")
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else ["-newkey", "rsa:2048"]
    subprocess.run(["openssl", "req", "-x509"] + newkey + ["-nodes", "-keyout", key, "-out", crt, "-days", "30",
                    "-subj", "/CN=%s.example" % name, "-addext",
                    "subjectAltName=DNS:%s.example,IP:127.0.0.1" % name],
                   check=True, capture_output=True, timeout=60)
    return open(crt).read(), open(key).read()


def settings_checks(sup, state):
    port = sup.https
    path = os.path.join(state, "settings.json")
    h.check("settings_unauth_401", lambda: err(*request(port, "GET", "/api/settings", auth=False)[::2],
                                               401, "unauthorized"))

    def default():
        st, _, rep = request(port, "GET", "/api/settings")
        want = {"version": 1, "network": {"mode": "dhcp"}, "hostname": "kvmbox"}
        return None if st == 200 and rep == want else "%d %r" % (st, rep)
    h.check("settings_default", default)

    static = {"mode": "static", "address": "192.168.1.10/24", "gateway": "192.168.1.1", "dns": ["192.168.1.1"]}

    def put_static():
        st, _, rep = request(port, "PUT", "/api/settings", {"version": 1, "network": static, "hostname": "box-1"})
        want = {"version": 1, "network": static, "hostname": "box-1"}
        if st != 200 or rep != dict(want, applies_at="next boot"):
            return "%d %r" % (st, rep)
        st, _, rep = request(port, "GET", "/api/settings")
        if st != 200 or rep != want:
            return "GET after PUT: %d %r" % (st, rep)
        with open(path) as f:
            on_disk = json.load(f)
        return None if on_disk == want else "on disk: %r" % on_disk
    h.check("settings_put_static", put_static)

    def partial():
        st, _, rep = request(port, "PUT", "/api/settings", {"hostname": "box-2"})
        if st != 200 or rep.get("network") != static or rep.get("hostname") != "box-2":
            return "%d %r" % (st, rep)
        st, _, rep = request(port, "PUT", "/api/settings", {"network": {"mode": "dhcp"}})
        if st != 200 or rep.get("network") != {"mode": "dhcp"} or rep.get("hostname") != "box-2":
            return "%d %r" % (st, rep)
        st, _, rep = request(port, "PUT", "/api/settings", {"network": static})
        return None if st == 200 and rep["network"] == static else "%d %r" % (st, rep)
    h.check("settings_put_partial", partial)

    def net(**kw):
        return {"network": dict({"mode": "static", "address": "192.168.1.10/24"}, **kw)}
    bad = [
        ("not_json", b'{"network":', ["JSON"]),
        ("not_object", [1], ["object"]),
        ("unknown_member", {"hostnme": "x"}, ["hostnme"]),
        ("mode", {"network": {"mode": "auto"}}, ["network.mode"]),
        ("address", net(address="192.168.1.300/24"), ["network.address"]),
        ("address_no_prefix", net(address="192.168.1.10"), ["network.address"]),
        ("prefix", net(address="192.168.1.10/33"), ["network.address", "prefix"]),
        ("address_is_subnet", net(address="192.168.1.0/24"), ["network.address"]),
        ("gateway_outside", net(gateway="192.168.2.1"), ["network.gateway", "outside"]),
        ("gateway_not_ip", net(gateway="router"), ["network.gateway"]),
        ("dns", net(dns=["1.1.1.1", "x"]), ["network.dns[1]"]),
        ("dns_too_many", net(dns=["1.1.1.1", "1.0.0.1", "8.8.8.8"]), ["network.dns"]),
        ("hostname", {"hostname": "-bad-"}, ["hostname", "RFC 1123"]),
        ("hostname_underscore", {"hostname": "a_b"}, ["hostname"]),
        ("hostname_long", {"hostname": "a" * 64}, ["hostname"]),
        ("version_2", {"version": 2, "hostname": "a"}, ["version 2", "newer"]),
    ]
    for name, body, words in bad:
        h.check("settings_bad_" + name, lambda b=body, w=words: err(*request(port, "PUT", "/api/settings", b)[::2],
                                                                      400, "bad_request", w))

    def unchanged():
        st, _, rep = request(port, "GET", "/api/settings")
        return None if st == 200 and rep["network"] == static else "a refused PUT changed them: %r" % rep
    h.check("settings_bad_changes_nothing", unchanged)
    h.check("settings_put_json_only", lambda: err(*request(port, "PUT", "/api/settings", b"hostname=a",
                                                           ctype="text/plain")[::2], 415, "unsupported_media_type"))


def future_checks(port, state):
    path = os.path.join(state, "settings.json")
    keep = open(path, "rb").read()
    future = b'{"version":2,"network":{"mode":"dhcp","vlan":7},"hostname":"x","new":true}\n'
    with open(path, "wb") as f:
        f.write(future)

    def refused():
        e = err(*request(port, "GET", "/api/settings")[::2], 409, "conflict", ["version 2", "newer"])
        if e:
            return "GET: " + e
        e = err(*request(port, "PUT", "/api/settings", {"hostname": "other"})[::2], 409, "conflict",
                ["version 2", "not overwritten"])
        if e:
            return "PUT: " + e
        return None if open(path, "rb").read() == future else "the file was changed"
    h.check("future_settings_refused_unchanged", refused)

    with open(path, "wb") as f:
        f.write(b'{"version":1,"network":')

    def corrupt():
        e = err(*request(port, "GET", "/api/settings")[::2], 500, "internal_error", ["settings.json"])
        if e:
            return "GET: " + e
        st, _, rep = request(port, "PUT", "/api/settings", {"hostname": "fixed"})
        if st != 200 or rep["hostname"] != "fixed" or rep["network"] != {"mode": "dhcp"}:
            return "PUT: %d %r" % (st, rep)
        return None
    h.check("corrupt_settings_replaced", corrupt)
    with open(path, "wb") as f:
        f.write(keep)


def network_checks(port):
    def interfaces():
        st, _, rep = request(port, "GET", "/api/networks")
        if st != 200 or set(rep) != {"interfaces", "default_route", "dns"}:
            return "%d %r" % (st, rep)
        names = [i["name"] for i in rep["interfaces"]]
        if sorted(os.listdir("/sys/class/net")) != names:
            return "interfaces %r, /sys/class/net has %r" % (names, os.listdir("/sys/class/net"))
        keys = {"name", "mac", "state", "carrier", "mtu", "addresses", "bridge", "master", "management"}
        for i in rep["interfaces"]:
            if not keys <= set(i) or i["state"] not in ("up", "down") or not isinstance(i["bridge"], bool):
                return "interface %r" % i
            if i["bridge"] != ("members" in i):
                return "members only for a bridge: %r" % i
        lo = rep["interfaces"][names.index("lo")]
        want = {"family": "ipv4", "address": "127.0.0.1", "prefix": 8}
        if lo["state"] != "up" or want not in lo["addresses"] or lo["management"]:
            return "lo: %r" % lo
        return None
    h.check("networks_interfaces", interfaces)

    def route_dns():
        st, _, rep = request(port, "GET", "/api/networks")
        gw = None
        with open("/proc/net/route") as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[1] == "00000000" and p[7] == "00000000":
                    gw = {"interface": p[0]}
                    break
        r = rep["default_route"]
        if (gw is None) != (r is None) or (gw and r["interface"] != gw["interface"]):
            return "default route %r, /proc/net/route says %r" % (r, gw)
        want = []
        if os.path.exists("/etc/resolv.conf"):
            want = [ln.split()[1] for ln in open("/etc/resolv.conf")
                    if ln.split()[:1] == ["nameserver"] and len(ln.split()) > 1]
        return None if rep["dns"] == [w for w in want if rep["dns"].count(w)] and \
            len(rep["dns"]) <= len(want) else "dns %r, resolv.conf %r" % (rep["dns"], want)
    h.check("networks_route_dns", route_dns)


def schema_checks(port):
    """The replies in the documented shapes (the fallback reader: it takes
    what openapi.yaml is written in)."""
    with open(os.path.join(h.ROOT, "vmm", "api", "openapi.yaml")) as f:
        spec = h.mini_yaml(f.read())

    def fn():
        errs = []
        for path in ("/api/settings", "/api/settings/certificate", "/api/networks"):
            st, _, rep = request(port, "GET", path)
            s = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            errs += ["%s %s" % (path, e) for e in h.schema_errors(spec, s, rep)]
            for i in rep.get("interfaces", []):
                errs += ["%s %s" % (path, e) for e in
                         h.schema_errors(spec, {"$ref": "#/components/schemas/NetworkInterface"}, i)]
        return "; ".join(errs) if errs else None
    h.check("replies_match_schemas", fn)


def host_tls(port):
    st, _, rep = request(port, "GET", "/api/host")
    return rep["tls"]["certificate"], rep["tls"]["sha256_fingerprint"]


def cert_checks(sup, work, state):
    port = sup.https
    tls = os.path.join(state, "tls")

    def get():
        st, _, rep = request(port, "GET", "/api/settings/certificate")
        keys = {"source", "fingerprint", "subject", "not_before", "not_after", "san"}
        if st != 200 or set(rep) != keys or rep["source"] != "self-signed":
            return "%d %r" % (st, rep)
        if rep["fingerprint"] != served_fp(port) or host_tls(port) != ("self-signed", rep["fingerprint"]):
            return "fingerprint %s, served %s, host %r" % (rep["fingerprint"], served_fp(port), host_tls(port))
        if "localhost" not in rep["san"] or "127.0.0.1" not in rep["san"] or "CN=" not in rep["subject"]:
            return "names: %r" % rep
        T["self_fp"] = rep["fingerprint"]
        return None
    h.check("cert_get_self_signed", get)

    cert, key = openssl_pair(work, "one")
    cert2, key2 = openssl_pair(work, "two")
    rsa_cert, rsa_key = openssl_pair(work, "rsa", "rsa")
    user_fp = fp_of(pem_der(cert))

    def upload():
        old = h.tls_connect(port)  # open before the change: keeps the old certificate
        try:
            st, _, rep = request(port, "PUT", "/api/settings/certificate", {"cert": cert, "key": key})
            if st != 200 or rep["source"] != "user" or rep["fingerprint"] != user_fp:
                return "%d %r" % (st, rep)
            if "one.example" not in rep["san"] or rep["subject"] != "CN=one.example":
                return "reply %r" % rep
            if served_fp(port) != user_fp:
                return "a new connection is served %s, want %s" % (served_fp(port), user_fp)
            if fp_of(old.getpeercert(binary_form=True)) != T["self_fp"]:
                return "the open connection's certificate changed"
            st, _, rep = request(port, "GET", "/api/host", sock=old)
            if st != 200 or rep["tls"] != {"certificate": "user", "sha256_fingerprint": user_fp}:
                return "GET /api/host on the open connection: %d %r" % (st, rep)
        finally:
            old.close()
        for name in ("cert.pem", "key.pem"):
            mode = os.stat(os.path.join(tls, name)).st_mode & 0o777
            if mode != 0o600:
                return "%s mode %o" % (name, mode)
        if open(os.path.join(tls, "cert.pem")).read() != cert:
            return "cert.pem differs from the upload"
        return None if user_fp in sup.log() else "no log line with the fingerprint"
    h.check("cert_upload_served_on_new_connection", upload)

    def refused(body, status, code, words):
        def fn():
            e = err(*request(port, "PUT", "/api/settings/certificate", body)[::2], status, code, words)
            if e:
                return e
            if served_fp(port) != user_fp or host_tls(port) != ("user", user_fp):
                return "the served certificate changed"
            return None if open(os.path.join(tls, "cert.pem")).read() == cert else "cert.pem changed"
        return fn
    h.check("cert_mismatch_refused", refused({"cert": cert2, "key": key}, 422, "invalid_value",
                                             ["does not belong"]))
    h.check("cert_rsa_refused", refused({"cert": rsa_cert, "key": rsa_key}, 422, "invalid_value", ["P-256"]))
    h.check("cert_garbage_refused", refused({"cert": "hello", "key": "world"}, 422, "invalid_value", ["PEM"]))
    h.check("cert_garbage_pem_refused", refused({"cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                                 "key": key}, 422, "invalid_value", ["certificate"]))
    h.check("cert_missing_key_400", refused({"cert": cert}, 400, "bad_request", ["key"]))
    h.check("cert_not_json_400", refused(b'{"cert":', 400, "bad_request", ["JSON"]))

    def regenerate():
        st, _, rep = request(port, "POST", "/api/settings/certificate/regenerate", b"")
        if st != 200 or rep["source"] != "self-signed" or rep["fingerprint"] in (T["self_fp"], user_fp):
            return "%d %r" % (st, rep)
        if served_fp(port) != rep["fingerprint"] or host_tls(port) != ("self-signed", rep["fingerprint"]):
            return "served %s, want %s" % (served_fp(port), rep["fingerprint"])
        if os.path.exists(os.path.join(tls, "cert.pem")) or not os.path.exists(os.path.join(tls, "cert.pem.1")):
            return "the user pair was not moved aside"
        T["self_fp2"] = rep["fingerprint"]
        return None
    h.check("cert_regenerate", regenerate)

    def delete():
        st, _, rep = request(port, "PUT", "/api/settings/certificate", {"cert": cert2, "key": key2})
        if st != 200 or served_fp(port) != fp_of(pem_der(cert2)):
            return "upload: %d %r" % (st, rep)
        st, _, rep = request(port, "DELETE", "/api/settings/certificate")
        if st != 200 or rep["source"] != "self-signed" or rep["fingerprint"] != T["self_fp2"]:
            return "%d %r" % (st, rep)
        if served_fp(port) != T["self_fp2"] or host_tls(port) != ("self-signed", T["self_fp2"]):
            return "served %s after DELETE" % served_fp(port)
        return None if not os.path.exists(os.path.join(tls, "cert.pem")) else "cert.pem still there"
    h.check("cert_delete_back_to_self_signed", delete)

    # For the restart: the first pair again.
    st, _, rep = request(port, "PUT", "/api/settings/certificate", {"cert": cert, "key": key})
    T["user_fp"] = user_fp if st == 200 else None


def main():
    if not os.access(h.KVMBOX, os.X_OK):
        h.result("settings_binary", "%s is missing; run make out/kvmbox" % h.KVMBOX)
        return 1
    work = tempfile.mkdtemp(prefix="kvmbox-settings-")
    state = os.path.join(work, "state")
    sup = None
    try:
        sup = h.Supervisor(state, SUP_ARGS)
        h.check("api_token", lambda: h.make_token(sup.https))
        T["token"] = h.AUTH.decode().split("Bearer ", 1)[1].strip() if h.AUTH else "none"
        settings_checks(sup, state)
        network_checks(sup.https)
        schema_checks(sup.https)
        cert_checks(sup, work, state)

        before = request(sup.https, "GET", "/api/settings")[2]
        sup.stop()
        sup = h.Supervisor(state, SUP_ARGS)
        h.check("restart_keeps_settings", lambda: None if request(sup.https, "GET", "/api/settings")[2] == before
                else "before %r" % before)
        h.check("restart_keeps_certificate", lambda: None if T["user_fp"] and served_fp(sup.https) == T["user_fp"]
                and host_tls(sup.https) == ("user", T["user_fp"]) else "served %s" % served_fp(sup.https))
        future_checks(sup.https, state)
        rc = sup.stop()
        h.check("sigterm_exit0", lambda: None if rc == 0 else "exit status %r" % rc)
        sup = None
    finally:
        if sup and sup.proc.poll() is None:
            sup.proc.kill()
            sup.proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
