# kvmbox: one image that boots into a KVM hypervisor appliance.
#
#   make run     build everything and boot the image in QEMU (serial on this terminal)
#   make test    build everything and run every test; ends with "N passed, N failed"
#   make bench   print sizes and boot times, ours next to the peers'
#
# Third-party sources come from Debian 13 at build time (image/deps/pins) and
# are built under KVMBOX_CACHE, outside the tree, so later builds reuse them.

VERSION      := 0.1.0
OUT          := out
KVMBOX_CACHE ?= $(if $(filter 0,$(shell id -u)),/var/cache/kvmbox,$(HOME)/.cache/kvmbox)
CACHE        := $(KVMBOX_CACHE)
SYSROOT      := $(OUT)/sysroot
MUSL_CC      := $(SYSROOT)/bin/musl-gcc
HOST_CC      ?= gcc
CFLAGS_COMMON := -std=gnu11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -DKVMBOX_VERSION='"$(VERSION)"' -Ivmm -Idrivers -Iinitramfs

.PHONY: all run test bench clean host-deps kernel image
all: image

# --- host packages (apt-get as root, else the exact command to run) ---
$(OUT)/.host-deps: image/deps/host-packages image/deps/host-packages.sh
	@mkdir -p $(OUT)
	@image/deps/host-packages.sh
	@touch $@
host-deps: $(OUT)/.host-deps

# --- pinned third-party sources: musl sysroot, mbedtls, lwip, libfdt ---
include image/deps/deps.mk

# --- the kernel, cached outside the tree ---
kernel: $(OUT)/kernel/bzImage
$(OUT)/kernel/bzImage: kernel/kvmbox.config kernel/build.sh image/deps/pins | $(OUT)/.host-deps
	@kernel/build.sh $(CACHE) $(OUT)/kernel

# --- the kvmbox binary (static musl) and the initramfs ---
include initramfs/initramfs.mk

# --- the boot images: out/kvmbox.img, out/pxe/, out/kvmbox.iso ---
include image/image.mk

# --- tests and benchmarks ---
include tests/tests.mk

clean:
	rm -rf $(OUT)
