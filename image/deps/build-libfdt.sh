#!/bin/sh
# Build libfdt from its source folder SRC (dtc's libfdt/, or the kernel's
# scripts/dtc/libfdt) with PREFIX's musl-gcc, into PREFIX/lib/libfdt.a and
# PREFIX/include/{libfdt,fdt,libfdt_env}.h.
#
#   build-libfdt.sh SRC PREFIX JOBS
set -eu
src=$1 prefix=$2 jobs=$3
obj=$(mktemp -d)
trap 'rm -rf "$obj"' EXIT
# The .c files directly, not dtc's Makefile: the kernel's copy has none, and
# both trees name every library source fdt*.c.
export FDT_CC="$prefix/bin/musl-gcc" FDT_OBJ="$obj"
# -g, as for lwip: the VMM steps into it when a guest rejects its tree.
export FDT_CFLAGS="-O2 -g -std=gnu11 -ffunction-sections -fdata-sections -Wall -Wextra -I$src"
find "$src" -maxdepth 1 -name 'fdt*.c' -print0 | xargs -0 -n1 -P"$jobs" sh -c '
	echo "CC $1"
	exec "$FDT_CC" $FDT_CFLAGS -c "$1" -o "$FDT_OBJ/$(basename "${1%.c}").o"' sh
mkdir -p "$prefix/lib" "$prefix/include"
rm -f "$prefix/lib/libfdt.a"
ar rcs "$prefix/lib/libfdt.a" "$obj"/*.o
cp "$src/libfdt.h" "$src/fdt.h" "$src/libfdt_env.h" "$prefix/include/"
