#!/bin/sh
# Build out/kvmbox.img: a GPT disk image to write to a USB stick (dd).
#
#   image/mkdisk.sh OUT KERNEL INITRAMFS CMDLINE
#
# Layout (512-byte sectors, 1 MiB aligned):
#   MBR      gptmbr.bin boot code + protective entry: legacy BIOS boot
#   p1       1 MiB +  64 MiB  ESP, FAT32 "KVMBOX-EFI": systemd-boot (UEFI),
#                             syslinux (BIOS), kernel and initramfs
#   p2      65 MiB +  64 MiB  ext4 "KVMBOX-DATA": /data (VM state, logs)
#   backup GPT in the last MiB
# The data partition is last, so after dd to a larger stick it can grow in
# place (sgdisk -e to move the backup GPT, then grow p2 and resize2fs); mke2fs
# reserves descriptor blocks for growing it online to 1024 times its size.
#
# No root and no loop devices: each file system is made in its own file and
# copied into place with dd. GUIDs, UUIDs and timestamps are fixed, so the
# same inputs give the same image.
set -eu

[ $# -eq 4 ] || { echo "usage: $0 OUT KERNEL INITRAMFS CMDLINE" >&2; exit 2; }
out=$1 kernel=$2 initrd=$3 cmdline=$4
here=$(dirname "$0")
: "${SOURCE_DATE_EPOCH:?mkdisk.sh: set SOURCE_DATE_EPOCH (image/image.mk does)}"

esp_start=2048   # sectors
esp_mib=64
data_mib=64
disk_mib=$((1 + esp_mib + data_mib + 1))
data_start=$((esp_start + esp_mib * 2048))

# Fixed identifiers: random ones would make every build differ. Every stick
# written from one image shares them, as with any published disk image.
disk_guid=4b564d42-0000-4000-8000-000000000000
esp_guid=4b564d42-0001-4000-8000-000000000001
data_guid=4b564d42-0002-4000-8000-000000000002
data_uuid=4b564d42-da7a-4000-8000-000000000002

gptmbr=/usr/lib/syslinux/mbr/gptmbr.bin
[ -f "$gptmbr" ] || { echo "mkdisk.sh: $gptmbr is missing: install syslinux-common (image/deps/host-packages)" >&2; exit 1; }
[ -f "$kernel" ] || { echo "mkdisk.sh: no kernel at $kernel" >&2; exit 1; }
[ -f "$initrd" ] || { echo "mkdisk.sh: no initramfs at $initrd" >&2; exit 1; }

tmp=$(mktemp -d "${out}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# This image always carries its data partition, so its loader entries tell
# init to wait for it: the stick's own partitions can appear after init
# starts (USB enumeration), and without this init would carry on in RAM.
"$here/mkesp.sh" "$tmp/esp.img" "$esp_mib" 32 "$kernel" "$initrd" "$cmdline kvmbox.datawait=30" "$esp_start"

# 4 KiB blocks and the usual inode ratio: mke2fs would pick its "small" type
# (1 KiB blocks) for 64 MiB, which suits floppies, not a partition that grows.
# root_owner: without it the root directory belongs to whoever runs the build.
# No reserved blocks: everything on the appliance runs as root anyway.
truncate -s "${data_mib}M" "$tmp/data.img"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -F -t ext4 -b 4096 -i 16384 -m 0 \
	-L KVMBOX-DATA -U "$data_uuid" -E "hash_seed=$data_uuid,root_owner=0:0" \
	"$tmp/data.img"

truncate -s "${disk_mib}M" "$tmp/disk.img"
# Not -q: sgdisk 1.0.9 with -q once wrote no table at all, silently.
sgdisk -U "$disk_guid" \
	-n "1:$esp_start:+${esp_mib}M" -t 1:ef00 -c 1:KVMBOX-EFI -u "1:$esp_guid" \
	-A 1:set:2 \
	-n "2:$data_start:+${data_mib}M" -t 2:8300 -c 2:KVMBOX-DATA -u "2:$data_guid" \
	"$tmp/disk.img" >"$tmp/sgdisk.log" 2>&1 \
	|| { cat "$tmp/sgdisk.log" >&2; exit 1; }
# Check what was written rather than trusting the exit status (see above).
sgdisk -p "$tmp/disk.img" >"$tmp/table" 2>&1
if ! grep -q 'KVMBOX-EFI' "$tmp/table" || ! grep -q 'KVMBOX-DATA' "$tmp/table"; then
	echo "mkdisk.sh: sgdisk wrote no usable partition table:" >&2
	cat "$tmp/sgdisk.log" "$tmp/table" >&2
	exit 1
fi

# Boot code only (440 bytes): the disk signature and the protective MBR
# entry sgdisk wrote stay. The protective entry is left inactive: OVMF
# (EDK2) only accepts a GPT whose protective entry has boot flag 0.
dd if="$gptmbr" of="$tmp/disk.img" bs=440 count=1 conv=notrunc status=none
# sparse: holes stay holes, so the build is fast and the file small on disk.
dd if="$tmp/esp.img" of="$tmp/disk.img" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$tmp/data.img" of="$tmp/disk.img" bs=1M seek=$((1 + esp_mib)) conv=notrunc,sparse status=none

mv "$tmp/disk.img" "$out"
