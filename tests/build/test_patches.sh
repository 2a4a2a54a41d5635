#!/bin/sh
# Debian's patches are in the current sysroot. For each NAME-debian pin in
# image/deps/pins, build-sysroot.sh applies the patches of its
# debian/patches/series to NAME's extracted sources, lists them in the build
# folder's .kvmbox-patches and keeps that list as share/kvmbox-patches/NAME in
# the sysroot. Here: each list exists, names at least one patch, comes from
# the pinned .debian.tar.xz and, when that file is in the cache, is its whole
# series in order. Then musl's fix for CVE-2025-26519 is checked by what it
# does: EUC-KR "\xc8\x41" must be an encoding error, not a character.
# Offline: reads only the sysroot, the cache it lives in, and musl-gcc.
#
#   tests/build/test_patches.sh [SYSROOT]    (default out/sysroot)
set -u
pins=image/deps/pins
sysroot=${1:-out/sysroot}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -d "$sysroot" ]; then
	echo "not ok patches: no sysroot at $sysroot (make deps builds it)"
	exit 0
fi
# out/sysroot links to CACHE/sysroot-<key>; the downloads are in CACHE/dl.
dl=$(dirname "$(readlink -f "$sysroot")")/dl
names=$(awk '$1 ~ /-debian$/ { sub(/-debian$/, "", $1); print $1 }' "$pins")
[ -n "$names" ] || echo "not ok patches: no NAME-debian pins in $pins"

for n in $names; do
	file=$(awk -v n="$n-debian" '$1 == n { print $4 }' "$pins")
	rec=$sysroot/share/kvmbox-patches/$n
	if [ ! -f "$rec" ]; then
		echo "not ok $n: Debian patches applied: no $rec (a sysroot built without Debian's patches; make deps rebuilds it)"
		continue
	fi
	got=$(grep -v '^#' "$rec")
	count=$(printf '%s' "$got" | grep -c .)
	if [ -z "$got" ]; then
		echo "not ok $n: Debian patches applied: $rec lists none"
	elif ! head -1 "$rec" | grep -qF "from $file"; then
		echo "not ok $n: Debian patches applied: $rec is not from the pinned $file: $(head -1 "$rec")"
	else
		echo "ok $n: Debian patches applied: $count, from $file"
	fi
	if [ -f "$dl/$file" ]; then
		# quilt's series: one patch a line, then options; # starts a comment.
		want=$(tar -xOf "$dl/$file" debian/patches/series 2>/dev/null \
			| awk '{ sub(/[ \t]#.*/, "") } NF && $1 !~ /^#/ { print $1 }')
		if [ "$got" = "$want" ]; then
			echo "ok $n: the whole debian/patches/series, in order"
		else
			echo "not ok $n: the whole debian/patches/series, in order: applied [$(echo $got)], series [$(echo $want)]"
		fi
	else
		echo "# $n: $file is not in $dl; its series was not compared"
	fi
done

case " $(echo $names) " in *" musl "*)
	cat > "$tmp/iconv.c" <<'EOF'
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <string.h>
/* CVE-2025-26519: musl's EUC-KR decoder took "\xc8\x41" for a character
 * (and other bad lead bytes read past its table) instead of failing. */
int main(void)
{
	iconv_t cd = iconv_open("UTF-8", "EUC-KR");
	char in[] = "\xc8\x41", out[16], *ip = in, *op = out;
	size_t il = 2, ol = sizeof out, r;

	if (cd == (iconv_t)-1) {
		printf("iconv_open: %s\n", strerror(errno));
		return 1;
	}
	r = iconv(cd, &ip, &il, &op, &ol);
	if (r == (size_t)-1 && errno == EILSEQ)
		return 0;
	if (r == (size_t)-1)
		printf("iconv failed with %s, not EILSEQ\n", strerror(errno));
	else
		printf("iconv accepted it: %zu bytes out\n", sizeof out - ol);
	return 1;
}
EOF
	t="musl: CVE-2025-26519 fixed (EUC-KR \\xc8\\x41 is EILSEQ)"
	if ! "$sysroot/bin/musl-gcc" -static -O2 -o "$tmp/iconv" "$tmp/iconv.c" >"$tmp/cc.log" 2>&1; then
		echo "not ok $t: cannot build the check with $sysroot/bin/musl-gcc: $(tail -3 "$tmp/cc.log" | tr '\n' ' ')"
	elif out=$("$tmp/iconv"); then
		echo "ok $t"
	else
		echo "not ok $t: $out"
	fi
	;;
esac
exit 0
