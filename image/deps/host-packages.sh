#!/bin/sh
# Install the Debian packages listed in image/deps/host-packages that are
# missing. As root this runs apt-get; otherwise it stops and prints the exact
# command to run, so a build never half-works for want of a tool.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
want=$(grep -v '^#' "$here/host-packages" | grep -v '^$' | tr '\n' ' ')
# A virtual package counts when an installed package provides it (npm comes
# with NodeSource's nodejs, which conflicts with Debian's npm package).
provided=$(dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null | sed -n 's/^ii *|//p' |
	tr ',' '\n' | sed 's/ *(.*//; s/^ *//')
missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		printf '%s\n' "$provided" | grep -qx "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "kvmbox needs these Debian packages:$missing" >&2
	echo "Install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "host: installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || echo "host: apt-get update failed; trying the install with the current index" >&2
apt-get install -y -q --no-install-recommends $missing
