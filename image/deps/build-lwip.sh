#!/bin/sh
# Build lwip's raw API stack (core, IPv4, IPv6, ethernet; NO_SYS=1) from SRC
# with PREFIX's musl-gcc and kvmbox's port headers in PORT, into
# PREFIX/lib/liblwip.a and PREFIX/include/lwip/.
#
#   build-lwip.sh SRC PREFIX JOBS PORT
set -eu
src=$1 prefix=$2 jobs=$3 port=$4
cd "$src/src"
mkdir -p obj
# Only what a NO_SYS raw/tcp/udp user needs: no sockets, netconn or apps.
# The files that a disabled option (DNS, DHCP, ...) guards compile to nothing.
export LWIP_CC="$prefix/bin/musl-gcc"
# -g: usernet debugging steps into lwip; the final link is stripped anyway.
export LWIP_CFLAGS="-O2 -g -std=gnu11 -ffunction-sections -fdata-sections -Wall -Wextra -Iinclude -I$port"
find core netif/ethernet.c -name '*.c' -print0 | xargs -0 -n1 -P"$jobs" sh -c '
	o=$(printf %s "$1" | tr / _)
	echo "CC $1"
	exec "$LWIP_CC" $LWIP_CFLAGS -c "$1" -o "obj/${o%.c}.o"' sh
rm -f liblwip.a
ar rcs liblwip.a obj/*.o
mkdir -p "$prefix/lib" "$prefix/include/lwip"
cp liblwip.a "$prefix/lib/"
# Under include/lwip/ so that lwip's compat/ and arch-neutral headers never
# shadow the libc's; users add -isystem PREFIX/include/lwip and the port.
cp -a include/. "$prefix/include/lwip/"
# The patched sources the library was built from, for the host builds of
# the unit tests and fuzz targets (gcc and clang with sanitizers, which
# cannot link this musl library): tests/tests.mk compiles them from here.
mkdir -p "$prefix/share/lwip-src/netif"
cp -a core "$prefix/share/lwip-src/"
cp netif/ethernet.c "$prefix/share/lwip-src/netif/"
