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
# The web console, served from memory: web-ui/'s own files and the pinned
# xterm.js (web-ui/package-lock.json, installed with npm ci), each as it is
# and gzip-compressed (web-ui/embed.py; see vmm/api/api_webui.h).
WEBUI_NPM   := web-ui/node_modules/.package-lock.json
WEBUI_FILES := $(sort $(wildcard web-ui/*.html web-ui/*.css web-ui/*.js web-ui/*.svg)) \
	web-ui/node_modules/@xterm/xterm/lib/xterm.mjs web-ui/node_modules/@xterm/xterm/css/xterm.css \
	web-ui/node_modules/@xterm/addon-fit/lib/addon-fit.mjs
WEBUI_C     := $(OUT)/gen/webui_assets.c
KVMBOX_OBJS += $(patsubst %.c,$(OUT)/obj/%.o,$(WEBUI_C))
KVMBOX      := $(OUT)/kvmbox
INITRAMFS   := $(OUT)/initramfs.cpio.gz

$(API_SPEC_C): vmm/api/openapi.yaml
	@mkdir -p $(dir $@)
	@{ echo '#include <stddef.h>'; echo 'const char api_openapi_yaml[] = {'; \
	   od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0 };'; echo 'const size_t api_openapi_yaml_len = sizeof(api_openapi_yaml) - 1;'; } > $@

$(WEBUI_NPM): web-ui/package.json web-ui/package-lock.json
	@echo "  NPM     web-ui"
	@cd web-ui && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@
$(filter web-ui/node_modules/%,$(WEBUI_FILES)): $(WEBUI_NPM)
$(WEBUI_C): web-ui/embed.py $(WEBUI_FILES) $(WEBUI_NPM)
	@mkdir -p $(dir $@)
	@python3 web-ui/embed.py $@ $(WEBUI_FILES)

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
