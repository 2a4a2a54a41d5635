/* Parsers for what PID 1 reads from outside: the kernel command line (set by
 * whoever controls the boot loader or PXE server) and superblocks of whatever
 * disks are plugged in. Both are untrusted, so every read is bounds-checked;
 * tests/fuzz/fuzz_init_parse.c runs them on random input. */
#include <errno.h>
#include <string.h>

#include "init.h"

static int copy_value(const char *p, size_t n, char *val, size_t size)
{
	if (n + 1 > size)
		return -ENAMETOOLONG;
	memcpy(val, p, n);
	val[n] = '\0';
	return 1;
}

int cmdline_get(const char *cmdline, const char *key, char *val, size_t size)
{
	size_t klen = strlen(key);
	const char *p = cmdline;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		/* One parameter: up to unquoted whitespace. */
		const char *start = p;
		int quoted = 0;
		while (*p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n'))) {
			if (*p == '"')
				quoted = !quoted;
			p++;
		}
		size_t len = (size_t)(p - start);
		if (len >= klen && !strncmp(start, key, klen)) {
			if (len == klen)
				return copy_value("", 0, val, size);
			if (start[klen] == '=') {
				const char *v = start + klen + 1;
				size_t vlen = len - klen - 1;
				if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
					v++;
					vlen -= 2;
				}
				return copy_value(v, vlen, val, size);
			}
		}
	}
	return 0;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

int ext4_label(const uint8_t *buf, size_t len, char *label, size_t size)
{
	/* Superblock fields used: s_magic at 0x38, s_volume_name[16] at 0x78. */
	if (len < 0x78 + 16 || size == 0)
		return -EINVAL;
	if (le16(buf + 0x38) != 0xEF53)
		return -EINVAL;
	size_t n = 0;
	while (n < 16 && buf[0x78 + n])
		n++;
	if (n + 1 > size)
		return -ENAMETOOLONG;
	memcpy(label, buf + 0x78, n);
	label[n] = '\0';
	return 0;
}

int uevent_get(const char *text, const char *key, char *val, size_t size)
{
	size_t klen = strlen(key);
	const char *p = text;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > klen && !strncmp(p, key, klen) && p[klen] == '=')
			return copy_value(p + klen + 1, len - klen - 1, val, size);
		p += len;
		if (*p == '\n')
			p++;
	}
	return 0;
}
