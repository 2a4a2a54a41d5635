"""Run QEMU for tests: serial capture, waiting on console output, QMP, teardown.

    from qemu import Qemu
    with Qemu(args, name="uefi", logdir="out/tests/boot") as q:
        m = q.wait_for(r"^kvmbox ready.*$", timeout=240)
        q.powerdown()
        status = q.wait_exit(timeout=60)

Both the serial port and QMP are unix sockets on which this process listens
and QEMU connects as a client. QEMU therefore cannot start running the guest
before we are attached, and not a byte of early console output is lost,
which a QEMU-side server socket or a polled file would risk or slow down.

Everything the serial port prints goes to LOGDIR/NAME.serial.log as it
arrives; QEMU's own stdout and stderr go to LOGDIR/NAME.qemu.log.

No stray QEMU: teardown kills the process by PID; a watchdog kills it after
a fixed lifetime (a TCG boot once went silent after about 640 s, and a hung
test must not hang the whole run); QEMU gets SIGKILL from the kernel if this
process dies first (PR_SET_PDEATHSIG); and an atexit hook kills whatever is
left. Standard library only.
"""

import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

QEMU = os.environ.get("KVMBOX_QEMU", "qemu-system-x86_64")

# How long QEMU may take to connect to our sockets after it is started: it
# does so while parsing its command line, long before the guest runs.
CONNECT_TIMEOUT_S = 30


class QemuError(Exception):
    """A QEMU run did not do what the test waited for. str() says what."""


class QemuTimeout(QemuError):
    pass


_live = set()
_live_lock = threading.Lock()


def _kill_all_live():
    with _live_lock:
        runs = list(_live)
    for q in runs:
        q.kill()


atexit.register(_kill_all_live)


