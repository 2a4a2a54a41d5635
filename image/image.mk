# Boot images, included by the top Makefile (which sets OUT, VERSION; the
# initramfs fragment sets INITRAMFS).
#
#   make image        out/kvmbox.img (USB, UEFI + BIOS), out/pxe/, out/kvmbox.iso
#   make run          boot out/kvmbox.img in QEMU, serial on this terminal, with a
#                     demo VM (autostarted busybox guest) on its data partition
#                     RUN_FIRMWARE=uefi|bios  RUN_MEM=2G  RUN_PORT=8443 (-> 443)
#                     RUN_DISK=usb|ahci|virtio  RUN_DISPLAY=gtk  RUN_EXTRA='...'
#   make bench-boot   sizes and QEMU start-to-ready seconds per boot path
#
# The scripts in image/ need no root and no loop devices.

# The one kernel command line of every boot path (UEFI, BIOS, ISO, PXE and
# the tests' direct -kernel boot read it from out/image/cmdline).
KVMBOX_CMDLINE := console=tty0 console=ttyS0,115200 intel_iommu=on iommu=pt

KVMBOX_KERNEL ?= $(OUT)/kernel/bzImage
KVMBOX_IMG    := $(OUT)/kvmbox.img
KVMBOX_ISO    := $(OUT)/kvmbox.iso
KVMBOX_PXE    := $(OUT)/pxe

# Every timestamp inside the images. A constant, not the build time or the
# last commit, so that rebuilding the same inputs gives the same bytes.
# Override from the environment for a release build.
SOURCE_DATE_EPOCH ?= 1767225600
IMAGE_ENV := SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) KVMBOX_VERSION=$(VERSION)

# Settings that change the images' contents but live in no file: written to a
# file that is rewritten only when they change, so the images depend on them
# without being rebuilt on every make.
$(OUT)/image/params: .kvmbox-image-params
	@mkdir -p $(@D)
	@printf 'cmdline=%s\nversion=%s\nepoch=%s\n' '$(KVMBOX_CMDLINE)' '$(VERSION)' '$(SOURCE_DATE_EPOCH)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
	@printf '%s\n' '$(KVMBOX_CMDLINE)' >$(OUT)/image/cmdline.tmp
	@if cmp -s $(OUT)/image/cmdline.tmp $(OUT)/image/cmdline; then rm $(OUT)/image/cmdline.tmp; \
	 else mv $(OUT)/image/cmdline.tmp $(OUT)/image/cmdline; fi
.PHONY: .kvmbox-image-params

IMAGE_INPUTS := $(KVMBOX_KERNEL) $(INITRAMFS) $(OUT)/image/params

$(KVMBOX_IMG): $(IMAGE_INPUTS) image/mkdisk.sh image/mkesp.sh image/syslinux-cfg.sh | $(OUT)/.host-deps
	@echo "image: $@"
	@$(IMAGE_ENV) image/mkdisk.sh $@ $(KVMBOX_KERNEL) $(INITRAMFS) '$(KVMBOX_CMDLINE)'

$(KVMBOX_PXE)/boot.ipxe: $(IMAGE_INPUTS) image/mkpxe.sh
	@echo "image: $(KVMBOX_PXE)/"
	@$(IMAGE_ENV) image/mkpxe.sh $(KVMBOX_PXE) $(KVMBOX_KERNEL) $(INITRAMFS) '$(KVMBOX_CMDLINE)'

$(KVMBOX_ISO): $(IMAGE_INPUTS) image/mkiso.sh image/mkesp.sh image/syslinux-cfg.sh | $(OUT)/.host-deps
	@echo "image: $@"
	@$(IMAGE_ENV) image/mkiso.sh $@ $(KVMBOX_KERNEL) $(INITRAMFS) '$(KVMBOX_CMDLINE)'

image: $(KVMBOX_IMG) $(KVMBOX_PXE)/boot.ipxe $(KVMBOX_ISO)

# make run writes to out/kvmbox.img itself, so /data persists from one run to
# the next; rebuilding the image (a new kernel or initramfs) starts it afresh.
.PHONY: run bench-boot
# The demo VM that make run puts on the image's data partition (once; see
# image/run-demo.sh): this kernel and a busybox initramfs (image/demo/).
DEMO_INITRD := $(OUT)/demo/initramfs.cpio.gz
$(DEMO_INITRD): image/demo/init image/demo/udhcpc.sh image/demo/demo.list image/deps/pins image/deps/fetch.sh
	@mkdir -p $(OUT)/demo/deb
	@deb=$$(image/deps/fetch.sh $(CACHE) busybox-static) && dpkg-deb -x "$$deb" $(OUT)/demo/deb
	@BUSYBOX=$(OUT)/demo/deb/usr/bin/busybox initramfs/mkcpio.py image/demo/demo.list $(OUT)/demo/initramfs.cpio
	@gzip -9 -n -f $(OUT)/demo/initramfs.cpio
	@echo "image: $@"

run: image $(DEMO_INITRD)
	@image/run-demo.sh $(KVMBOX_IMG) $(KVMBOX_KERNEL) $(DEMO_INITRD)
	image/run-qemu.sh $(KVMBOX_IMG)

bench-boot: image
	/usr/bin/python3 tests/bench/boot_bench.py

# What tests/tests.mk runs for make test and make bench. Each test command is
# quoted: tests/run.py takes one shell command per argument.
BOOT_TEST_CMDS := 'tests/boot/boot_test.py'
BENCH_CMDS := /usr/bin/python3 tests/bench/boot_bench.py --runs 3
