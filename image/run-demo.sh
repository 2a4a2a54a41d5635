#!/bin/sh
# Put make run's demo VM on a kvmbox disk image's KVMBOX-DATA partition, once:
# the test guest kernel and a busybox initramfs as images, and a VM definition
# with autostart, so the first boot shows a running VM whose console answers.
#
#   image/run-demo.sh IMAGE KERNEL INITRD
#
# Writes with debugfs into the partition in place (no root, no loop device).
# A marker file remembers that it was done: a demo VM the user deleted or
# changed stays that way.
set -eu
img=$1 kernel=$2 initrd=$3
here=$(cd "$(dirname "$0")" && pwd)
first=$(sgdisk -i 2 "$img" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
[ -n "$first" ] || { echo "run-demo.sh: $img has no partition 2 (KVMBOX-DATA)" >&2; exit 1; }
fs="$img?offset=$((first * 512))"
if debugfs -R "stat /kvmbox/.demo-seeded" "$fs" 2>/dev/null | grep -q "Inode:"; then
	exit 0
fi
cmds=$(mktemp)
trap 'rm -f "$cmds"' EXIT
# mkdir fails harmlessly when the folder is there already.
cat >"$cmds" <<EOC
mkdir /kvmbox
mkdir /kvmbox/images
mkdir /kvmbox/vms
write $kernel /kvmbox/images/demo-kernel
write $initrd /kvmbox/images/demo-initrd
write $here/demo/vm.json /kvmbox/vms/demo.json
write /dev/null /kvmbox/.demo-seeded
EOC
debugfs -w -f "$cmds" "$fs" >/dev/null 2>&1
debugfs -R "stat /kvmbox/vms/demo.json" "$fs" 2>/dev/null | grep -q "Inode:" ||
	{ echo "run-demo.sh: could not write the demo VM into $img" >&2; exit 1; }
echo "run-demo.sh: demo VM 'demo' added to $img (autostart; delete it in the web console)"
