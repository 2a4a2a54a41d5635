/* kvmbox ctl: SHA-256 for upload checksums (mbedtls); see ctl_tls.h. */
#include <stdio.h>
#include <stdlib.h>

#include <mbedtls/sha256.h>

#include "ctl/ctl_tls.h"

struct ctl_sha256 {
	mbedtls_sha256_context c;
};

struct ctl_sha256 *ctl_sha256_new(void)
{
	struct ctl_sha256 *s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	mbedtls_sha256_init(&s->c);
	mbedtls_sha256_starts(&s->c, 0);
	return s;
}

void ctl_sha256_update(struct ctl_sha256 *s, const void *p, size_t n)
{
	mbedtls_sha256_update(&s->c, p, n);
}

void ctl_sha256_final(struct ctl_sha256 *s, char hex[65])
{
	unsigned char d[32];
	mbedtls_sha256_finish(&s->c, d);
	mbedtls_sha256_free(&s->c);
	free(s);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}
