# Tests: host unit tests (ASan + UBSan), libFuzzer targets, the musl link
# tests of the third-party libraries, and the QEMU boot tests.

HOST_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The TLS files use mbedtls 3.6, whose headers only the musl sysroot has;
# they stay out of the host and fuzz libraries (the HTTP parser, router and
# server loop do not include mbedtls, so they are tested here). So does
# vmm/auth/auth_crypto.c (PBKDF2, SHA-256); the rest of vmm/auth/ is tested here.
# Likewise vmm/ctl/ctl_tls*.c, the client's TLS and SHA-256 (ctl_http.c, its
# response parser, is tested here).
MUSL_ONLY_SRCS := $(wildcard vmm/http/tls*.c) vmm/auth/auth_crypto.c $(wildcard vmm/ctl/ctl_tls*.c)
HOST_OBJS   := $(patsubst %.c,$(OUT)/host/obj/%.o,$(filter-out vmm/main.c $(MUSL_ONLY_SRCS),$(KVMBOX_SRCS)))
HOST_LIB    := $(OUT)/host/libkvmbox.a
FUZZ_OBJS   := $(patsubst %.c,$(OUT)/fuzz/obj/%.o,$(filter-out vmm/main.c $(MUSL_ONLY_SRCS),$(KVMBOX_SRCS)))
FUZZ_LIB    := $(OUT)/fuzz/libkvmbox.a
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(OUT)/tests/unit/%,$(wildcard tests/unit/test_*.c))
FUZZ_TESTS  := $(patsubst tests/fuzz/%.c,$(OUT)/tests/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 10

# lwip for the host builds (drivers/usernet/ links it): compiled from the
# patched sources the sysroot keeps (share/lwip-src, see build-lwip.sh) with
# the same compiler and sanitizers as the code around it, since the musl
# library cannot link here. The usernet objects need the sysroot's headers.
LWIP_SRC_DIR := $(SYSROOT)/share/lwip-src
HOST_LWIP    := $(OUT)/host/liblwip.a
FUZZ_LWIP    := $(OUT)/fuzz/liblwip.a
$(filter $(OUT)/host/obj/drivers/usernet/%,$(HOST_OBJS)) $(filter $(OUT)/fuzz/obj/drivers/usernet/%,$(FUZZ_OBJS)): $(DEPS_DONE)
# build_lwip OUTLIB, COMPILER AND FLAGS: every lwip source, two at a time.
comma := ,
define build_lwip
	@rm -rf $(1).d && mkdir -p $(1).d
	@echo "  LWIP    $(1)"
	@find $(LWIP_SRC_DIR)/core $(LWIP_SRC_DIR)/netif -name '*.c' | xargs -P2 -I{} sh -c \
		'o=$$(echo "{}" | tr / _); exec $(2) -std=gnu11 -g $(LWIP_CFLAGS) -c "{}" -o "$(1).d/$${o%.c}.o"'
	@rm -f $(1) && ar rcs $(1) $(1).d/*.o
endef
$(HOST_LWIP): $(DEPS_DONE)
	$(call build_lwip,$@,$(HOST_CC) -O2 $(HOST_SAN))
$(FUZZ_LWIP): $(DEPS_DONE)
	$(call build_lwip,$@,clang -O1 -fsanitize=fuzzer-no-link$(comma)address$(comma)undefined)

$(OUT)/host/obj/%.o: %.c $(KVMBOX_HDRS) | $(OUT)/.host-deps
	@mkdir -p $(dir $@)
	@$(HOST_CC) $(CFLAGS_COMMON) $(KVMBOX_CFLAGS_$(patsubst %/,%,$(dir $<))) $(HOST_SAN) -c $< -o $@
$(HOST_LIB): $(HOST_OBJS)
	@rm -f $@; ar rcs $@ $^

$(OUT)/tests/unit/%: tests/unit/%.c tests/unit/check.h tests/unit/bus_io.h $(HOST_LIB) $(HOST_LWIP)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(HOST_CC) $(CFLAGS_COMMON) $(HOST_SAN) -Itests/unit $< $(HOST_LIB) $(HOST_LWIP) -lpthread -o $@

$(OUT)/fuzz/obj/%.o: %.c $(KVMBOX_HDRS) | $(OUT)/.host-deps
	@mkdir -p $(dir $@)
	@clang $(CFLAGS_COMMON) $(KVMBOX_CFLAGS_$(patsubst %/,%,$(dir $<))) -O1 -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FUZZ_LIB): $(FUZZ_OBJS)
	@rm -f $@; ar rcs $@ $^

$(OUT)/tests/fuzz/%: tests/fuzz/%.c tests/unit/bus_io.h $(FUZZ_LIB) $(FUZZ_LWIP)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@clang $(CFLAGS_COMMON) -O1 -fsanitize=fuzzer,address,undefined $< $(FUZZ_LIB) $(FUZZ_LWIP) -lpthread -o $@

# The test guest: the appliance's own bzImage plus a small initramfs: /init
# (tests/vm/guest_init.c) and the guest-side test programs tests/vm/guest_*.c,
# each at /bin/NAME (guest_init runs one with kvmbox.exec=/bin/NAME).
GUEST_INIT   := $(OUT)/tests/guest/init
GUEST_INITRD := $(OUT)/tests/guest/initramfs.cpio.gz
GUEST_PROGS  := $(patsubst tests/vm/%.c,$(OUT)/tests/guest/%,$(filter-out tests/vm/guest_init.c,$(wildcard tests/vm/guest_*.c)))
$(GUEST_INIT): tests/vm/guest_init.c tests/vm/guest_util.h tests/vm/sysfs_util.h tests/vm/stream_pattern.h $(DEPS_DONE)
	@mkdir -p $(dir $@)
	@$(MUSL_CC) -static -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $< -o $@
$(OUT)/tests/guest/guest_%: tests/vm/guest_%.c tests/vm/guest_util.h tests/vm/sysfs_util.h tests/vm/stream_pattern.h $(DEPS_DONE)
	@mkdir -p $(dir $@)
	@$(MUSL_CC) -static -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $< -o $@
$(GUEST_INITRD): $(GUEST_INIT) $(GUEST_PROGS) tests/vm/guest.list initramfs/mkcpio.py
	@GUEST_INIT=$(GUEST_INIT) GUEST_BIN=$(OUT)/tests/guest initramfs/mkcpio.py tests/vm/guest.list $(OUT)/tests/guest/initramfs.cpio
	@gzip -9 -n -f $(OUT)/tests/guest/initramfs.cpio

# The disk test's guest also needs mke2fs: the same initramfs plus the build
# host's /sbin/mke2fs and its libraries (tests/vm/host_binary_list.sh), kept
# apart so that every other test guest stays small.
GUEST_EXT4_INITRD := $(OUT)/tests/guest/initramfs-ext4.cpio.gz
$(GUEST_EXT4_INITRD): $(GUEST_INIT) $(GUEST_PROGS) tests/vm/guest.list tests/vm/host_binary_list.sh initramfs/mkcpio.py
	@{ cat tests/vm/guest.list; tests/vm/host_binary_list.sh /sbin/mke2fs; } > $(OUT)/tests/guest/ext4.list
	@GUEST_INIT=$(GUEST_INIT) GUEST_BIN=$(OUT)/tests/guest initramfs/mkcpio.py $(OUT)/tests/guest/ext4.list \
		$(OUT)/tests/guest/initramfs-ext4.cpio
	@gzip -9 -n -f $(OUT)/tests/guest/initramfs-ext4.cpio

# In-appliance tests: tests/vm/NAME_test.c runs as PID 1 (rdinit=/NAME_test)
# of a test-only initramfs made from tests/vm/NAME.list, which holds the
# appliance's files ($KVMBOX_BIN), the driver ($TEST_BIN), the guest kernel
# and initramfs ($GUEST_INITRD, or $GUEST_EXT4_INITRD with mke2fs);
# tests/vm/NAME_test.py boots it and relays its results.
APPLIANCE_TESTS  := $(patsubst tests/vm/%_test.c,%,$(wildcard tests/vm/*_test.c))
APPLIANCE_INITRDS := $(patsubst %,$(OUT)/tests/vm/%.cpio.gz,$(APPLIANCE_TESTS))
# Kept after the initramfs is made, so that the next make does not rebuild it.
.SECONDARY: $(patsubst %,$(OUT)/tests/guest/%_test,$(APPLIANCE_TESTS))
$(OUT)/tests/guest/%_test: tests/vm/%_test.c tests/vm/appliance_test.h tests/vm/sysfs_util.h tests/vm/stream_pattern.h $(DEPS_DONE)
	@mkdir -p $(dir $@)
	@$(MUSL_CC) -static -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $< -lpthread -o $@
$(OUT)/tests/vm/%.cpio.gz: $(OUT)/tests/guest/%_test $(KVMBOX) $(GUEST_INITRD) $(GUEST_EXT4_INITRD) \
		$(OUT)/kernel/bzImage tests/vm/%.list
	@mkdir -p $(dir $@)
	@KVMBOX_BIN=$(KVMBOX) TEST_BIN=$< GUEST_KERNEL=$(OUT)/kernel/bzImage GUEST_INITRD=$(GUEST_INITRD) \
		GUEST_EXT4_INITRD=$(GUEST_EXT4_INITRD) \
		initramfs/mkcpio.py tests/vm/$*.list $(OUT)/tests/vm/$*.cpio
	@gzip -1 -n -f $(OUT)/tests/vm/$*.cpio

# tests/web/browser_test.py drives Debian's Chromium with playwright-core,
# pinned by tests/web/package-lock.json and installed here with npm ci.
BROWSER_TEST_NPM := $(OUT)/tests/web-npm/node_modules/.package-lock.json
$(BROWSER_TEST_NPM): tests/web/package.json tests/web/package-lock.json | $(OUT)/.host-deps
	@echo "  NPM     $(OUT)/tests/web-npm"
	@mkdir -p $(OUT)/tests/web-npm
	@cp tests/web/package.json tests/web/package-lock.json $(OUT)/tests/web-npm/
	@cd $(OUT)/tests/web-npm && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

.PHONY: unit fuzz test-build
unit: $(UNIT_TESTS)
fuzz: $(FUZZ_TESTS)
test-build: $(UNIT_TESTS) $(FUZZ_TESTS) $(DEPS_TEST_BINS) $(GUEST_INITRD) $(APPLIANCE_INITRDS) image
test-build: $(BROWSER_TEST_NPM)
test-build: $(DEMO_INITRD)

TEST_CMDS := $(UNIT_TESTS) \
	$(DEPS_TEST_BINS) \
	tests/build/test_fetch.sh \
	tests/build/test_patches.sh \
	tests/web/https_test.py \
	tests/web/auth_test.py \
	tests/web/settings_test.py \
	tests/web/vms_test.py \
	tests/web/ws_test.py \
	tests/web/ctl_test.py \
	tests/web/images_test.py \
	tests/web/browser_test.py \
	tests/web/load_test.py \
	tests/web/console_local_test.py \
	$(foreach f,$(FUZZ_TESTS),'tests/fuzz/run_fuzz.sh $(f) $(FUZZ_SECONDS)') \
	$(BOOT_TEST_CMDS) \
	tests/web/appliance_api_test.py \
	tests/web/browser_appliance_test.py \
	tests/vm/console_test.py \
	tests/boot/seed_test.py \
	tests/boot/headless_test.py \
	tests/vm/vm_test.py \
	$(patsubst %,tests/vm/%_test.py,$(APPLIANCE_TESTS))

test: test-build
	@tests/run.py $(TEST_CMDS)

# Figures for README: sizes and boot times per path, then kvmbox vmm against
# QEMU inside the appliance, then the web console (Chromium; the demo VM).
# Speed is measured here, never asserted in tests.
bench: image $(GUEST_INITRD) $(BROWSER_TEST_NPM) $(DEMO_INITRD)
	@$(BENCH_CMDS)
	@/usr/bin/python3 tests/bench/vm_bench.py
	@/usr/bin/python3 tests/bench/io_bench.py
	@/usr/bin/python3 tests/bench/net_bench.py
	@/usr/bin/python3 tests/bench/vfio_bench.py
	@/usr/bin/python3 tests/bench/https_bench.py
	@/usr/bin/python3 tests/bench/webui_bench.py
