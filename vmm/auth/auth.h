/* Authentication for the supervisor's API: password hashes, the user and
 * token store, login sessions and the failed-login limiter.
 *
 * Only auth_crypto.c includes mbedtls (PBKDF2, SHA-256); everything else
 * builds on the host, so the parsers and tables are unit-tested and fuzzed
 * there. Secrets are compared with auth_ct_eq(), whose time does not depend
 * on where the first difference is.
 */
#ifndef KVMBOX_AUTH_H
#define KVMBOX_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PBKDF2-HMAC-SHA256 rounds for new hashes (OWASP's 2021 figure): about a
 * quarter second on a current x86 core with mbedtls' C SHA-256, a few
 * seconds under TCG. The server is one thread, so a login holds it that
 * long; the failed-login limiter bounds how often one source can make it.
 * A hash keeps its own count, so raising this later still verifies old ones. */
#define AUTH_PBKDF2_ITERATIONS 310000
/* Verification refuses hashes outside these bounds: a hash from the command
 * line must not stall the single-threaded server for minutes. */
#define AUTH_PBKDF2_MIN_ITERATIONS 1000
#define AUTH_PBKDF2_MAX_ITERATIONS 5000000
#define AUTH_SALT_LEN 16
#define AUTH_KEY_LEN 32
#define AUTH_HASH_MAX 128   /* "pbkdf2-sha256$ITER$SALT$HASH" and its NUL */
#define AUTH_PASSWORD_MAX 256
#define AUTH_PASSWORD_MIN 8

/* --- small helpers (auth_util.c) --- */
bool auth_ct_eq(const void *a, const void *b, size_t len);
/* Fill buf from getrandom(); 0 or -errno. */
int auth_random(void *buf, size_t len);
/* Standard base64 with padding (url = false) or base64url without padding
 * (url = true). encode returns the length written (NUL added) or -ENOSPC;
 * decode returns the byte count or -EINVAL (bad character, bad padding,
 * bits left over) / -ENOSPC. */
int auth_b64_encode(const void *in, size_t len, char *out, size_t size, bool url);
int auth_b64_decode(const char *in, size_t len, void *out, size_t size, bool url);
void auth_hex(const void *in, size_t len, char *out); /* out holds 2*len+1 */

/* --- password hashes (auth_hash.c: format; auth_crypto.c: the maths) --- */
struct auth_hash {
	unsigned iterations;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t key[64];
	size_t key_len;
};
/* Parse "pbkdf2-sha256$ITER$SALT_B64$HASH_B64". 0 or -EINVAL. */
int auth_hash_parse(const char *s, struct auth_hash *h);
int auth_hash_format(const struct auth_hash *h, char *out, size_t size);
/* New hash of password with a fresh random salt. 0 or -errno. */
int auth_password_hash(const char *password, unsigned iterations, char *out, size_t size);
/* true if password matches the stored hash string (false on a bad hash). */
bool auth_password_verify(const char *password, const char *stored);
void auth_sha256(const void *data, size_t len, uint8_t out[32]);
/* SHA-256 a piece at a time, for data that never is in memory whole (image
 * uploads). begin gives NULL when out of memory; end writes the sum to out
 * (unless NULL) and frees h. */
struct auth_sha256;
struct auth_sha256 *auth_sha256_begin(void);
void auth_sha256_add(struct auth_sha256 *h, const void *data, size_t len);
void auth_sha256_end(struct auth_sha256 *h, uint8_t out[32]);
/* Bytes of a password that the API accepts: 8..256 bytes, no NUL. */
const char *auth_password_problem(const char *pw);

/* --- cookies and headers (auth_cookie.c) --- */
/* The value of cookie name in a Cookie header value, or false. The value is
 * a range of hdr; cookie values are never unquoted (ours have no quotes). */
bool auth_cookie_get(const char *hdr, size_t len, const char *name, const char **val, size_t *vlen);
/* The credentials of "Bearer CREDENTIALS", or false. */
bool auth_bearer_get(const char *hdr, size_t len, const char **tok, size_t *tlen);

#endif
