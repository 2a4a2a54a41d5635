#!/bin/sh
# The source fetcher refuses a corrupt download: it names the file and both
# checksums, removes the bad copy, and exits non-zero. Works offline: the
# corrupt file is planted in a scratch cache, so no download is attempted.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
file=$(awk '$1 == "musl" { print $4 }' image/deps/pins)
want=$(awk '$1 == "musl" { print $5 }' image/deps/pins)
mkdir -p "$tmp/dl"
printf 'not the musl tarball\n' > "$tmp/dl/$file"
got=$(sha256sum "$tmp/dl/$file" | cut -d' ' -f1)
out=$(image/deps/fetch.sh "$tmp" musl 2>&1); rc=$?
[ $rc -ne 0 ] && echo "ok fetch: corrupt source stops the build" || echo "not ok fetch: corrupt source stops the build: exit $rc"
case $out in *"$file"*"$want"*"$got"*) echo "ok fetch: message names the file and both checksums" ;;
	*) echo "not ok fetch: message names the file and both checksums: got: $out" ;; esac
[ ! -e "$tmp/dl/$file" ] && echo "ok fetch: corrupt copy removed" || echo "not ok fetch: corrupt copy removed"
out=$(image/deps/fetch.sh "$tmp" no-such-source 2>&1); rc=$?
case "$rc:$out" in 0:*) echo "not ok fetch: unknown source is an error" ;;
	*"no pin named 'no-such-source'"*) echo "ok fetch: unknown source is an error" ;;
	*) echo "not ok fetch: unknown source is an error: $out" ;; esac
