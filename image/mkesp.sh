#!/bin/sh
# Build a FAT image that boots kvmbox on UEFI, and optionally on legacy BIOS.
#
#   image/mkesp.sh OUT SIZE_MIB FAT_BITS KERNEL INITRAMFS CMDLINE [HIDDEN_SECTORS]
#
# UEFI: systemd-boot is the removable-media loader EFI/BOOT/BOOTX64.EFI, and a
# loader entry names the kernel, the initramfs and the command line. A loader
# is needed because the EFI stub ignores initrd= in a built-in command line;
# systemd-boot passes a real one. Users can edit the options on the stick.
#
# HIDDEN_SECTORS, when given, is the partition's first LBA on the disk: the
# FAT boot sector records it, and syslinux is installed for legacy BIOS boot
# (gptmbr.bin in the disk's MBR chains to this partition's boot sector).
#
# Runs without root: mkfs.vfat on a plain file, then mtools. Timestamps come
# from SOURCE_DATE_EPOCH (mtools and syslinux's installer honour it), and the
# volume ID is fixed, so the same inputs give the same bytes.
set -eu

[ $# -ge 6 ] || { echo "usage: $0 OUT SIZE_MIB FAT_BITS KERNEL INITRAMFS CMDLINE [HIDDEN_SECTORS]" >&2; exit 2; }
out=$1 size=$2 fatbits=$3 kernel=$4 initrd=$5 cmdline=$6 hidden=${7:-}
: "${SOURCE_DATE_EPOCH:?mkesp.sh: set SOURCE_DATE_EPOCH (image/image.mk does)}"
version=${KVMBOX_VERSION:-dev}
export SOURCE_DATE_EPOCH
# mtools writes local time into FAT entries; pin the zone so the bytes do
# not depend on the build machine's.
export TZ=UTC
# mtools refuses some valid-but-unusual geometries unless told to skip checks.
export MTOOLS_SKIP_CHECK=1
# Ignore any ~/.mtoolsrc of whoever builds: its settings could change the bytes.
export MTOOLSRC=/dev/null

sdboot=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$sdboot" ] || { echo "mkesp.sh: $sdboot is missing: install systemd-boot-efi (image/deps/host-packages)" >&2; exit 1; }

tmp=$(mktemp -d "${out}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Loader configuration. timeout 0 boots the default entry at once; holding a
# key during boot still shows the menu (and its editor) for recovery.
cat >"$tmp/loader.conf" <<EOF
timeout 0
default kvmbox.conf
EOF
cat >"$tmp/kvmbox.conf" <<EOF
title   kvmbox $version
linux   /kvmbox/bzImage
initrd  /kvmbox/initramfs.cpio.gz
options $cmdline
EOF

rm -f "$out"
truncate -s "${size}M" "$out"
# FAT_BITS "auto" lets mkfs.vfat pick FAT12/16 for a small image. FAT32
# needs at least 65525 clusters; one sector a cluster keeps a 64 MiB ESP
# above that, where mkfs.vfat's own cluster size would fall below and fail.
case $fatbits in
	auto) fatopts= ;;
	32) fatopts="-F 32 -s 1" ;;
	*) fatopts="-F $fatbits" ;;
esac
[ -n "$hidden" ] && fatopts="$fatopts -h $hidden"
# shellcheck disable=SC2086
mkfs.vfat $fatopts -n KVMBOX-EFI --invariant -i 4b564d42 "$out" >/dev/null

mmd -i "$out" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/kvmbox
mcopy -i "$out" "$sdboot" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$out" "$tmp/loader.conf" ::/loader/loader.conf
mcopy -i "$out" "$tmp/kvmbox.conf" ::/loader/entries/kvmbox.conf
mcopy -i "$out" "$kernel" ::/kvmbox/bzImage
mcopy -i "$out" "$initrd" ::/kvmbox/initramfs.cpio.gz

if [ -n "$hidden" ]; then
	"$(dirname "$0")/syslinux-cfg.sh" "$cmdline" >"$tmp/syslinux.cfg"
	mmd -i "$out" ::/syslinux
	mcopy -i "$out" "$tmp/syslinux.cfg" ::/syslinux/syslinux.cfg
	# The mtools-based installer writes ldlinux.sys and ldlinux.c32 and the
	# boot sector into the file; no mount, no root.
	syslinux --directory /syslinux --install "$out"
fi
