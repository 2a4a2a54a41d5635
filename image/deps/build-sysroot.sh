#!/bin/sh
# Build the static musl sysroot: musl + Linux uapi headers + mbedtls + lwip + libfdt.
#
#   build-sysroot.sh CACHE LINK   -> LINK is a symlink to CACHE/sysroot-<key>
#
# musl, mbedtls and lwip are Debian's: the upstream tarball plus the patches
# in debian/patches/series of the pinned .debian.tar.xz (NAME-debian in pins),
# applied in order, which is how Debian's security fixes reach us. Debian's
# build system is not used, only its patches. dtc stays upstream-only: the
# archive answers 404 for its .dsc and .debian.tar.xz.
#
# The sysroot is built once per key, where key hashes the pins it uses, the
# build scripts, the mbedtls config, the lwip port headers and the compiler.
# It is built in place (musl-gcc's specs file records its absolute prefix, so
# the folder cannot be moved afterwards); .done marks it complete, and a
# folder without .done is a failed or interrupted build, which a rerun resumes
# at its first unfinished step. musl itself is cached apart, in
# CACHE/musl-<key>, and copied in.
set -eu
cache=$1 link=$2
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
pins=$here/pins
jobs=$(nproc)
# A caller's flags (or dpkg-buildflags' _FORTIFY_SOURCE, whose __*_chk calls
# musl lacks) must not leak into the libraries; each step sets its own.
unset CFLAGS CPPFLAGS LDFLAGS CC AR MAKEFLAGS MFLAGS MAKELEVEL GNUMAKEFLAGS

pinver() { # NAME [full] -> the upstream version (or the full Debian version)
	awk -v n="$1" -v full="${2:-}" '$1 == n { split($3, a, "="); v = a[2]
		if (full == "") { sub(/-[^-]*$/, "", v); sub(/\+dfsg.*/, "", v) }
		print v }' "$pins"
}

key=$( (cd "$top"
	# Each source's NAME-debian pin too, so new Debian patches rebuild it.
	for n in musl mbedtls lwip dtc linux-source; do awk -v n="$n" '$1 == n || $1 == n "-debian"' "$pins"; done
	for f in image/deps/build-*.sh image/deps/mbedtls-* $(find drivers/usernet/port -type f | sort); do
		echo "== $f"; cat "$f"
	done
	gcc --version | head -1) | sha256sum | cut -c1-16)
prefix=$cache/sysroot-$key
work=$prefix.work
# musl alone has a key of its own: it is the slow part, and it need not be
# rebuilt when only lwipopts.h or the mbedtls config changes. It does hash
# the patching code below (between its >>> and <<< lines) with its pins.
muslkey=$( (awk '$1 == "musl" || $1 == "musl-debian"' "$pins"; cat "$here/build-musl.sh"
	sed -n '/^# >>> debian patches/,/^# <<< debian patches/p' "$here/build-sysroot.sh"
	gcc --version | head -1) | sha256sum | cut -c1-16)
musl=$cache/musl-$muslkey

publish() {
	mkdir -p "$(dirname "$link")"
	# An older checkout may have left a real folder here; a symlink replaces it.
	[ -L "$link" ] || rm -rf "$link"
	ln -sfn "$prefix" "$link"
	# make compares the stamp's age with the inputs': refresh it, since the
	# same key may come back after an edit is undone.
	touch "$prefix/.done"
}

mkdir -p "$cache"
# Two checkouts building the same key at once would clobber each other; one
# lock for all keys keeps the cache folder free of lock files.
exec 9>"$cache/.sysroot.lock"
flock 9
if [ -f "$prefix/.done" ]; then
	echo "deps: reusing the sysroot in $prefix"
	publish
	exit 0
fi

start=$(date +%s)
# A folder without .done holds the steps that finished before a failure
# (each leaves a stamp in .steps/); a rerun starts at the failed step.
mkdir -p "$prefix/.steps" "$work"

# Each step is one progress line; its output goes to a log that is shown if
# it fails and kept under share/kvmbox-logs/. The steps' bodies are &&
# chains, because set -e is off inside `if`.
step() { # NAME LABEL COMMAND...
	name=$1 label=$2; shift 2
	[ -f "$prefix/.steps/$name" ] && { echo "deps: $label: done before"; return 0; }
	printf 'deps: %s ... ' "$label"
	t=$(date +%s)
	if ! "$@" >"$work/$name.log" 2>&1; then
		echo "failed"
		echo "deps: $label failed; the last lines of $work/$name.log:" >&2
		tail -n 40 "$work/$name.log" >&2
		exit 1
	fi
	echo "$(( $(date +%s) - t )) s"
	touch "$prefix/.steps/$name"
}

