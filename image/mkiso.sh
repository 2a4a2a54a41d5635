#!/bin/sh
# Build out/kvmbox.iso: a hybrid ISO for CDs, virtual media (BMC) and sticks.
#
#   image/mkiso.sh OUT KERNEL INITRAMFS CMDLINE
#
# BIOS: isolinux (El Torito, no emulation) reads the kernel and initramfs
# from the ISO 9660 tree. UEFI: a small FAT image with systemd-boot, the
# kernel and the initramfs is the EFI El Torito image, since UEFI firmware
# cannot read ISO 9660. So the ISO holds the kernel twice, a few MB.
# isohdpfx.bin and the GPT entry for the FAT image make the same file boot
# when written to a stick. The data partition exists only on kvmbox.img.
set -eu
[ $# -eq 4 ] || { echo "usage: $0 OUT KERNEL INITRAMFS CMDLINE" >&2; exit 2; }
out=$1 kernel=$2 initrd=$3 cmdline=$4
here=$(dirname "$0")
: "${SOURCE_DATE_EPOCH:?mkiso.sh: set SOURCE_DATE_EPOCH (image/image.mk does)}"
export SOURCE_DATE_EPOCH TZ=UTC

for f in /usr/lib/ISOLINUX/isolinux.bin /usr/lib/ISOLINUX/isohdpfx.bin /usr/lib/syslinux/modules/bios/ldlinux.c32; do
	[ -f "$f" ] || { echo "mkiso.sh: $f is missing: install isolinux and syslinux-common (image/deps/host-packages)" >&2; exit 1; }
done

tmp=$(mktemp -d "${out}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tree=$tmp/tree
mkdir -p "$tree/isolinux" "$tree/kvmbox" "$tree/boot"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$tree/isolinux/"
"$here/syslinux-cfg.sh" "$cmdline" >"$tree/isolinux/isolinux.cfg"
cp "$kernel" "$tree/kvmbox/bzImage"
cp "$initrd" "$tree/kvmbox/initramfs.cpio.gz"

# Just big enough: the contents plus 2 MiB for systemd-boot and FAT overhead.
bytes=$(( $(stat -c %s "$kernel") + $(stat -c %s "$initrd") ))
mib=$(( bytes / 1048576 + 3 ))
"$here/mkesp.sh" "$tree/boot/efiboot.img" "$mib" auto "$kernel" "$initrd" "$cmdline"

# xorriso takes each file's dates from the tree (SOURCE_DATE_EPOCH only
# fixes the volume's dates): pin them for a reproducible ISO.
find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
xorriso -as mkisofs -o "$tmp/kvmbox.iso" \
	-V KVMBOX -r -J \
	-isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
	-c isolinux/boot.cat \
	-b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4 -boot-info-table \
	-eltorito-alt-boot \
	-e boot/efiboot.img -no-emul-boot -isohybrid-gpt-basdat \
	"$tree" >"$tmp/xorriso.log" 2>&1 || { cat "$tmp/xorriso.log" >&2; exit 1; }
mv "$tmp/kvmbox.iso" "$out"
