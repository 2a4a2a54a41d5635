/* libFuzzer target for the auth parsers of outside input: the Cookie and
 * Authorization headers (every request), stored password hashes (command
 * line, users.json), base64 and users.json itself.
 *
 * The first byte picks the parser; the rest is its input. Results must point
 * inside the input, decoders must not write past their buffers (ASan), and
 * what the encoders make must decode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth_store.h"

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && p + n <= buf + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 70000)
		return 0;
	unsigned which = data[0] % 5;
	size_t len = size - 1;
	/* A copy of exactly len bytes, so that ASan sees any over-read. */
	char *buf = malloc(len + 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	buf[len] = '\0';
	const char *v;
	size_t vlen;
	switch (which) {
	case 0:
		if (auth_cookie_get(buf, len, "kvmbox_session", &v, &vlen))
			ASSERT(inside(v, vlen, buf, len) && !memchr(v, ';', vlen));
		break;
	case 1:
		if (auth_bearer_get(buf, len, &v, &vlen))
			ASSERT(inside(v, vlen, buf, len) && vlen > 0 && !memchr(v, ' ', vlen));
		break;
	case 2: {
		struct auth_hash h;
		char out[AUTH_HASH_MAX];
		if (strlen(buf) == len && !auth_hash_parse(buf, &h)) {
			/* Accepted: the canonical form is the input itself. */
			ASSERT(!auth_hash_format(&h, out, sizeof(out)) && !strcmp(out, buf));
		}
		break;
	}
	case 3: {
		uint8_t bin[512];
		char enc[800];
		for (int url = 0; url < 2; url++) {
			int n = auth_b64_decode(buf, len, bin, sizeof(bin), url);
			if (n >= 0) {
				ASSERT((size_t)n <= sizeof(bin));
				int e = auth_b64_encode(bin, (size_t)n, enc, sizeof(enc), url);
				ASSERT(e >= 0 && (size_t)e == len && !memcmp(enc, buf, len));
			}
		}
		break;
	}
	case 4: {
		static struct auth_store st;
		char why[400];
		int r = auth_store_parse(&st, buf, len, why, sizeof(why));
		ASSERT(r == 0 || (why[0] && r < 0));
		if (!r)
			ASSERT(st.nusers <= AUTH_USERS_MAX && st.ntokens <= AUTH_TOKENS_MAX);
		break;
	}
	}
	free(buf);
	return 0;
}
