#!/usr/bin/python3
"""The web console's weight and speed, for README.

    tests/bench/webui_bench.py [--runs N] [--vms N] [--keys N] [--no-appliance]

  page weight   the bytes a browser receives for the VM console page with
                gzip accepted (as served): the page, the files it names and
                the modules its script imports (xterm.js), from the host's
                out/kvmbox supervisor
  VM list TTI   time to interactive of #/vms with N VMs defined (50), on the
                host's supervisor, in headless Chromium (tests/bench/
                webui_bench.js): navigation start to the first frame with all
                N rows drawn and a row's button focusable; a fresh browser
                context per run (cold cache); the median of RUNS (5)
  console       in the appliance under QEMU TCG (booted as tests/web/
  latency       browser_appliance_test.py does, the demo VM's busybox shell
                on its console): a key typed in the browser's xterm.js to its
                echo drawn in the terminal, through the WebSocket, the
                appliance's supervisor, the VMM's serial port and the guest's
                line editor and back; both ends timed in the page; p50 and
                p99 over KEYS (100)

There is no comparable web console on this machine to measure next to it (a
static server such as nginx would serve the same files, but the page's work
is the API's and the browser's), so only kvmbox's figures are printed.
Under TCG the latency is mostly the emulated guest's, not the console path's.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "web"))

import https_test as h  # noqa: E402  (Supervisor, raw, make_token, ADMIN_PASSWORD)

PLAYWRIGHT = os.path.join(ROOT, "out", "tests", "web-npm", "node_modules", "playwright-core")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def get(port, path):
    return h.raw(port, b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                 b"Accept-Encoding: gzip, deflate, br\r\n\r\n" % path.encode())


def page_weight(port):
    """{path: bytes as sent} for the page and everything it loads."""
    seen, todo = {}, ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        status, headers, body = get(port, path)
        if status != 200:
            raise RuntimeError("GET %s: %d" % (path, status))
        seen[path] = len(body)
        text = (gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body).decode("utf-8", "replace")
        todo += re.findall(r'["\'](/assets/[A-Za-z0-9._-]+)["\']', text)
        if path.endswith((".js", ".mjs")):
            todo += ["/assets/" + m for m in re.findall(r'import\(["\']\./([A-Za-z0-9._-]+)["\']\)', text)]
    return seen


def define_vms(port, n):
    for i in range(n):
        body = json.dumps({"name": "bench%02d" % i, "kernel": "/boot/vmlinuz", "mem": "%dM" % (128 + i),
                           "cpus": 1 + i % 4}).encode()
        status, _, reply = h.raw(port, b"POST /api/vms HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                                 b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body) + h.AUTH +
                                 b"\r\n" + body)
        if status != 201:
            raise RuntimeError("POST /api/vms: %d %r" % (status, reply[:200]))


def vm_list_tti(port, vms, runs):
    env = dict(os.environ, KVMBOX_URL="https://127.0.0.1:%d" % port, PLAYWRIGHT_CORE=PLAYWRIGHT,
               CHROMIUM=CHROMIUM, PASSWORD=h.ADMIN_PASSWORD, ROWS=str(vms), RUNS=str(runs))
    p = subprocess.run(["node", os.path.join(HERE, "webui_bench.js")], env=env, capture_output=True, text=True,
                       timeout=600)
    runs_ = [tuple(float(x) for x in m) for m in
             re.findall(r"^tti_ms ([0-9.]+) first_byte_ms ([0-9.]+) api_vms_done_ms ([0-9.]+)$", p.stdout, re.M)]
    if len(runs_) != runs:
        raise RuntimeError("webui_bench.js: %s %s" % (p.stdout[-500:], p.stderr[-500:]))
    return runs_


def console_latency(keys):
    import browser_appliance_test as ba  # noqa: E402  (boots the appliance)
    why = ba.missing()
    if why:
        raise RuntimeError(why)
    with ba.appliance("bench-boot") as api:
        p = ba.driver(api, "latency", 1200, KEYS=keys)
    ms = [float(x) for x in re.findall(r"^latency_ms (-?[0-9.]+)$", p.stdout, re.M)]
    if len(ms) != keys or min(ms) < 0:
        raise RuntimeError("browser_appliance_test.js: %s %s" % (p.stdout[-500:], p.stderr[-500:]))
    return ms


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--vms", type=int, default=50)
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--no-appliance", action="store_true", help="leave out the console latency (no QEMU)")
    args = ap.parse_args()
    for what, p in (("out/kvmbox", h.KVMBOX), ("playwright-core (make test-build)", PLAYWRIGHT),
                    ("chromium", CHROMIUM)):
        if not os.path.exists(p):
            print("webui_bench: %s is missing: %s" % (what, p))
            return 1
    rows = []
    work = tempfile.mkdtemp(prefix="kvmbox-webui-bench-")
    sup = None
    try:
        sup = h.Supervisor(os.path.join(work, "state"))
        err = h.make_token(sup.https)
        if err:
            raise RuntimeError(err)
        w = page_weight(sup.https)
        print("webui_bench: the console page's files as sent with gzip: %s" %
              ", ".join("%s %d" % (k.rsplit("/", 1)[-1] or "index", v) for k, v in sorted(w.items())))
        rows.append(("console page weight (gzip, %d files)" % len(w), "%d bytes" % sum(w.values())))
        define_vms(sup.https, args.vms)
        runs = vm_list_tti(sup.https, args.vms, args.runs)
        print("webui_bench: VM list runs, ms (interactive / page's first byte / GET /api/vms done): %s" %
              ", ".join("%.0f/%.0f/%.0f" % r for r in runs))
        med = [statistics.median(r[i] for r in runs) for i in range(3)]
        rows.append(("VM list TTI, %d VMs (median of %d)" % (args.vms, args.runs), "%.0f ms" % med[0]))
        rows.append(("  the page's first byte at", "%.0f ms" % med[1]))
        rows.append(("  GET /api/vms answered at", "%.0f ms" % med[2]))
    finally:
        if sup:
            sup.stop()
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_appliance:
        try:
            lat = console_latency(args.keys)
            rows.append(("console key-to-echo p50, TCG (%d keys)" % args.keys, "%.1f ms" % pct(lat, 50)))
            rows.append(("console key-to-echo p99, TCG (%d keys)" % args.keys, "%.1f ms" % pct(lat, 99)))
        except Exception as e:  # the other figures still print
            rows.append(("console key-to-echo, TCG", "n/a (%s)" % str(e)[:120]))
    print("\nweb console (kvmbox only: no comparable peer UI on this machine)")
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print("  %-*s %s" % (width, label, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
