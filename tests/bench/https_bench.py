#!/usr/bin/python3
"""The supervisor's HTTPS API next to nginx with OpenSSL, on loopback.

    tests/bench/https_bench.py [--runs N] [--seconds S] [--conns N] [--threads N] [--path P]

One run of both servers, started here and stopped by PID:

  kvmbox   out/kvmbox supervisor on 127.0.0.1 (port 0), a temporary state
           directory, its own ECDSA P-256 self-signed certificate, an API
           token (tests/web/load_test.py's setup, --limit max_conns=1024:
           see that file for why); GET PATH with the token: by default
           /api/auth/session, answered from memory (the token's user and
           id), so that the figures are the HTTP, TLS and auth path's;
           --path /api/host adds its reads of /proc and /sys per request
  nginx    Debian's nginx, non-root (as nobody when run as root), from a
           temporary prefix (nginx -p DIR -c DIR/nginx.conf -e DIR/error.log,
           pid file in DIR), master + ONE worker (worker_processes 1, to match
           the supervisor's single thread), TLS 1.3 only, an ECDSA P-256
           certificate made here with openssl, no session tickets (the
           supervisor sends none), access log off; it serves a static file
           holding the same bytes as the supervisor's answer to PATH
           (application/json), on the same path, to the same request

Client: Debian's wrk, the same for both, -tTHREADS -cCONNS -dSECONDS, with the
same request headers (the Authorization header too; nginx ignores it):

  keepalive   requests on kept-alive connections (the SECONDS include the
              CONNS first handshakes: about 2.5 s of 10 for kvmbox on two
              loaded cores, well under 1 s for nginx)
  close       "Connection: close": a new TCP connection and a full TLS 1.3
              handshake per request (wrk resumes no session)

Both servers and wrk share this machine's CPUs, so figures are for
comparison within one run only. wrk's latency clock starts when the request
is written, after the TCP connect and the TLS handshake: in the close mode
its p99 leaves the handshake out. "conns/rps" is the mean time a client
waited per request with the handshake (Little's law: CONNS requests in
flight at all times). "server CPU us/request" is the server's user + system
CPU time over the wrk run (nginx: master + worker) per completed request:
less sensitive than the rates to what else the machine runs.

Memory: VmRSS (/proc/PID/status) of the supervisor with 0 defined VMs and
with 50 (POST /api/vms {"name":"vmNN","kernel":"/nonexistent/bzImage",
"mem":"64M"}; "n/a" while the supervisor has no POST /api/vms route), and
after the load; nginx's master + worker, idle and after the load.

Prints a table per run, ours / nginx / ratio, then medians over the runs.
"""

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "web"))

import https_test as h  # noqa: E402
import load_test as lt  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
N_VMS = 50

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    default_type application/json;
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_protocols TLSv1.3;
        ssl_ecdh_curve X25519:prime256v1;
        ssl_session_tickets off;
        ssl_session_cache off;
        root {dir}/www;
    }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """nginx from a temporary prefix, non-root, serving body at path."""

    def __init__(self, work, path, body):
        self.dir = os.path.join(work, "nginx")
        for d in ("tmp", os.path.join("www", os.path.dirname(path.lstrip("/")))):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        with open(os.path.join(self.dir, "www", path.lstrip("/")), "wb") as f:
            f.write(body)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", os.path.join(self.dir, "key.pem"),
                        "-out", os.path.join(self.dir, "cert.pem"), "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port))
        kw = {}
        self.user = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:  # never as root: the whole prefix goes to nobody
            nobody = pwd.getpwnam("nobody")
            os.chmod(work, 0o755)
            for root, dirs, files in os.walk(self.dir):
                for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                    os.chown(n, nobody.pw_uid, nobody.pw_gid)
            kw = dict(user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
            self.user = "nobody"
        self.log = open(os.path.join(self.dir, "stdout.log"), "w")
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                                     stdout=self.log, stderr=subprocess.STDOUT, **kw)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited with %d: %s" % (self.proc.returncode, self.errors()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if self.worker():
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("nginx did not listen in 10 s: " + self.errors())

    def errors(self):
        text = ""
        for name in ("stdout.log", "error.log"):
            try:
                text += open(os.path.join(self.dir, name)).read()
            except OSError:
                pass
        return text[-800:]

    def worker(self):
        """The worker's PID: the master's child."""
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    stat = open("/proc/%s/stat" % pid).read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    return int(pid)
        return None

    def rss_kb(self):
        """(master + worker, worker)."""
        w = lt.rss_kb(self.worker())
        return lt.rss_kb(self.proc.pid) + w, w

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def tls_info(port):
    """(protocol, cipher, key type of the certificate) as this host's OpenSSL
    (the one wrk links) negotiates them."""
    s = h.tls_connect(port)
    try:
        der = s.getpeercert(binary_form=True)
        p256 = h.OID_EC_PUBLIC_KEY in der and h.OID_PRIME256V1 in der
        return s.version(), s.cipher()[0], "ECDSA P-256" if p256 else "not ECDSA P-256"
    finally:
        s.close()


