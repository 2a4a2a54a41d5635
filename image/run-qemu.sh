#!/bin/sh
# Boot a kvmbox disk image in QEMU, the serial console on this terminal.
#
#   image/run-qemu.sh [IMAGE]          (default out/kvmbox.img; make run)
#
# Ctrl-A X quits, Ctrl-A C toggles the QEMU monitor; Ctrl-C goes to the box.
# The image is used in place, so what the box writes to /data stays there.
#
# Settings, from the environment (make run passes command-line variables on):
#   RUN_FIRMWARE  uefi (OVMF, default) or bios (SeaBIOS)
#   RUN_MEM       guest memory, default 2G
#   RUN_SMP       vCPUs, default 2 with KVM; 1 under TCG (see below)
#   RUN_PORT      host port forwarded to the box's HTTPS port 443, default 8443
#   RUN_DISK      how the stick is attached: usb (default), ahci or virtio
#   RUN_DISPLAY   a QEMU display (gtk, sdl, vnc=:1) to see tty0 as well
#   RUN_EXTRA     more QEMU arguments, word-split
#   RUN_STATE     folder for OVMF's variable store, default IMAGE's folder/run
set -eu

img=${1:-out/kvmbox.img}
firmware=${RUN_FIRMWARE:-uefi}
mem=${RUN_MEM:-2G}
port=${RUN_PORT:-8443}
disk=${RUN_DISK:-usb}
state=${RUN_STATE:-$(dirname "$img")/run}

[ -f "$img" ] || { echo "run-qemu.sh: no image at $img: run make image" >&2; exit 1; }

# KVM when this host has it. Otherwise TCG: -cpu max emulates AMD SVM with
# nested paging, so the box still gets /dev/kvm; one vCPU, because with two
# the nested guests' clocks stall (shared/qemu-notes.md).
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	accel="-accel kvm -cpu host"
	smp=${RUN_SMP:-2}
else
	echo "run-qemu.sh: no usable /dev/kvm here: emulating the CPU (TCG), which is slow" >&2
	accel="-accel tcg -cpu max"
	smp=${RUN_SMP:-1}
fi

case $firmware in
uefi)
	code=/usr/share/OVMF/OVMF_CODE_4M.fd
	vars=/usr/share/OVMF/OVMF_VARS_4M.fd
	[ -f "$code" ] || { echo "run-qemu.sh: $code is missing: install ovmf" >&2; exit 1; }
	# OVMF writes boot entries into its variable store: give it a private,
	# writable copy that lives next to the image and outlasts the run.
	mkdir -p "$state"
	[ -f "$state/OVMF_VARS.fd" ] || cp "$vars" "$state/OVMF_VARS.fd"
	fw="-drive if=pflash,format=raw,unit=0,readonly=on,file=$code"
	fw="$fw -drive if=pflash,format=raw,unit=1,file=$state/OVMF_VARS.fd"
	;;
bios)
	fw=   # SeaBIOS is QEMU's default
	;;
*)
	echo "run-qemu.sh: RUN_FIRMWARE must be uefi or bios, not '$firmware'" >&2; exit 2 ;;
esac

# A USB stick is what the image is for; ahci and virtio are there to compare.
drive="-drive if=none,id=stick,format=raw,file=$img"
case $disk in
usb) drive="$drive -device qemu-xhci,id=xhci -device usb-storage,bus=xhci.0,drive=stick,bootindex=0" ;;
ahci) drive="$drive -device ide-hd,bus=ide.0,drive=stick,bootindex=0" ;;
virtio) drive="$drive -device virtio-blk-pci,drive=stick,bootindex=0" ;;
*) echo "run-qemu.sh: RUN_DISK must be usb, ahci or virtio, not '$disk'" >&2; exit 2 ;;
esac

# Serial and monitor share the terminal (mux); signal=off hands Ctrl-C to
# the box instead of killing QEMU.
console="-chardev stdio,id=con0,mux=on,signal=off -serial chardev:con0 -mon chardev=con0,mode=readline"
if [ -n "${RUN_DISPLAY:-}" ]; then
	display="-display $RUN_DISPLAY"
else
	display="-display none"
fi

# q35 with an emulated Intel IOMMU, interrupt remapping on (VFIO refuses
# without it), and QEMU's edu device as something to pass through to a VM.
# kernel-irqchip=split is what intremap needs under KVM; TCG accepts it too.
# The NIC has no option ROM: nothing here boots from the network, and
# loading iPXE into the firmware costs seconds under TCG.
# shellcheck disable=SC2086
exec qemu-system-x86_64 \
	-name kvmbox \
	-machine q35,kernel-irqchip=split $accel -smp "$smp" -m "$mem" \
	-device intel-iommu,intremap=on \
	-device edu \
	$fw \
	$drive \
	-netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:443" \
	-device virtio-net-pci,netdev=net0,romfile= \
	$console $display \
	${RUN_EXTRA:-}
