/* `--net user,...` settings: parsing and checks (see usernet_config.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usernet/usernet_config.h"

void usernet_config_defaults(struct usernet_config *c)
{
	memset(c, 0, sizeof(*c));
	c->net = 0x0a000200;   /* 10.0.2.0 */
	c->mask = 0xffffff00;
	c->host = c->net + 2;
	c->dns = c->net + 3;
	c->guest = c->net + 15;
}

/* Dotted quad, exactly four decimal parts of 0..255; no inet_aton
 * shorthands ("10.2"), which would surprise more than help. */
static int parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t a = 0;
	for (int i = 0; i < 4; i++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned v = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (v > 255 || digits > 3)
			return -EINVAL;
		a = a << 8 | v;
		if (i < 3 && *s++ != '.')
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	*out = a;
	return 0;
}

static int parse_port(const char *s, const char *end, uint16_t *out)
{
	unsigned v = 0;
	if (s == end || end - s > 5)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (!v || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* The addresses not given explicitly follow the network. */
static void config_follow_net(struct usernet_config *c)
{
	if (!(c->set & USERNET_SET_HOST))
		c->host = c->net + 2;
	if (!(c->set & USERNET_SET_DNS))
		c->dns = c->net + 3;
	if (!(c->set & USERNET_SET_GUEST))
		c->guest = c->net + 15;
}

static int config_set_net(struct usernet_config *c, const char *val, char *err, size_t errlen)
{
	char ip[16];
	const char *slash = strchr(val, '/');
	size_t iplen = slash ? (size_t)(slash - val) : strlen(val);
	uint32_t a;
	unsigned prefix = 24;
	if (iplen >= sizeof(ip))
		goto bad;
	memcpy(ip, val, iplen);
	ip[iplen] = '\0';
	if (parse_ipv4(ip, &a) < 0)
		goto bad;
	if (slash) {
		char *end;
		if (!slash[1] || slash[1] < '0' || slash[1] > '9')
			goto bad;
		unsigned long p = strtoul(slash + 1, &end, 10);
		if (*end || p > 32)
			goto bad;
		prefix = (unsigned)p;
	}
	/* Room for network, gateway, DNS, guest (.15 by default) and broadcast. */
	if (prefix < 8 || prefix > 27) {
		snprintf(err, errlen, "net '%s': the prefix must be /8 to /27", val);
		return -EINVAL;
	}
	c->mask = 0xffffffffu << (32 - prefix);
	if (a & ~c->mask) {
		snprintf(err, errlen, "net '%s' has host bits set", val);
		return -EINVAL;
	}
	c->net = a;
	config_follow_net(c);
	return 0;
bad:
	snprintf(err, errlen, "net '%s' is not a network such as 10.0.2.0/24", val);
	return -EINVAL;
}

static int config_add_fwd(struct usernet_config *c, const char *val, char *err, size_t errlen)
{
	struct usernet_hostfwd f;
	const char *p;
	if (!strncmp(val, "tcp:", 4)) {
		f.proto = IPPROTO_TCP;
	} else if (!strncmp(val, "udp:", 4)) {
		f.proto = IPPROTO_UDP;
	} else {
		snprintf(err, errlen, "hostfwd '%s' must start with tcp: or udp: (tcp:HOSTPORT:GUESTPORT)", val);
		return -EINVAL;
	}
	p = val + 4;
	const char *colon = strchr(p, ':');
	if (!colon || parse_port(p, colon, &f.host_port) < 0 ||
	    parse_port(colon + 1, colon + 1 + strlen(colon + 1), &f.guest_port) < 0) {
		snprintf(err, errlen, "hostfwd '%s' is not PROTO:HOSTPORT:GUESTPORT with ports 1 to 65535", val);
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->nfwd; i++)
		if (c->fwd[i].proto == f.proto && c->fwd[i].host_port == f.host_port) {
			snprintf(err, errlen, "hostfwd '%s': host port %u is forwarded twice", val, f.host_port);
			return -EINVAL;
		}
	if (c->nfwd >= USERNET_MAX_HOSTFWD) {
		snprintf(err, errlen, "too many hostfwd rules (at most %d)", USERNET_MAX_HOSTFWD);
		return -E2BIG;
	}
	c->fwd[c->nfwd++] = f;
	return 0;
}

int usernet_config_set(struct usernet_config *c, const char *key, const char *val, char *err, size_t errlen)
{
	if (!strcmp(key, "net"))
		return config_set_net(c, val, err, errlen);
	if (!strcmp(key, "host") || !strcmp(key, "dns") || !strcmp(key, "guest")) {
		uint32_t a;
		if (parse_ipv4(val, &a) < 0) {
			snprintf(err, errlen, "%s '%s' is not an IPv4 address such as 10.0.2.2", key, val);
			return -EINVAL;
		}
		if (key[0] == 'h') {
			c->host = a;
			c->set |= USERNET_SET_HOST;
		} else if (key[0] == 'd') {
			c->dns = a;
			c->set |= USERNET_SET_DNS;
		} else {
			c->guest = a;
			c->set |= USERNET_SET_GUEST;
		}
		return 0;
	}
	if (!strcmp(key, "restrict")) {
		if (!strcmp(val, "on") || !strcmp(val, "yes"))
			c->restricted = 1;
		else if (!strcmp(val, "off") || !strcmp(val, "no"))
			c->restricted = 0;
		else {
			snprintf(err, errlen, "restrict must be on or off, not '%s'", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "hostfwd"))
		return config_add_fwd(c, val, err, errlen);
	return -ENOENT;
}

static int config_addr_ok(const struct usernet_config *c, uint32_t a, const char *what, char *err, size_t errlen)
{
	if ((a & c->mask) != c->net || a == c->net || a == (c->net | ~c->mask)) {
		snprintf(err, errlen, "%s %u.%u.%u.%u is not a host address of the network %u.%u.%u.%u/%d", what,
			 a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255, c->net >> 24, c->net >> 16 & 255,
			 c->net >> 8 & 255, c->net & 255, __builtin_popcount(c->mask));
		return -EINVAL;
	}
	return 0;
}

int usernet_config_check(const struct usernet_config *c, char *err, size_t errlen)
{
	if (config_addr_ok(c, c->host, "host", err, errlen) < 0 || config_addr_ok(c, c->dns, "dns", err, errlen) < 0 ||
	    config_addr_ok(c, c->guest, "guest", err, errlen) < 0)
		return -EINVAL;
	if (c->host == c->dns || c->host == c->guest || c->dns == c->guest) {
		snprintf(err, errlen, "host, dns and guest must be three different addresses");
		return -EINVAL;
	}
	return 0;
}
