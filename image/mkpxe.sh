#!/bin/sh
# Fill out/pxe/ for network boot: the kernel, the initramfs and an iPXE script.
#
#   image/mkpxe.sh DIR KERNEL INITRAMFS CMDLINE
#
# Serve DIR from any TFTP or HTTP server and point DHCP's boot file (or an
# iPXE "chain" command) at boot.ipxe. The script names the other two files
# relative to its own URL, so it works from whatever server and folder it is
# fetched from.
set -eu
[ $# -eq 4 ] || { echo "usage: $0 DIR KERNEL INITRAMFS CMDLINE" >&2; exit 2; }
dir=$1 kernel=$2 initrd=$3 cmdline=$4
version=${KVMBOX_VERSION:-dev}

mkdir -p "$dir"
cp "$kernel" "$dir/bzImage.tmp" && mv "$dir/bzImage.tmp" "$dir/bzImage"
cp "$initrd" "$dir/initramfs.cpio.gz.tmp" && mv "$dir/initramfs.cpio.gz.tmp" "$dir/initramfs.cpio.gz"
# initrd= on the kernel line: under UEFI the kernel's EFI stub finds the
# initramfs by that name; under BIOS iPXE hands it over itself and the kernel
# ignores the word. boot.ipxe is written last: it is make's target.
cat >"$dir/boot.ipxe.tmp" <<IPXE
#!ipxe
# kvmbox $version network boot
echo kvmbox $version: loading the kernel and the initramfs
kernel bzImage initrd=initramfs.cpio.gz $cmdline
initrd initramfs.cpio.gz
boot
IPXE
mv "$dir/boot.ipxe.tmp" "$dir/boot.ipxe"
