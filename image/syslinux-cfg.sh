#!/bin/sh
# Print the syslinux/isolinux configuration that boots kvmbox on legacy BIOS.
#
#   image/syslinux-cfg.sh CMDLINE > syslinux.cfg
#
# One generator for both the USB image (syslinux on the ESP) and the ISO
# (isolinux), so the two BIOS paths cannot drift apart.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 CMDLINE" >&2; exit 2; }
# SERIAL must come first: it puts syslinux's own messages (and any error such
# as a missing kernel) on ttyS0 as well, where a headless box is watched.
# PROMPT 0 with TIMEOUT 0 boots at once; holding Shift or Alt still prompts.
cat <<CFG
SERIAL 0 115200
DEFAULT kvmbox
PROMPT 0
TIMEOUT 0
LABEL kvmbox
  LINUX /kvmbox/bzImage
  INITRD /kvmbox/initramfs.cpio.gz
  APPEND $1
CFG
