#!/usr/bin/python3
"""Embed the web console's files into the kvmbox binary.

    embed.py OUT.c FILE...

writes OUT.c with the table of vmm/api/api_webui.h: for each FILE its base
name (the NAME in /assets/NAME; index.html is served at /), content type,
bytes, a gzip copy (level 9, no name or time, so the build is reproducible;
left out when it is no smaller) and an ETag from its SHA-256. A JavaScript
file's "//# sourceMappingURL=" line is dropped: the maps are not served.
Prints the total size, as sent to a client that takes gzip.
"""
import gzip
import hashlib
import os
import re
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def c_bytes(data):
    out = []
    for i in range(0, len(data), 24):
        out.append("\t" + "".join("0x%02x," % b for b in data[i:i + 24]))
    return "\n".join(out) or "\t0,"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: embed.py OUT.c FILE...")
    out_path, files = sys.argv[1], sys.argv[2:]
    names = set()
    parts = ['/* Made by web-ui/embed.py from web-ui/; do not edit. */',
             '#include "api/api_webui.h"', '']
    rows = []
    total_gz = total = 0
    for n, path in enumerate(files):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit("embed.py: %s: no content type for %s files" % (path, ext or "extensionless"))
        if name in names or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            sys.exit("embed.py: %s: the name is taken or not a plain file name" % path)
        names.add(name)
        with open(path, "rb") as f:
            data = f.read()
        if ext in (".js", ".mjs"):
            data = re.sub(rb"\n//# sourceMappingURL=[^\n]*\n?$", b"\n", data)
        gz = gzip.compress(data, 9, mtime=0)
        if len(gz) >= len(data):
            gz = None
        tag = hashlib.sha256(data).hexdigest()[:20]
        parts.append("static const unsigned char d%d[] = {\n%s\n};" % (n, c_bytes(data)))
        if gz:
            parts.append("static const unsigned char z%d[] = {\n%s\n};" % (n, c_bytes(gz)))
        rows.append('\t{ "%s", "%s", d%d, %d, %s, %d, "\\"%s\\"", "\\"%s-gz\\"" },' % (
            name, TYPES[ext], n, len(data), "z%d" % n if gz else "NULL", len(gz) if gz else 0, tag, tag))
        total += len(data)
        total_gz += len(gz) if gz else len(data)
    parts.append("const struct webui_asset webui_assets[] = {\n%s\n};" % "\n".join(rows))
    parts.append("const size_t webui_nassets = sizeof(webui_assets) / sizeof(webui_assets[0]);")
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(parts) + "\n")
    os.replace(tmp, out_path)
    print("web-ui: %d files, %d bytes, %d bytes gzip-compressed" % (len(files), total, total_gz))


if __name__ == "__main__":
    main()
