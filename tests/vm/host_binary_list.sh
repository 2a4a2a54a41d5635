#!/bin/sh
# Print initramfs list lines (initramfs/mkcpio.py syntax) for host binaries
# and every shared library ldd names for them, at the same paths, with the
# directories they need. The disk test's guest runs the build host's mke2fs
# this way: e2fsprogs is a host package the Makefile installs, and taking
# the library list from ldd keeps it right when Debian's libraries change.
set -eu
seen=""
dir_line() {
	local d="$1" parent
	case " $seen " in *" $d "*) return 0 ;; esac
	parent=$(dirname "$d")
	if [ "$parent" != / ]; then dir_line "$parent"; fi
	seen="$seen $d"
	echo "dir $d 0755 0 0"
}
file_line() {
	dir_line "$(dirname "$1")"
	echo "file $1 $(readlink -f "$1") 0755 0 0"
}
for bin in "$@"; do
	[ -x "$bin" ] || { echo "host_binary_list.sh: $bin is missing (apt-get install e2fsprogs)" >&2; exit 1; }
	file_line "$bin"
	ldd "$bin" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' | while read -r lib; do
		echo "$lib"
	done > "${TMPDIR:-/tmp}/hbl.$$"
	while read -r lib; do file_line "$lib"; done < "${TMPDIR:-/tmp}/hbl.$$"
	rm -f "${TMPDIR:-/tmp}/hbl.$$"
done
