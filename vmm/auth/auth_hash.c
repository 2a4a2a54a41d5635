/* The stored password hash format: pbkdf2-sha256$ITER$SALT_B64$HASH_B64
 * (standard base64, padded). It comes from the command line, the seed config
 * and users.json, so it is parsed strictly. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

#define HASH_PREFIX "pbkdf2-sha256$"

int auth_hash_parse(const char *s, struct auth_hash *h)
{
	memset(h, 0, sizeof(*h));
	size_t plen = strlen(HASH_PREFIX);
	/* What is accepted must fit where it is kept (struct auth_user). */
	if (strnlen(s, AUTH_HASH_MAX) >= AUTH_HASH_MAX || strncmp(s, HASH_PREFIX, plen))
		return -EINVAL;
	const char *p = s + plen;
	unsigned long it = 0;
	size_t digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 8)
			return -EINVAL;
		it = it * 10 + (unsigned long)(*p - '0');
	}
	if (!digits || (digits > 1 && s[plen] == '0') || *p != '$')
		return -EINVAL;
	if (it < AUTH_PBKDF2_MIN_ITERATIONS || it > AUTH_PBKDF2_MAX_ITERATIONS)
		return -EINVAL;
	const char *salt = ++p;
	const char *dollar = strchr(salt, '$');
	if (!dollar)
		return -EINVAL;
	int n = auth_b64_decode(salt, (size_t)(dollar - salt), h->salt, sizeof(h->salt), false);
	if (n < 8)
		return -EINVAL;
	h->salt_len = (size_t)n;
	const char *key = dollar + 1;
	n = auth_b64_decode(key, strlen(key), h->key, sizeof(h->key), false);
	if (n < 16)
		return -EINVAL;
	h->key_len = (size_t)n;
	h->iterations = (unsigned)it;
	return 0;
}

int auth_hash_format(const struct auth_hash *h, char *out, size_t size)
{
	char salt[96], key[96];
	if (auth_b64_encode(h->salt, h->salt_len, salt, sizeof(salt), false) < 0 ||
	    auth_b64_encode(h->key, h->key_len, key, sizeof(key), false) < 0)
		return -ENOSPC;
	int n = snprintf(out, size, HASH_PREFIX "%u$%s$%s", h->iterations, salt, key);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

const char *auth_password_problem(const char *pw)
{
	size_t n = strlen(pw);
	if (n < AUTH_PASSWORD_MIN)
		return "the password must have at least 8 characters";
	if (n > AUTH_PASSWORD_MAX)
		return "the password must have at most 256 bytes";
	return NULL;
}