extract() { # NAME -> its sources in $work/NAME
	f=$("$here/fetch.sh" "$cache" "$1") &&
	rm -rf "${work:?}/$1" &&
	mkdir -p "$work/$1" &&
	tar -xf "$f" -C "$work/$1" --strip-components=1
}

# >>> debian patches: the code from here to the <<< line is part of musl's key.
# Apply Debian's patches to the sources that extract left in $work/NAME: the
# quilt series in NAME-debian's debian/patches/series, in order, each with
# patch -pN (N from a -pN option on its line, else 1), skipping blank and
# comment lines. A patch that does not apply stops the build, named. The
# names applied go to $work/NAME/.kvmbox-patches, which keep_patches saves
# under share/kvmbox-patches/ (tests/build/test_patches.sh reads it there).
# Variables are dp_*: this runs inside step, whose $name must survive.
debian_patches() { # NAME
	dp_pkg=$1
	dp_tar=$("$here/fetch.sh" "$cache" "$dp_pkg-debian") || return 1
	dp_deb=$work/$dp_pkg-debian dp_list=$work/$dp_pkg/.kvmbox-patches dp_n=0
	rm -rf "$dp_deb" && mkdir -p "$dp_deb" && tar -xf "$dp_tar" -C "$dp_deb" || return 1
	dp_dir=$dp_deb/debian/patches
	echo "# Debian patches applied to $dp_pkg, in order, from ${dp_tar##*/}" > "$dp_list" || return 1
	if [ ! -f "$dp_dir/series" ]; then
		echo "deps: $dp_pkg: ${dp_tar##*/} has no debian/patches/series; no patches to apply"
		return 0
	fi
	while IFS= read -r dp_line || [ -n "$dp_line" ]; do
		dp_line=${dp_line%%[ 	]#*}   # quilt: a blank then # starts a comment
		set -f; set -- $dp_line; set +f
		case ${1:-#} in \#*) continue ;; esac
		dp_p=$1 dp_strip=1; shift
		for dp_o in "$@"; do
			case $dp_o in
				-p[0-9]|-p[0-9][0-9]) dp_strip=${dp_o#-p} ;;
				*) echo "deps: $dp_pkg: Debian patch $dp_p: unsupported option '$dp_o' in debian/patches/series" >&2
				   return 1 ;;
			esac
		done
		echo "deps: $dp_pkg: applying Debian patch $dp_p (-p$dp_strip)"
		if [ ! -f "$dp_dir/$dp_p" ] ||
		   ! patch -d "$work/$dp_pkg" -p"$dp_strip" --forward --batch --no-backup-if-mismatch -i "$dp_dir/$dp_p"; then
			echo "deps: $dp_pkg: Debian patch $dp_p (debian/patches/$dp_p from ${dp_tar##*/}) failed to apply" >&2
			return 1
		fi
		echo "$dp_p" >> "$dp_list" || return 1
		dp_n=$((dp_n + 1))
	done < "$dp_dir/series"
	echo "deps: $dp_pkg: applied $dp_n Debian patches"
}
# <<< debian patches

keep_patches() { # NAME DEST -> DEST/share/kvmbox-patches/NAME
	mkdir -p "$2/share/kvmbox-patches" && cp "$work/$1/.kvmbox-patches" "$2/share/kvmbox-patches/$1"
}

# One progress line per patched source: the count, then the names.
report_patches() { # NAME
	rp=$prefix/share/kvmbox-patches/$1
	[ -f "$rp" ] || return 0
	echo "deps: $1: $(grep -vc '^#' "$rp") Debian patches applied: $(grep -v '^#' "$rp" | paste -sd' ')"
}

build_musl() {
	if [ ! -f "$musl/.done" ]; then
		rm -rf "$musl" && extract musl && debian_patches musl &&
		"$here/build-musl.sh" "$work/musl" "$musl" "$jobs" &&
		keep_patches musl "$musl" && touch "$musl/.done" || return 1
	fi
	# Only musl-gcc and its specs name the prefix they were installed in;
	# read it from musl-gcc, which is right even if $cache is reached
	# through another path now.
	was=$(sed -n 's|.*-specs "\(.*\)/lib/musl-gcc.specs".*|\1|p' "$musl/bin/musl-gcc") &&
	[ -n "$was" ] && cp -a "$musl/." "$prefix/" && rm "$prefix/.done" &&
	sed -i "s|$was|$prefix|g" "$prefix/bin/musl-gcc" "$prefix/lib/musl-gcc.specs" &&
	! grep -rlF "$was" "$prefix"
}

# The kernel's uapi headers go next to musl's: musl has no linux/ or asm/.
# kernel/build.sh replaces OUT/include wholesale, so it gets its own folder.
build_headers() {
	"$top/kernel/build.sh" "$cache" "$work/kernel-headers" headers &&
	cp -a "$work/kernel-headers/include/." "$prefix/include/"
}

build_mbedtls() {
	extract mbedtls && debian_patches mbedtls &&
	"$here/build-mbedtls.sh" "$work/mbedtls" "$prefix" "$jobs" && keep_patches mbedtls "$prefix"
}

build_lwip() {
	extract lwip && debian_patches lwip &&
	"$here/build-lwip.sh" "$work/lwip" "$prefix" "$jobs" "$top/drivers/usernet/port" && keep_patches lwip "$prefix"
}

build_libfdt() { # dtc|kernel
	if [ "$1" = dtc ]; then
		# Upstream only: the archive answers 404 for dtc's .dsc and
		# .debian.tar.xz, so there is no dtc-debian pin and no patching.
		extract dtc && "$here/build-libfdt.sh" "$work/dtc/libfdt" "$prefix" "$jobs"
	else
		"$here/build-libfdt.sh" "$cache/linux-src-$(pinver linux-source full)/scripts/dtc/libfdt" "$prefix" "$jobs"
	fi
}

# Debian's .a files taught us this: glibc's fortify calls (__memcpy_chk and
# friends) do not exist in musl. Catch any that slip in here, not at link time.
build_check() {
	for f in bin/musl-gcc lib/libc.a include/linux/kvm.h include/linux/vfio.h include/linux/iommufd.h \
		lib/libmbedtls.a lib/libmbedx509.a lib/libmbedcrypto.a include/mbedtls/ssl.h include/psa/crypto.h \
		lib/liblwip.a include/lwip/lwip/init.h lib/libfdt.a include/libfdt.h include/fdt.h include/libfdt_env.h; do
		[ -e "$prefix/$f" ] || { echo "missing $prefix/$f"; return 1; }
	done
	# musl-gcc must find all of it: headers from each part, and libc.a.
	printf '%s\n' '#include <linux/kvm.h>' '#include <libfdt.h>' '#include <mbedtls/ssl.h>' \
		'#include <lwip/init.h>' 'int main(void) { return KVM_API_VERSION != 12; }' \
		| "$prefix/bin/musl-gcc" -static -isystem "$prefix/include/lwip" -I"$top/drivers/usernet/port" \
			-x c - -o "$work/smoke" -lfdt &&
	"$work/smoke" || { echo "musl-gcc cannot build and run a program against the sysroot"; return 1; }
	chk=$(nm -A "$prefix"/lib/lib*.a 2>/dev/null | grep ' U __[a-z_]*_chk$' || true)
	[ -z "$chk" ] || { echo "fortified calls that musl lacks:"; echo "$chk"; return 1; }
}

if [ -f "$musl/.done" ]; then
	step musl "copying musl $(pinver musl full) from $musl" build_musl
else
	step musl "building musl $(pinver musl full)" build_musl
fi
report_patches musl
step headers "installing Linux $(pinver linux-source) uapi headers" build_headers
step mbedtls "building mbedtls $(pinver mbedtls full)" build_mbedtls
report_patches mbedtls
step lwip "building lwip $(pinver lwip full)" build_lwip
report_patches lwip
# The archive has answered 404 for dtc files before. The kernel tree carries
# a recent libfdt, and the headers step has already extracted it.
if "$here/fetch.sh" "$cache" dtc >/dev/null 2>"$work/fetch-dtc.log"; then
	step libfdt "building libfdt $(pinver dtc)" build_libfdt dtc
else
	step libfdt "building libfdt from Linux $(pinver linux-source)'s scripts/dtc (dtc could not be fetched)" \
		build_libfdt kernel
fi
step check "checking the sysroot" build_check
# Keep the logs, drop the sources and objects.
mkdir -p "$prefix/share/kvmbox-logs"
cp "$work"/*.log "$prefix/share/kvmbox-logs/"
rm -rf "$work"
publish
echo "deps: sysroot ready in $(( $(date +%s) - start )) s: $link -> $prefix"
