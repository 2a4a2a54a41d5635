/*
 * mbedtls' entropy source for kvmbox: the getrandom() system call.
 *
 * mbedtls 3.6 reaches getrandom() only under glibc and otherwise opens
 * /dev/urandom, which a sandboxed VMM or an early-boot supervisor may not
 * have. mbedtls-config.h therefore turns the platform source off
 * (MBEDTLS_NO_PLATFORM_ENTROPY) and names this one as the hardware source
 * (MBEDTLS_ENTROPY_HARDWARE_ALT), which mbedtls counts as strong. It is
 * linked into libmbedcrypto.a, so users need nothing extra.
 */
#include <errno.h>
#include <sys/random.h>

#include <mbedtls/entropy.h>
#include "entropy_poll.h"   /* mbedtls-private: the prototype this must match */

int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
	(void)data;
	*olen = 0;
	while (*olen < len) {
		/* Blocking mode: it waits only until the kernel's pool is first
		 * seeded, and a key made before then would be guessable. */
		ssize_t n = getrandom(output + *olen, len - *olen, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
		}
		*olen += (size_t)n;
	}
	return 0;
}
