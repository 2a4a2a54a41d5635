/* Credentials in request headers: the session cookie and bearer tokens. The
 * bytes are the client's, so every scan is bounded by the header's length. */
#include <string.h>

#include "auth/auth.h"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool auth_cookie_get(const char *hdr, size_t len, const char *name, const char **val, size_t *vlen)
{
	size_t nlen = strlen(name);
	size_t i = 0;
	while (i < len) {
		while (i < len && (is_ows(hdr[i]) || hdr[i] == ';'))
			i++;
		size_t start = i;
		while (i < len && hdr[i] != ';')
			i++;
		/* One "name=value" pair is hdr[start..i). */
		size_t end = i;
		while (end > start && is_ows(hdr[end - 1]))
			end--;
		const char *eq = memchr(hdr + start, '=', end - start);
		if (!eq)
			continue;
		size_t klen = (size_t)(eq - (hdr + start));
		if (klen == nlen && !memcmp(hdr + start, name, nlen)) {
			*val = eq + 1;
			*vlen = end - (size_t)(eq + 1 - hdr);
			return true;
		}
	}
	return false;
}

bool auth_bearer_get(const char *hdr, size_t len, const char **tok, size_t *tlen)
{
	static const char scheme[] = "bearer";
	size_t slen = sizeof(scheme) - 1;
	if (len <= slen || !is_ows(hdr[slen]))
		return false;
	for (size_t i = 0; i < slen; i++) {
		char c = hdr[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != scheme[i])
			return false;
	}
	size_t i = slen;
	while (i < len && is_ows(hdr[i]))
		i++;
	size_t end = len;
	while (end > i && is_ows(hdr[end - 1]))
		end--;
	if (end == i)
		return false;
	for (size_t k = i; k < end; k++)
		if (is_ows(hdr[k]))
			return false;
	*tok = hdr + i;
	*tlen = end - i;
	return true;
}
