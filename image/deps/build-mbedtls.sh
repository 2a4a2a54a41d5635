#!/bin/sh
# Build mbedtls' three static libraries from SRC with PREFIX's musl-gcc, using
# kvmbox's config, and install them with their headers into PREFIX.
#
#   build-mbedtls.sh SRC PREFIX JOBS
set -eu
src=$1 prefix=$2 jobs=$3
here=$(cd "$(dirname "$0")" && pwd)
cc=$prefix/bin/musl-gcc
# Sections per function let the final link drop what kvmbox never calls.
cflags="-O2 -ffunction-sections -fdata-sections"
# The config replaces mbedtls/mbedtls_config.h, mbedtls' documented default,
# rather than riding in on -DMBEDTLS_CONFIG_FILE: then every later user of
# the installed headers sees the same options the library was built with,
# with no define to forget (a mismatch silently changes struct layouts).
cp "$here/mbedtls-config.h" "$src/include/mbedtls/mbedtls_config.h"
make -C "$src/library" -j"$jobs" CC="$cc" AR=ar CFLAGS="$cflags" static
# The getrandom() entropy source the config asks for (see mbedtls-entropy.c).
"$cc" $cflags -std=gnu11 -Wall -Wextra -Werror -I"$src/include" -I"$src/library" \
	-c "$here/mbedtls-entropy.c" -o "$src/library/kvmbox_entropy.o"
ar rcs "$src/library/libmbedcrypto.a" "$src/library/kvmbox_entropy.o"
mkdir -p "$prefix/lib" "$prefix/include"
cp "$src/library/libmbedtls.a" "$src/library/libmbedx509.a" "$src/library/libmbedcrypto.a" "$prefix/lib/"
cp -a "$src/include/mbedtls" "$src/include/psa" "$prefix/include/"
