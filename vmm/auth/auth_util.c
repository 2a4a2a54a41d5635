/* Constant-time compare, randomness and the base64 and hex codecs. */
#include <errno.h>
#include <sys/random.h>

#include "auth/auth.h"

bool auth_ct_eq(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int auth_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int auth_b64_encode(const void *in, size_t len, char *out, size_t size, bool url)
{
	const uint8_t *p = in;
	const char *tab = url ? b64_url : b64_std;
	size_t need = url ? (len * 4 + 2) / 3 : (len + 2) / 3 * 4;
	if (len > (1u << 20) || need + 1 > size)
		return -ENOSPC;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;
		if (n > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		if (n > 1)
			out[o++] = tab[(v >> 6) & 63];
		else if (!url)
			out[o++] = '=';
		if (n > 2)
			out[o++] = tab[v & 63];
		else if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int b64_val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

int auth_b64_decode(const char *in, size_t len, void *out, size_t size, bool url)
{
	uint8_t *o = out;
	size_t pad = 0;
	if (!url) {
		/* Padded form only: one canonical spelling per value. */
		if (len % 4)
			return -EINVAL;
		while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
			pad++;
		len -= pad;
	}
	if (len % 4 == 1)
		return -EINVAL;
	if (!url && pad && (len + pad) % 4)
		return -EINVAL;
	size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	if (!url && pad != (len % 4 ? 4 - len % 4 : 0))
		return -EINVAL;
	if (n > size)
		return -ENOSPC;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_val(in[i], url);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[w++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero, or two strings would decode the same. */
	if (acc)
		return -EINVAL;
	return (int)w;
}

void auth_hex(const void *in, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const uint8_t *p = in;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * len] = '\0';
}
