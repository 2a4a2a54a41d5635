/* The mbedtls half of auth: PBKDF2-HMAC-SHA256 and SHA-256. Musl-only (see
 * MUSL_ONLY_SRCS in tests/tests.mk). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>

#include "auth/auth.h"

void auth_sha256(const void *data, size_t len, uint8_t out[32])
{
	mbedtls_sha256(data, len, out, 0);
}

struct auth_sha256 {
	mbedtls_sha256_context c;
};

struct auth_sha256 *auth_sha256_begin(void)
{
	struct auth_sha256 *h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	mbedtls_sha256_init(&h->c);
	mbedtls_sha256_starts(&h->c, 0); /* software SHA-256 cannot fail */
	return h;
}

void auth_sha256_add(struct auth_sha256 *h, const void *data, size_t len)
{
	mbedtls_sha256_update(&h->c, data, len);
}

void auth_sha256_end(struct auth_sha256 *h, uint8_t out[32])
{
	uint8_t sum[32];
	mbedtls_sha256_finish(&h->c, sum);
	if (out)
		memcpy(out, sum, sizeof(sum));
	mbedtls_sha256_free(&h->c);
	free(h);
}

static int pbkdf2(const char *pw, const struct auth_hash *h, uint8_t *key, size_t key_len)
{
	return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, (const unsigned char *)pw, strlen(pw), h->salt,
					     h->salt_len, h->iterations, (uint32_t)key_len, key) ? -EIO : 0;
}

int auth_password_hash(const char *password, unsigned iterations, char *out, size_t size)
{
	struct auth_hash h = { .iterations = iterations, .salt_len = AUTH_SALT_LEN, .key_len = AUTH_KEY_LEN };
	if (iterations < AUTH_PBKDF2_MIN_ITERATIONS || iterations > AUTH_PBKDF2_MAX_ITERATIONS)
		return -EINVAL;
	int r = auth_random(h.salt, h.salt_len);
	if (!r)
		r = pbkdf2(password, &h, h.key, h.key_len);
	if (!r)
		r = auth_hash_format(&h, out, size);
	memset(&h, 0, sizeof(h));
	return r;
}

bool auth_password_verify(const char *password, const char *stored)
{
	struct auth_hash h;
	uint8_t key[64];
	if (auth_hash_parse(stored, &h) || pbkdf2(password, &h, key, h.key_len))
		return false;
	bool ok = auth_ct_eq(key, h.key, h.key_len);
	memset(key, 0, sizeof(key));
	return ok;
}
