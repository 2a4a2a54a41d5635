/*
 * lwip's compiler and platform glue for kvmbox: gcc, musl, x86_64 Linux.
 * lwip includes this from every file, so it stays small.
 */
#ifndef KVMBOX_LWIP_ARCH_CC_H
#define KVMBOX_LWIP_ARCH_CC_H

#include <endian.h>     /* BYTE_ORDER from the libc, so lwip swaps bytes as the host does */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
/* A broken lwip invariant means corrupt network state: stop the VMM loudly
 * rather than forward garbage to the guest. */
#define LWIP_PLATFORM_ASSERT(x) do { \
	fprintf(stderr, "lwip: assertion \"%s\" failed at %s:%d\n", x, __FILE__, __LINE__); \
	abort(); \
} while (0)

/* lwip draws TCP initial sequence numbers, ephemeral ports and IP ids from
 * this; rand() would make them predictable to a guest. */
static inline uint32_t kvmbox_lwip_rand(void)
{
	uint32_t r;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)random();
	return r;
}
#define LWIP_RAND() kvmbox_lwip_rand()

#endif
