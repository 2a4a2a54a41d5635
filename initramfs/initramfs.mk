# The kvmbox binary (static musl) and the appliance initramfs.
#
# Every .c under vmm/, drivers/ and initramfs/ is part of the binary: devices
# and subcommands register themselves, so a new file needs no edit here.

KVMBOX_SRCS := $(sort $(shell find vmm drivers initramfs -name '*.c' 2>/dev/null))
KVMBOX_HDRS := $(sort $(shell find vmm drivers initramfs -name '*.h' 2>/dev/null))
KVMBOX_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(KVMBOX_SRCS))
# The API's OpenAPI document, served from memory: vmm/api/openapi.yaml as a
# C array (NUL-terminated; the length leaves the NUL out).
API_SPEC_C  := $(OUT)/gen/api_openapi.c
KVMBOX_OBJS += $(patsubst %.c,$(OUT)/obj/%.o,$(API_SPEC_C))
KVMBOX      := $(OUT)/kvmbox
INITRAMFS   := $(OUT)/initramfs.cpio.gz

$(API_SPEC_C): vmm/api/openapi.yaml
	@mkdir -p $(dir $@)
	@{ echo '#include <stddef.h>'; echo 'const char api_openapi_yaml[] = {'; \
	   od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0 };'; echo 'const size_t api_openapi_yaml_len = sizeof(api_openapi_yaml) - 1;'; } > $@

$(OUT)/obj/%.o: %.c $(KVMBOX_HDRS) $(DEPS_DONE)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(MUSL_CC) $(CFLAGS_COMMON) $(KVMBOX_CFLAGS_$(patsubst %/,%,$(dir $<))) -c $< -o $@

# The user-mode network backend is built on the sysroot's lwip.
KVMBOX_CFLAGS_drivers/usernet := $(LWIP_CFLAGS)

# Keep the unstripped binary for debugging; ship the stripped one.
$(KVMBOX): $(KVMBOX_OBJS)
	@echo "  LD      $@"
	@$(MUSL_CC) -static -o $@.debug $(KVMBOX_OBJS) $(MBEDTLS_LIBS) $(LWIP_LIBS) -lpthread
	@strip -o $@ $@.debug
	@echo "kvmbox: $@ is $$(stat -c %s $@) bytes (static musl)"

$(INITRAMFS): $(KVMBOX) initramfs/files.list initramfs/mkcpio.py
	@KVMBOX_BIN=$(KVMBOX) initramfs/mkcpio.py initramfs/files.list $(OUT)/initramfs.cpio
	@gzip -9 -n -f $(OUT)/initramfs.cpio
	@echo "initramfs: $@ is $$(stat -c %s $@) bytes"

.PHONY: kvmbox initramfs
kvmbox: $(KVMBOX)
initramfs: $(INITRAMFS)
