#!/usr/bin/python3
"""Write a newc cpio archive (the initramfs format) from a list file, without root.

List lines (the kernel's gen_init_cpio syntax, the subset we use):
    dir  NAME MODE UID GID
    nod  NAME MODE UID GID c|b MAJ MIN
    file NAME SOURCE MODE UID GID
    slink NAME TARGET MODE UID GID
Paths in SOURCE are relative to the current directory; $VAR is expanded from
the environment. Timestamps are 0 so that the same inputs give the same bytes.
"""
import os
import sys


def header(ino, mode, uid, gid, nlink, size, maj, mn, name):
    fields = [ino, mode, uid, gid, nlink, 0, size, 0, 0, maj, mn, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def pad(n):
    return b"\0" * ((4 - n % 4) % 4)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mkcpio.py LIST OUTPUT")
    out = bytearray()
    ino = 300000
    with open(sys.argv[1]) as f:
        for lineno, line in enumerate(f, 1):
            words = os.path.expandvars(line).split()
            if not words or words[0].startswith("#"):
                continue
            kind, name = words[0], words[1].lstrip("/").encode()
            ino += 1
            data, maj, mn = b"", 0, 0
            try:
                if kind == "dir":
                    mode = 0o040000 | int(words[2], 8)
                    uid, gid = int(words[3]), int(words[4])
                elif kind == "nod":
                    mode = (0o020000 if words[5] == "c" else 0o060000) | int(words[2], 8)
                    uid, gid = int(words[3]), int(words[4])
                    maj, mn = int(words[6]), int(words[7])
                elif kind == "file":
                    with open(words[2], "rb") as src:
                        data = src.read()
                    mode = 0o100000 | int(words[3], 8)
                    uid, gid = int(words[4]), int(words[5])
                elif kind == "slink":
                    data = words[2].encode()
                    mode = 0o120000 | int(words[3], 8)
                    uid, gid = int(words[4]), int(words[5])
                else:
                    sys.exit("%s:%d: unknown entry '%s'" % (sys.argv[1], lineno, kind))
            except (IndexError, ValueError, OSError) as e:
                sys.exit("%s:%d: %s" % (sys.argv[1], lineno, e))
            nlink = 2 if kind == "dir" else 1
            h = header(ino, mode, uid, gid, nlink, len(data), 0, 0, name)
            # dev major/minor of the node itself go in rdevmajor/rdevminor
            h = h[:6 + 8 * 9] + b"%08X%08X" % (maj, mn) + h[6 + 8 * 11:]
            out += h + name + b"\0"
            out += pad(len(h) + len(name) + 1)
            out += data + pad(len(data))
    trailer = b"TRAILER!!!"
    h = header(0, 0, 0, 0, 1, 0, 0, 0, trailer)
    out += h + trailer + b"\0" + pad(len(h) + len(trailer) + 1)
    out += pad(len(out)) 
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out)
    os.replace(tmp, sys.argv[2])


if __name__ == "__main__":
    main()
