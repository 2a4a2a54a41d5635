#!/bin/sh
# Fetch one pinned third-party source from Debian 13 and verify it.
#
#   fetch.sh CACHE NAME    -> prints the path of the verified file
#
# apt does the download, through a private sources list and state folder under
# CACHE/apt, so the host's own apt configuration is never touched. The sources
# list is derived from the host's /etc/apt entries (same mirrors, suites
# switched to trixie), so no archive host name lives in this repository. apt
# checks each file against the signed index; we also check it against the
# sha256 pinned in image/deps/pins, so a changed upload cannot slip in.
set -eu
cache=$1 name=$2
here=$(cd "$(dirname "$0")" && pwd)
line=$(awk -v n="$name" '$1 == n' "$here/pins")
[ -n "$line" ] || { echo "fetch: no pin named '$name' in $here/pins" >&2; exit 1; }
set -- $line
kind=$2 pkgver=$3 file=$4 want=$5
dl=$cache/dl
mkdir -p "$dl"

verify() {
	got=$(sha256sum "$dl/$file" | cut -d' ' -f1)
	if [ "$got" != "$want" ]; then
		echo "fetch: checksum mismatch for $file" >&2
		echo "fetch:   expected sha256 $want (image/deps/pins)" >&2
		echo "fetch:   got      sha256 $got ($dl/$file)" >&2
		echo "fetch: the file was removed; run the build again to download it afresh." >&2
		rm -f "$dl/$file"
		exit 1
	fi
}

if [ -f "$dl/$file" ]; then
	verify
	echo "$dl/$file"
	exit 0
fi

apt=$cache/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
if [ ! -s "$apt/sources.list" ]; then
	# One deb and one deb-src line per host mirror: the main archive gets
	# trixie, the security archive trixie-security.
	uris=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p'
	       cat /etc/apt/sources.list 2>/dev/null | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p')
	[ -n "$uris" ] || { echo "fetch: no apt mirror found in /etc/apt; cannot derive the Debian 13 sources" >&2; exit 1; }
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	for u in $(echo "$uris" | tr ' ' '\n' | sort -u); do
		case $u in *security*) suite=trixie-security ;; *) suite=trixie ;; esac
		echo "deb [signed-by=$key arch=amd64] $u $suite main"
		echo "deb-src [signed-by=$key] $u $suite main"
	done > "$apt/sources.list.tmp"
	mv "$apt/sources.list.tmp" "$apt/sources.list"
fi
opts="-o Dir::Etc::sourcelist=$apt/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -o Dir::State::status=/dev/null -o APT::Sandbox::User=root -q"
# Refresh the private index at most once a day.
if [ -z "$(find "$apt/lists" -maxdepth 1 -name '*Sources*' -mmin -1440 2>/dev/null | head -1)" ]; then
	echo "fetch: updating the private Debian 13 index in $apt" >&2
	apt-get $opts update >&2
fi
# Ask apt where the pinned file lives (this also proves the version is in
# the signed index), then fetch only that file: the archive has answered 404
# for some .dsc files whose tarballs it still serves.
case $kind in
	deb) uris=$(apt-get $opts download --print-uris "$pkgver") ;;
	src) uris=$(apt-get $opts source --print-uris "$pkgver" 2>/dev/null) ;;
	*) echo "fetch: unknown kind '$kind' for $name" >&2; exit 1 ;;
esac
uri=$(echo "$uris" | awk -v f="$file" '$2 == f { gsub("\047", "", $1); print $1 }')
[ -n "$uri" ] || { echo "fetch: $pkgver has no file $file in the Debian 13 index; update image/deps/pins" >&2; exit 1; }
size=$(echo "$uris" | awk -v f="$file" '$2 == f { printf "%.1f MiB", $3 / 1048576 }')
echo "fetch: downloading $file ($pkgver, $size)" >&2
rm -f "$dl/.part-$file"
# A big download (the kernel source is about 150 MiB) reports its progress
# every few seconds, so a slow mirror does not look like a hang.
/usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$uri" "$dl/.part-$file" >&2 &
pid=$!
while kill -0 $pid 2>/dev/null; do
	sleep 5
	if kill -0 $pid 2>/dev/null && [ -f "$dl/.part-$file" ]; then
		echo "fetch: $file: $(( $(stat -c %s "$dl/.part-$file") / 1048576 )) MiB so far" >&2
	fi
done
wait $pid || { echo "fetch: download of $file failed" >&2; rm -f "$dl/.part-$file"; exit 1; }
mv "$dl/.part-$file" "$dl/$file"
verify
echo "$dl/$file"
