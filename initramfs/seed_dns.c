/* A tiny DNS client's messages (RFC 1035): one question for an A record,
 * and the first A record of the answer. Enough to resolve the seed server's
 * name through the servers DHCP gave; the reply is outside input. */
#include <errno.h>
#include <string.h>

#include "seed_http.h"

int seed_dns_query(uint8_t *buf, size_t size, uint16_t id, const char *name)
{
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--; /* a fully qualified name's root dot */
	if (!n || n > 253 || size < 12 + n + 2 + 4)
		return -EINVAL;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD: the server resolves recursively */
	buf[5] = 1;    /* one question */
	size_t o = 12;
	for (size_t s = 0; s < n;) {
		size_t e = s;
		while (e < n && name[e] != '.')
			e++;
		if (e == s || e - s > 63)
			return -EINVAL;
		buf[o++] = (uint8_t)(e - s);
		memcpy(buf + o, name + s, e - s);
		o += e - s;
		s = e + 1;
	}
	buf[o++] = 0;
	buf[o++] = 0;
	buf[o++] = 1; /* QTYPE A */
	buf[o++] = 0;
	buf[o++] = 1; /* QCLASS IN */
	return (int)o;
}

/* Step over a (possibly compressed) name at *o. 0 or -EPROTO. */
static int skip_name(const uint8_t *buf, size_t len, size_t *o)
{
	for (int labels = 0; labels < 128; labels++) {
		if (*o >= len)
			return -EPROTO;
		uint8_t l = buf[*o];
		if ((l & 0xc0) == 0xc0) { /* a pointer ends the name here */
			if (*o + 2 > len)
				return -EPROTO;
			*o += 2;
			return 0;
		}
		if (l & 0xc0)
			return -EPROTO;
		*o += 1 + (size_t)l;
		if (!l)
			return 0;
	}
	return -EPROTO;
}

int seed_dns_answer(const uint8_t *buf, size_t len, uint16_t id, uint32_t *addr)
{
	if (len < 12 || buf[0] != (uint8_t)(id >> 8) || buf[1] != (uint8_t)id || !(buf[2] & 0x80))
		return -EPROTO;
	int rcode = buf[3] & 0x0f;
	if (rcode == 3)
		return -ENOENT; /* NXDOMAIN */
	if (rcode)
		return -EPROTO;
	unsigned qd = (unsigned)buf[4] << 8 | buf[5], an = (unsigned)buf[6] << 8 | buf[7];
	size_t o = 12;
	for (unsigned i = 0; i < qd; i++) {
		if (skip_name(buf, len, &o) < 0 || o + 4 > len)
			return -EPROTO;
		o += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		if (skip_name(buf, len, &o) < 0 || o + 10 > len)
			return -EPROTO;
		unsigned type = (unsigned)buf[o] << 8 | buf[o + 1], cls = (unsigned)buf[o + 2] << 8 | buf[o + 3];
		size_t rdlen = (size_t)buf[o + 8] << 8 | buf[o + 9];
		o += 10;
		if (o + rdlen > len)
			return -EPROTO;
		if (type == 1 && cls == 1 && rdlen == 4) { /* CNAMEs before it are skipped */
			memcpy(addr, buf + o, 4);
			return 0;
		}
		o += rdlen;
	}
	return -ENOENT;
}
