#!/bin/sh
# Build the kvmbox kernel (bzImage), cached outside the tree.
#
#   kernel/build.sh CACHE OUT     -> OUT/bzImage, OUT/vmlinux, OUT/config
#   kernel/build.sh CACHE OUT headers  -> OUT/include (uapi headers for musl)
#
# The build folder is CACHE/kernel-<key>, where key hashes the pinned source,
# the config fragment, this script and the compiler. The same inputs reuse the
# same folder, so a warm build is a no-op `make` and a cold one happens once per
# machine. Each key gets its own folder from the start: copying a kernel build
# folder forces a full rebuild.
set -eu
cache=$1 out=$2 what=${3:-kernel}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
jobs=$(nproc)

tarball=$("$top/image/deps/fetch.sh" "$cache" linux-source)
ver=$(awk '$1 == "linux-source" { split($3, a, "="); print a[2] }' "$top/image/deps/pins")
src=$cache/linux-src-$ver
if [ ! -f "$src/.kvmbox-extracted" ]; then
	echo "kernel: extracting Linux $ver into $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	dpkg-deb --fsys-tarfile "$tarball" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' \
		| tar -xJ -C "$src.tmp" --strip-components=1
	touch "$src.tmp/.kvmbox-extracted"
	mv "$src.tmp" "$src"
fi

if [ "$what" = headers ]; then
	hdr=$cache/linux-headers-$ver
	if [ ! -f "$hdr/.done" ]; then
		echo "kernel: installing Linux $ver user-space headers into $hdr"
		rm -rf "$hdr"
		make -s -C "$src" ARCH=x86_64 O="$hdr.build" INSTALL_HDR_PATH="$hdr" headers_install
		rm -rf "$hdr.build"
		touch "$hdr/.done"
	fi
	mkdir -p "$out"
	rm -rf "$out/include"; cp -a "$hdr/include" "$out/include"
	exit 0
fi

# The key is what decides the kernel's bytes: source version, config and
# compiler. Changes to this script's plumbing do not force a 20-minute rebuild.
key=$( (echo "$ver"; cat "$here/kvmbox.config"; gcc --version | head -1) | sha256sum | cut -c1-16)
build=$cache/kernel-$key
mkdir -p "$build"
if [ ! -f "$build/.config" ] || [ "$here/kvmbox.config" -nt "$build/.kvmbox-configured" ]; then
	echo "kernel: configuring (tinyconfig + kernel/kvmbox.config) in $build"
	make -s -C "$src" ARCH=x86_64 O="$build" tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$here/kvmbox.config" >/dev/null
	make -s -C "$src" ARCH=x86_64 O="$build" olddefconfig >/dev/null
	# merge_config's own warnings compare against the whole base; check only
	# what we asked for, and refuse to build a kernel that silently lacks it.
	bad=0
	grep -E '^(CONFIG_[A-Z0-9_]+=|# CONFIG_[A-Z0-9_]+ is not set)' "$here/kvmbox.config" | while IFS= read -r want; do
		case $want in
			"# "*) sym=${want#\# }; sym=${sym%% *}
			       grep -q "^$sym=" "$build/.config" && { echo "kernel: $sym should be unset but is $(grep "^$sym=" "$build/.config")"; echo bad; } ;;
			*) sym=${want%%=*}
			   got=$(grep "^$sym=" "$build/.config" || echo "$sym unset")
			   [ "$got" = "$want" ] || { echo "kernel: asked for $want, got $got"; echo bad; } ;;
		esac
	done > "$build/.check"
	if grep -q '^bad$' "$build/.check"; then
		grep -v '^bad$' "$build/.check" >&2
		echo "kernel: kernel/kvmbox.config does not hold in the final .config (see above); fix its dependencies" >&2
		rm -f "$build/.config"
		exit 1
	fi
	touch "$build/.kvmbox-configured"
fi
echo "kernel: building Linux $ver in $build with -j$jobs (a cold build takes about 20 minutes on 2 cores)"
start=$(date +%s)
# Progress: the kernel prints one line per object; keep every 200th so a
# long build shows it is moving without flooding the terminal.
make -C "$src" ARCH=x86_64 O="$build" -j"$jobs" bzImage 2>&1 | awk '
	/ error:|Error [0-9]|warning: / { print; next }
	/^  (CC|AR|LD|AS)/ { n++; if (n % 200 == 0) { printf "kernel: %d objects built\n", n; fflush() } }
	END { }' 
[ -f "$build/arch/x86/boot/bzImage" ] || { echo "kernel: build failed; rerun 'make -C $src O=$build' to see the error" >&2; exit 1; }
echo "kernel: done in $(( $(date +%s) - start )) s"
mkdir -p "$out"
cp "$build/arch/x86/boot/bzImage" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
cp "$build/.config" "$out/config"
ln -sf "$build/vmlinux" "$out/vmlinux"
