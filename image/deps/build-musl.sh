#!/bin/sh
# Build musl from SRC and install it into PREFIX: static only, with the
# musl-gcc wrapper, which points the host gcc at PREFIX's headers and libc.a.
#
#   build-musl.sh SRC PREFIX JOBS
set -eu
src=$1 prefix=$2 jobs=$3
cd "$src"
# No CFLAGS: musl picks its own optimisation per file, and nothing of the
# caller's (such as _FORTIFY_SOURCE) should reach libc itself.
./configure --prefix="$prefix" --disable-shared --enable-wrapper=gcc CC=gcc
make -j"$jobs"
make install
