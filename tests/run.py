#!/usr/bin/python3
"""kvmbox test runner.

Runs each test program given on the command line (a shell command) in turn,
shows its output, and counts the lines it prints: "ok NAME" is a pass and
"not ok NAME: reason" a failure. A program that exits non-zero without
reporting a failure, or runs past its time, counts as one failure. The last
line is "N passed, N failed".
"""
import os
import signal
import subprocess
import sys
import time

TIMEOUT_S = int(os.environ.get("KVMBOX_TEST_TIMEOUT", "1500"))


def run(cmd):
    passed = failed = 0
    start = time.monotonic()
    print("== %s" % cmd, flush=True)
    proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True, errors="replace")
    deadline = start + TIMEOUT_S
    timed_out = False
    try:
        for line in proc.stdout:
            sys.stdout.write("   " + line)
            sys.stdout.flush()
            if line.startswith("ok "):
                passed += 1
            elif line.startswith("not ok "):
                failed += 1
            if time.monotonic() > deadline:
                timed_out = True
                break
        if timed_out:
            raise subprocess.TimeoutExpired(cmd, TIMEOUT_S)
        rc = proc.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print("not ok %s: still running after %d s; killed" % (cmd, TIMEOUT_S), flush=True)
        return passed, failed + 1
    if rc != 0 and failed == 0:
        print("not ok %s: exited with status %d" % (cmd, rc), flush=True)
        failed += 1
    if rc == 0 and passed == 0 and failed == 0:
        print("not ok %s: reported no checks" % cmd, flush=True)
        failed += 1
    print("   (%.1f s)" % (time.monotonic() - start), flush=True)
    return passed, failed


def main():
    total_p = total_f = 0
    for cmd in sys.argv[1:]:
        p, f = run(cmd)
        total_p += p
        total_f += f
    print("%d passed, %d failed" % (total_p, total_f), flush=True)
    sys.exit(1 if total_f else 0)


if __name__ == "__main__":
    main()