def install_signal_handlers():
    """Turn SIGTERM and SIGHUP into a normal exit, so that teardown and the
    atexit hook run and kill QEMU; a test runner that times out a test
    usually sends SIGTERM. Call it once from a test's main()."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# Looked up once here: the child of fork() should not dlopen or take locks
# that another thread of ours may have held at the fork.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # Runs in the child between fork and exec: the kernel sends SIGKILL to
    # QEMU when the thread that started it exits, even when this process is
    # killed with SIGKILL and can clean nothing up.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Qemu:
    """One QEMU process. ARGS are QEMU's arguments minus the serial port and
    the QMP monitor, which this class adds (do not pass -serial, -nographic
    or -daemonize). Start it with start() or a with block; call it from the
    thread that will also tear it down (see _die_with_parent)."""

    def __init__(self, args, name, logdir, watchdog_s=600, qemu=QEMU):
        self.args = list(args)
        self.name = name
        self.logdir = logdir
        self.watchdog_s = watchdog_s
        self.qemu = qemu
        self.serial_log = os.path.join(logdir, name + ".serial.log")
        self.qemu_log = os.path.join(logdir, name + ".qemu.log")
        self.proc = None
        self.started_at = None
        self.events = []          # QMP events seen so far, oldest first
        self.watchdog_fired = False
        self._buf = bytearray()   # everything the serial port printed
        self._arrivals = []       # (seconds since start, len(_buf) after a chunk)
        self._cond = threading.Condition()
        self._serial_eof = False
        self._tmp = None
        self._serial = None
        self._qmp = None
        self._qmp_buf = b""
        self._qmp_id = 0
        self._reader = None
        self._watchdog = None

    # ---- lifetime ----------------------------------------------------

    def start(self):
        os.makedirs(self.logdir, exist_ok=True)
        # Socket paths must fit in sun_path (108 bytes): a short private
        # folder, not LOGDIR.
        self._tmp = tempfile.mkdtemp(prefix="kvmbox-qemu-")
        serial_path = os.path.join(self._tmp, "serial")
        qmp_path = os.path.join(self._tmp, "qmp")
        serial_l = self._listen(serial_path)
        qmp_l = self._listen(qmp_path)
        cmd = [self.qemu, "-name", self.name,
               "-chardev", "socket,id=kvmbox-serial,path=" + serial_path,
               "-serial", "chardev:kvmbox-serial",
               "-chardev", "socket,id=kvmbox-qmp,path=" + qmp_path,
               "-mon", "chardev=kvmbox-qmp,mode=control"] + self.args
        with open(self.qemu_log, "wb") as qlog:
            qlog.write(("$ " + " ".join(cmd) + "\n").encode())
            qlog.flush()
            self.started_at = time.monotonic()
            # Own session: a Ctrl-C on the terminal reaches this process,
            # which then tears QEMU down in order, rather than both at once.
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent, start_new_session=True)
        with _live_lock:
            _live.add(self)
        self._watchdog = threading.Timer(self.watchdog_s, self._watchdog_expired)
        self._watchdog.daemon = True
        self._watchdog.start()
        try:
            self._serial = self._accept(serial_l, "serial port")
            self._reader = threading.Thread(target=self._read_serial, daemon=True,
                                            name="serial-" + self.name)
            self._reader.start()
            self._qmp = self._accept(qmp_l, "QMP")
            greeting = self._qmp_read(CONNECT_TIMEOUT_S)
            if "QMP" not in greeting:
                raise QemuError("%s: QMP greeting was %r" % (self.name, greeting))
            self.qmp("qmp_capabilities")
        except QemuError as e:
            self.kill()
            # QEMU checks most arguments after it has connected its
            # sockets: its own message says what was wrong.
            said = [ln for ln in self._qemu_log_tail().splitlines() if ln and not ln.startswith("$ ")]
            if said:
                raise QemuError("%s: QEMU failed: %s\n  (%s; full log %s)"
                                % (self.name, said[-1], e, self.qemu_log)) from None
            raise
        except BaseException:
            self.kill()
            raise
        finally:
            serial_l.close()
            qmp_l.close()
        return self

    def kill(self):
        """Kill QEMU (by PID, SIGKILL) if it still runs, and release
        everything. Safe to call more than once and from any thread."""
        if self._watchdog:
            self._watchdog.cancel()
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for s in (self._qmp, self._serial):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        with _live_lock:
            _live.discard(self)

    close = kill

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
        return False

    def elapsed(self):
        """Seconds since QEMU was started."""
        return time.monotonic() - self.started_at

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        """Wait for QEMU to exit by itself; return its exit status (negative:
        killed by that signal). Raises QemuTimeout, leaving it running."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise QemuTimeout("%s: QEMU still runs %.0f s after it was asked to stop"
                              % (self.name, timeout)) from None
        # Let the reader drain what the guest printed last.
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.watchdog_fired:
            raise QemuError("%s: the watchdog killed QEMU after %d s"
                            % (self.name, self.watchdog_s))
        return status

    # ---- serial port -------------------------------------------------

    def output(self):
        """Everything the serial port printed so far, as text."""
        with self._cond:
            return self._buf.decode("utf-8", "replace")

    def mark(self):
        """A position in the output, for wait_for(start=...) to search after."""
        with self._cond:
            return len(self._buf)

    def wait_for(self, pattern, timeout, fail=None, start=0, partial=False):
        """Wait until the serial output after byte START matches PATTERN (a
        regex, re.MULTILINE, so ^ and $ match at lines). Only complete lines
        are searched, so that ".*$" never matches half a line that is still
        arriving; PARTIAL=True searches the unfinished last line too (for a
        prompt). Returns the match.
        Raises QemuError at once when FAIL (a regex) matches, or when QEMU
        exits or closes the port first; QemuTimeout after TIMEOUT seconds.
        Each error message ends with the last lines of output."""
        rx = re.compile(pattern, re.MULTILINE)
        frx = re.compile(fail, re.MULTILINE) if fail else None
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                end = len(self._buf) if partial else self._buf.rfind(b"\n") + 1
                text = self._buf[start:max(start, end)].decode("utf-8", "replace")
                m = rx.search(text)
                if m:
                    return m
                if frx:
                    f = frx.search(text)
                    if f:
                        raise QemuError("%s: %r appeared before %r%s"
                                        % (self.name, f.group(0).strip(), pattern, self._tail()))
                if self._serial_eof or (self.proc.poll() is not None):
                    why = "watchdog killed QEMU" if self.watchdog_fired else \
                        "QEMU exited (status %s)" % self.proc.poll()
                    raise QemuError("%s: %s before %r appeared%s"
                                    % (self.name, why, pattern, self._tail()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QemuTimeout("%s: no %r within %.0f s%s"
                                      % (self.name, pattern, timeout, self._tail()))
                # Woken by every chunk of output; the 1 s bound notices an
                # exit of QEMU that leaves the port open.
                self._cond.wait(min(left, 1.0))

    def time_of(self, pattern):
        """Seconds from QEMU's start to the arrival of the first output that
        matches PATTERN (re.MULTILINE), or None: where boot time goes."""
        with self._cond:
            text = self._buf.decode("utf-8", "replace")
            m = re.search(pattern, text, re.MULTILINE)
            if not m:
                return None
            # The offset of the match's end, in bytes, then the first chunk
            # that had arrived by then.
            end = len(text[:m.end()].encode("utf-8", "replace"))
            for t, length in self._arrivals:
                if length >= end:
                    return t
            return None

    def write(self, data):
        """Type DATA (str or bytes) on the serial port."""
        if isinstance(data, str):
            data = data.encode()
        self._serial.sendall(data)

    def _tail(self, lines=15):
        text = self._buf.decode("utf-8", "replace").replace("\r", "")
        tail = text.rstrip("\n").split("\n")[-lines:]
        return "\n  serial log %s, last lines:\n    %s" % (self.serial_log, "\n    ".join(tail))

    def _read_serial(self):
        with open(self.serial_log, "wb") as log:
            while True:
                try:
                    chunk = self._serial.recv(65536)
                except OSError:
                    chunk = b""
                if chunk:
                    log.write(chunk)
                    log.flush()
                with self._cond:
                    if chunk:
                        self._buf += chunk
                        self._arrivals.append((self.elapsed(), len(self._buf)))
                    else:
                        self._serial_eof = True
                    self._cond.notify_all()
                if not chunk:
                    return

    # ---- QMP -----------------------------------------------------------

    def qmp(self, command, timeout=30, **arguments):
        """Run a QMP command; return its "return" value. Events that arrive
        meanwhile are kept in self.events. Raises QemuError on an error reply
        or when QEMU goes away."""
        self._qmp_id += 1
        msg = {"execute": command, "id": self._qmp_id}
        if arguments:
            msg["arguments"] = arguments
        try:
            self._qmp.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as e:
            raise QemuError("%s: QMP %s: %s" % (self.name, command, e)) from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._qmp_read(deadline - time.monotonic())
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != self._qmp_id:
                continue
            if "error" in reply:
                raise QemuError("%s: QMP %s failed: %s" % (self.name, command, reply["error"]))
            return reply.get("return")

    def powerdown(self):
        """Press the ACPI power button."""
        return self.qmp("system_powerdown")

    def quit(self):
        """Ask QEMU to exit at once. QEMU may close QMP before it answers."""
        try:
            self.qmp("quit")
        except QemuError:
            pass

    def _qmp_read(self, timeout):
        # Our own line buffer: a file object from makefile() is left in an
        # undefined state by a timeout.
        deadline = time.monotonic() + timeout
        while b"\n" not in self._qmp_buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QemuTimeout("%s: QMP did not answer within %.0f s" % (self.name, timeout))
            self._qmp.settimeout(left)
            try:
                chunk = self._qmp.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                raise QemuError("%s: QMP: %s" % (self.name, e)) from None
            if not chunk:
                raise QemuError("%s: QEMU closed QMP (exit status %s)" % (self.name, self.proc.poll()))
            self._qmp_buf += chunk
        line, self._qmp_buf = self._qmp_buf.split(b"\n", 1)
        return json.loads(line)

    # ---- internals -----------------------------------------------------

    @staticmethod
    def _listen(path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        return s

    def _accept(self, listener, what):
        # Poll, so that a QEMU that dies on a bad argument is reported at once
        # with its own message instead of after the whole timeout.
        listener.settimeout(0.2)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                conn, _ = listener.accept()
                conn.settimeout(None)
                return conn
            except socket.timeout:
                pass
            if self.proc.poll() is not None:
                raise QemuError("%s: QEMU exited (status %s) before it connected its %s"
                                % (self.name, self.proc.returncode, what))
            if time.monotonic() > deadline:
                raise QemuTimeout("%s: QEMU did not connect its %s within %d s"
                                  % (self.name, what, CONNECT_TIMEOUT_S))

    def _qemu_log_tail(self, lines=10):
        try:
            with open(self.qemu_log, "r", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _watchdog_expired(self):
        if self.running():
            self.watchdog_fired = True
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
