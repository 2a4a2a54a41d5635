# Tests: host unit tests (ASan + UBSan), libFuzzer targets, the musl link
# tests of the third-party libraries, and the QEMU boot tests.

HOST_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_OBJS   := $(patsubst %.c,$(OUT)/host/obj/%.o,$(filter-out vmm/main.c,$(KVMBOX_SRCS)))
HOST_LIB    := $(OUT)/host/libkvmbox.a
FUZZ_OBJS   := $(patsubst %.c,$(OUT)/fuzz/obj/%.o,$(filter-out vmm/main.c,$(KVMBOX_SRCS)))
FUZZ_LIB    := $(OUT)/fuzz/libkvmbox.a
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(OUT)/tests/unit/%,$(wildcard tests/unit/test_*.c))
FUZZ_TESTS  := $(patsubst tests/fuzz/%.c,$(OUT)/tests/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 10

$(OUT)/host/obj/%.o: %.c $(KVMBOX_HDRS) | $(OUT)/.host-deps
	@mkdir -p $(dir $@)
	@$(HOST_CC) $(CFLAGS_COMMON) $(HOST_SAN) -c $< -o $@
$(HOST_LIB): $(HOST_OBJS)
	@rm -f $@; ar rcs $@ $^

$(OUT)/tests/unit/%: tests/unit/%.c tests/unit/check.h $(HOST_LIB)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(HOST_CC) $(CFLAGS_COMMON) $(HOST_SAN) -Itests/unit $< $(HOST_LIB) -lpthread -o $@

$(OUT)/fuzz/obj/%.o: %.c $(KVMBOX_HDRS) | $(OUT)/.host-deps
	@mkdir -p $(dir $@)
	@clang $(CFLAGS_COMMON) -O1 -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FUZZ_LIB): $(FUZZ_OBJS)
	@rm -f $@; ar rcs $@ $^

$(OUT)/tests/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@clang $(CFLAGS_COMMON) -O1 -fsanitize=fuzzer,address,undefined $< $(FUZZ_LIB) -lpthread -o $@

# The test guest: the appliance's own bzImage plus a one-file initramfs.
GUEST_INIT   := $(OUT)/tests/guest/init
GUEST_INITRD := $(OUT)/tests/guest/initramfs.cpio.gz
$(GUEST_INIT): tests/vm/guest_init.c $(DEPS_DONE)
	@mkdir -p $(dir $@)
	@$(MUSL_CC) -static -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $< -o $@
$(GUEST_INITRD): $(GUEST_INIT) tests/vm/guest.list initramfs/mkcpio.py
	@GUEST_INIT=$(GUEST_INIT) initramfs/mkcpio.py tests/vm/guest.list $(OUT)/tests/guest/initramfs.cpio
	@gzip -9 -n -f $(OUT)/tests/guest/initramfs.cpio

# The control-socket test runs its own PID 1 in a test-only initramfs.
VMCTL_TEST   := $(OUT)/tests/guest/vmctl_test
VMCTL_INITRD := $(OUT)/tests/vm/vmctl.cpio.gz
$(VMCTL_TEST): tests/vm/vmctl_test.c $(DEPS_DONE)
	@mkdir -p $(dir $@)
	@$(MUSL_CC) -static -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $< -o $@
$(VMCTL_INITRD): $(VMCTL_TEST) $(KVMBOX) $(GUEST_INITRD) $(OUT)/kernel/bzImage tests/vm/vmctl.list
	@mkdir -p $(dir $@)
	@KVMBOX_BIN=$(KVMBOX) VMCTL_TEST=$(VMCTL_TEST) GUEST_KERNEL=$(OUT)/kernel/bzImage GUEST_INITRD=$(GUEST_INITRD) \
		initramfs/mkcpio.py tests/vm/vmctl.list $(OUT)/tests/vm/vmctl.cpio
	@gzip -1 -n -f $(OUT)/tests/vm/vmctl.cpio

.PHONY: unit fuzz test-build
unit: $(UNIT_TESTS)
fuzz: $(FUZZ_TESTS)
test-build: $(UNIT_TESTS) $(FUZZ_TESTS) $(DEPS_TEST_BINS) $(GUEST_INITRD) $(VMCTL_INITRD) image

TEST_CMDS := $(UNIT_TESTS) \
	$(DEPS_TEST_BINS) \
	tests/build/test_fetch.sh \
	tests/build/test_patches.sh \
	$(foreach f,$(FUZZ_TESTS),'tests/fuzz/run_fuzz.sh $(f) $(FUZZ_SECONDS)') \
	$(BOOT_TEST_CMDS) \
	tests/vm/vm_test.py \
	tests/vm/vmctl_test.py

test: test-build
	@tests/run.py $(TEST_CMDS)

# Figures for README: sizes and boot times per path, then kvmbox vmm against
# QEMU inside the appliance. Speed is measured here, never asserted in tests.
bench: image $(GUEST_INITRD)
	@$(BENCH_CMDS)
	@/usr/bin/python3 tests/bench/vm_bench.py