def one_response(port, path, bearer):
    """(status, bytes of the whole response, body) for the request wrk sends."""
    s = h.tls_connect(port)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (path, port, bearer)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(rest) < n:
            rest += s.recv(65536)
        return int(head.split()[1]), len(head) + 4 + n, rest[:n]
    finally:
        s.close()


def api_request(port, method, path, bearer, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    req = ("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (method, path, bearer, len(data)))
    return h.raw(port, req.encode() + data)


def define_vms(port, bearer):
    """Defines N_VMS VMs; None, or why not."""
    routes = subprocess.run([h.KVMBOX, "supervisor", "--routes"], capture_output=True, text=True).stdout
    if "POST /api/vms\n" not in routes + "\n":
        return "no /api/vms"
    for i in range(N_VMS):
        st, _, rep = api_request(port, "POST", "/api/vms", bearer,
                                 {"name": "vm%02d" % i, "kernel": "/nonexistent/bzImage", "mem": "64M"})
        if st != 201:
            return "POST /api/vms: %d %s" % (st, rep[:200].decode(errors="replace"))
    st, _, rep = api_request(port, "GET", "/api/vms", bearer)
    n = len(json.loads(rep).get("vms", [])) if st == 200 else -1
    return None if n == N_VMS else "GET /api/vms lists %d VMs" % n


def fmt_ms(v):
    return "n/a" if v is None else ("%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "%.0f" % v)


def ratio(a, b):
    return "n/a" if a is None or b is None or not b else "%.2f" % (a / b)


def table(rows):
    """rows: (label, ours, nginx, ratio-string)."""
    w = max(len(r[0]) for r in rows)
    print("  %-*s %14s %14s %10s" % (w, "", "kvmbox", "nginx", "kvmbox/nginx"))
    for label, a, b, r in rows:
        print("  %-*s %14s %14s %10s" % (w, label, a, b, r))


def perf_rows(res):
    rows = []
    for mode in ("keepalive", "close"):
        a, b = res["kvmbox"][mode], res["nginx"][mode]
        rows.append(("%s requests/s" % mode, "%.0f" % a["rps"], "%.0f" % b["rps"], ratio(a["rps"], b["rps"])))
        rows.append(("%s p99 ms (wrk)" % mode, fmt_ms(a["p99_ms"]), fmt_ms(b["p99_ms"]),
                     ratio(a["p99_ms"], b["p99_ms"])))
        rows.append(("%s server CPU us/request" % mode, "%.0f" % a["cpu_us"], "%.0f" % b["cpu_us"],
                     ratio(a["cpu_us"], b["cpu_us"])))
        if mode == "close":
            ca, cb = (res["conns"] / x["rps"] * 1000 if x["rps"] else None for x in (a, b))
            rows.append(("close conns/rps ms (with handshake)", fmt_ms(ca), fmt_ms(cb), ratio(ca, cb)))
        rows.append(("%s errors (socket+non-2xx)" % mode, str(a["nerr"]), str(b["nerr"]), ""))
    return rows


def median_res(runs):
    out = {"conns": runs[0]["conns"]}
    for srv in ("kvmbox", "nginx"):
        out[srv] = {}
        for mode in ("keepalive", "close"):
            rs = [r[srv][mode] for r in runs]
            out[srv][mode] = {
                "rps": statistics.median(x["rps"] for x in rs),
                "p99_ms": statistics.median(x["p99_ms"] for x in rs),
                "cpu_us": statistics.median(x["cpu_us"] for x in rs),
                "nerr": sum(x["nerr"] for x in rs)}
    return out


def cpu_s(pids):
    """User + system CPU seconds of the processes."""
    total = 0
    for pid in pids:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(url, bearer, args, close, pids):
    c0 = cpu_s(pids)
    r = lt.run_wrk(url, bearer, conns=args.conns, seconds=args.seconds, threads=args.threads, close=close)
    r["cpu_us"] = (cpu_s(pids) - c0) / max(r["requests"], 1) * 1e6
    r["nerr"] = sum(r["errors"].values()) + r["non2xx"]
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--path", default="/api/auth/session",
                    help="the GET to measure (default /api/auth/session: answered from memory; "
                         "/api/host reads /proc and /sys on every request)")
    args = ap.parse_args()
    for tool in ("wrk", "openssl"):
        if not shutil.which(tool):
            print("https_bench: %s is not installed (image/deps/host-packages lists it)" % tool)
            return 1
    if not os.access(NGINX, os.X_OK):
        print("https_bench: nginx is not installed (image/deps/host-packages lists it)")
        return 1
    if not os.access(h.KVMBOX, os.X_OK):
        print("https_bench: %s is missing; run make out/kvmbox" % h.KVMBOX)
        return 1
    path = args.path
    work = tempfile.mkdtemp(prefix="kvmbox-https-bench-")
    sup = ngx = None
    try:
        sup = h.Supervisor(os.path.join(work, "state"), lt.supervisor_args())
        bearer = lt.token(sup.https)
        time.sleep(0.5)
        mem = {"rss0": lt.rss_kb(sup.proc.pid)}
        why = define_vms(sup.https, bearer)
        time.sleep(0.2)
        mem["rss50"] = None if why else lt.rss_kb(sup.proc.pid)
        mem["why50"] = why
        st, ours_len, body = one_response(sup.https, path, bearer)
        if st != 200:
            raise RuntimeError("GET %s: %d" % (path, st))
        ngx = Nginx(work, path, body)
        st, ngx_len, nbody = one_response(ngx.port, path, bearer)
        if st != 200 or nbody != body:
            raise RuntimeError("nginx GET %s: %d, %d bytes" % (path, st, len(nbody)))
        mem["ngx_idle"] = ngx.rss_kb()
        urls = {"kvmbox": "https://127.0.0.1:%d%s" % (sup.https, path),
                "nginx": "https://127.0.0.1:%d%s" % (ngx.port, path)}
        print("https_bench: GET %s, body %d bytes (whole response: kvmbox %d, nginx %d bytes)"
              % (path, len(body), ours_len, ngx_len))
        for name, port in (("kvmbox", sup.https), ("nginx", ngx.port)):
            print("  %-6s %s, %s, %s certificate" % ((name,) + tls_info(port)))
        print("  kvmbox: one process, one thread (epoll, mbedtls); nginx %s: master + 1 worker "
              "(worker_processes 1), OpenSSL %s, as %s" % (
                  re.search(r"nginx/(\S+)", subprocess.run([NGINX, "-v"], capture_output=True,
                                                          text=True).stderr).group(1),
                  ssl.OPENSSL_VERSION.split()[1], ngx.user))
        print("  client: wrk -t%d -c%d -d%ds, both servers and wrk on this machine's %d CPUs; "
              "each pair interleaved; load average %.1f at the start" % (
                  args.threads, args.conns, args.seconds, os.cpu_count(), os.getloadavg()[0]))
        pids = {"kvmbox": [sup.proc.pid], "nginx": [ngx.proc.pid, ngx.worker()]}
        runs = []
        for n in range(args.runs):
            res = {"conns": args.conns, "kvmbox": {}, "nginx": {}}
            for mode in ("keepalive", "close"):
                for srv in ("kvmbox", "nginx"):
                    res[srv][mode] = measure(urls[srv], bearer, args, mode == "close", pids[srv])
            runs.append(res)
            print("\nrun %d of %d:" % (n + 1, args.runs))
            table(perf_rows(res))
        if args.runs > 1:
            print("\nmedian of %d runs (errors: the sum):" % args.runs)
            table(perf_rows(median_res(runs)))
        time.sleep(0.5)
        mem["rss_after"] = lt.rss_kb(sup.proc.pid)
        mem["ngx_after"] = ngx.rss_kb()
        print("\nmemory (VmRSS, kB):")
        r50 = "%d" % mem["rss50"] if mem["rss50"] else "n/a (%s)" % mem["why50"]
        table([("idle, 0 VMs defined", "%d" % mem["rss0"], "%d" % mem["ngx_idle"][0],
                ratio(mem["rss0"], mem["ngx_idle"][0])),
               ("idle, %d VMs defined" % N_VMS, r50, "", ""),
               ("after the load", "%d" % mem["rss_after"], "%d" % mem["ngx_after"][0],
                ratio(mem["rss_after"], mem["ngx_after"][0]))])
        print("  nginx: master + worker (the worker alone: %d kB idle, %d kB after the load)"
              % (mem["ngx_idle"][1], mem["ngx_after"][1]))
        if mem["rss50"] is None:
            print("50-VM RSS: n/a (%s)" % mem["why50"])
        else:
            print("50-VM RSS: %d kB (%+d kB over 0 VMs, %.1f kB per VM)" % (
                mem["rss50"], mem["rss50"] - mem["rss0"], (mem["rss50"] - mem["rss0"]) / N_VMS))
        return 0
    finally:
        if ngx:
            ngx.stop()
        if sup and sup.proc.poll() is None:
            sup.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
