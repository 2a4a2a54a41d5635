#!/usr/bin/python3
"""Boot the test-only initramfs (tests/vm/usernet.list) under TCG with
rdinit=/usernet_test and relay the ok/not ok lines its PID 1 prints: virtio-net
on user-mode networking (usernet) inside the appliance (DHCP, TCP both ways,
DNS, a port forward, connection and SYN floods, restrict=on), on nested KVM
with the real kvmbox binary.

One check is made here, from outside the appliance: the appliance gets a NIC
on QEMU's user network whose hostfwd sends a free port of this host to the
appliance's 2280, the VMM's own hostfwd into the guest's 8080. When the
appliance prints "usernet: outer-forward ready", this connects to that port
and wants the guest's "pong " + what it sent: outer host -> QEMU's forward ->
appliance -> usernet's forward -> guest (usernet-hostfwd-outer)."""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import appliance_test  # noqa: E402

APPLIANCE_PORT = 2280  # the VMM's hostfwd=tcp:2280:8080 in usernet_test.c


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outer_forward(port):
    def check(_match):
        name = "usernet-hostfwd-outer"
        got = b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
                c.sendall(b"outer")
                while len(got) < 64:
                    chunk = c.recv(64)
                    if not chunk:
                        break
                    got += chunk
        except OSError as e:
            return ["not ok %s: 127.0.0.1:%d: %s; reply %r" % (name, port, e, got)]
        if got != b"pong outer":
            return ["not ok %s: reply %r through 127.0.0.1:%d, want b'pong outer'" % (name, got, port)]
        return ["ok " + name]
    return check


if __name__ == "__main__":
    port = free_port()
    nic = ["-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:%d" % (port, APPLIANCE_PORT),
           # e1000, not virtio-net-pci: with a virtio-net NIC in the
           # appliance the nested guest's timer stopped (RCU stalls) in one
           # run on 2026-11-26; not understood yet, e1000 passed.
           "-device", "e1000,netdev=n0"]
    sys.exit(appliance_test.run("usernet", timeout=900, qemu_args=nic,
                                hooks=[(r"^usernet: outer-forward ready", outer_forward(port))]))
