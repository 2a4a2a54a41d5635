# The static musl sysroot: musl, Linux uapi headers, mbedtls, lwip, libfdt.
# Included by the top Makefile, which defines OUT, CACHE, SYSROOT and MUSL_CC.
#
# image/deps/build-sysroot.sh builds it once per input hash under
# $(CACHE)/sysroot-<key> and points $(SYSROOT) at it, so a fresh clone on the
# same machine reuses it. Compile with $(MUSL_CC) and link with -static.

# Depend on this (order-only is enough for sources that don't include the
# libraries' headers) before using $(MUSL_CC) or any library below.
DEPS_DONE := $(SYSROOT)/.done

# musl-gcc already searches $(SYSROOT)/include and $(SYSROOT)/lib; the -L
# keeps these flags right even where another driver does the link.
MBEDTLS_LIBS := -L$(SYSROOT)/lib -lmbedtls -lmbedx509 -lmbedcrypto -pthread
FDT_LIBS     := -L$(SYSROOT)/lib -lfdt
LWIP_LIBS    := -L$(SYSROOT)/lib -llwip
# lwip's headers must see the lwipopts.h the library was built with.
# -isystem: lwip's own headers are not held to kvmbox's -Werror.
LWIP_CFLAGS  := -isystem $(SYSROOT)/include/lwip -Idrivers/usernet/port

DEPS_INPUTS := image/deps/pins image/deps/fetch.sh $(wildcard image/deps/build-*.sh) \
	image/deps/mbedtls-config.h image/deps/mbedtls-entropy.c \
	$(shell find drivers/usernet/port -type f 2>/dev/null)

.PHONY: deps deps-test-bins
deps: $(DEPS_DONE)

$(DEPS_DONE): $(DEPS_INPUTS) | $(OUT)/.host-deps
	@image/deps/build-sysroot.sh $(CACHE) $(SYSROOT)

# Link tests: each library does real work in a static musl binary.
DEPS_TEST_BINS := $(addprefix $(OUT)/tests/bin/,link_mbedtls link_lwip link_fdt)
deps-test-bins: $(DEPS_TEST_BINS)

$(OUT)/tests/bin/link_mbedtls: DEPS_TEST_LIBS := $(MBEDTLS_LIBS)
$(OUT)/tests/bin/link_lwip: DEPS_TEST_LIBS := $(LWIP_LIBS)
$(OUT)/tests/bin/link_lwip: DEPS_TEST_CFLAGS := $(LWIP_CFLAGS)
$(OUT)/tests/bin/link_fdt: DEPS_TEST_LIBS := $(FDT_LIBS)

$(DEPS_TEST_BINS): $(OUT)/tests/bin/%: tests/unit/link/%.c $(DEPS_DONE)
	@mkdir -p $(@D)
	$(MUSL_CC) $(CFLAGS_COMMON) $(DEPS_TEST_CFLAGS) -static -o $@ $< $(DEPS_TEST_LIBS)
