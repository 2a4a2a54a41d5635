/* The network settings on the kernel command line.
 *
 * ip= takes the kernel's own syntax (Documentation/admin-guide/nfs/
 * nfsroot.rst), which PXE setups already write: the kernel's own IP
 * autoconfiguration is not built in, so this is the one reader of it.
 * kvmbox.bridge= names the management bridge, or turns it off.
 * Whoever controls the boot loader or PXE server writes these: every field
 * is checked, and a bad one is an error that names it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "net.h"

static int valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (!n || n >= NET_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

/* Field i (0-based) of a ':'-separated list into out; "" when absent. */
static void field(const char *s, int i, char *out, size_t size)
{
	for (; i > 0 && s; i--) {
		s = strchr(s, ':');
		if (s)
			s++;
	}
	out[0] = '\0';
	if (!s)
		return;
	size_t n = strcspn(s, ":");
	if (n >= size)
		n = size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static int parse_ip4(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = a.s_addr;
	return 0;
}

static int mask_prefix(uint32_t mask_be)
{
	uint32_t m = ntohl(mask_be);
	if (~m & (~m + 1)) /* not contiguous ones */
		return -1;
	int n = 0;
	while (m & 0x80000000u) {
		n++;
		m <<= 1;
	}
	return n;
}

int net_config_parse(const char *cmdline, struct net_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = NET_DHCP;
	snprintf(cfg->bridge, sizeof(cfg->bridge), "%s", NET_BRIDGE_DEFAULT);
	char v[256];
	int r = cmdline_get(cmdline, "kvmbox.bridge", v, sizeof(v));
	if (r == 1) {
		if (!strcmp(v, "none"))
			cfg->bridge[0] = '\0';
		else if (valid_ifname(v))
			snprintf(cfg->bridge, sizeof(cfg->bridge), "%.15s", v); /* valid_ifname: fits */
		else {
			snprintf(err, errlen, "kvmbox.bridge=%.40s is not an interface name", v);
			return -EINVAL;
		}
	}
	r = cmdline_get(cmdline, "ip", v, sizeof(v));
	if (r < 0) {
		snprintf(err, errlen, "ip= is too long");
		return -EINVAL;
	}
	if (r == 0 || !strcmp(v, "dhcp") || !strcmp(v, "on") || !strcmp(v, "any") || !strcmp(v, "both"))
		return 0;
	if (!strcmp(v, "off") || !strcmp(v, "none")) {
		cfg->mode = NET_OFF;
		return 0;
	}
	char f[64];
	field(v, 5, f, sizeof(f)); /* device */
	if (f[0]) {
		if (!valid_ifname(f)) {
			snprintf(err, errlen, "ip=: device '%.40s' is not an interface name", f);
			return -EINVAL;
		}
		snprintf(cfg->iface, sizeof(cfg->iface), "%.15s", f); /* valid_ifname: fits */
	}
	field(v, 4, cfg->hostname, sizeof(cfg->hostname));
	char autoconf[16];
	field(v, 6, autoconf, sizeof(autoconf));
	field(v, 0, f, sizeof(f)); /* client address */
	if (!strcmp(autoconf, "dhcp") || !strcmp(autoconf, "on") || !strcmp(autoconf, "any") ||
	    !strcmp(autoconf, "both") || (!f[0] && !autoconf[0]))
		return 0;
	if (!f[0]) {
		if (!strcmp(autoconf, "off") || !strcmp(autoconf, "none")) {
			cfg->mode = NET_OFF;
			return 0;
		}
		snprintf(err, errlen, "ip=: autoconf '%.16s' is not dhcp, on, any, off or none", autoconf);
		return -EINVAL;
	}
	cfg->mode = NET_STATIC;
	if (parse_ip4(f, &cfg->addr) < 0) {
		snprintf(err, errlen, "ip=: '%.40s' is not an IPv4 address", f);
		return -EINVAL;
	}
	field(v, 3, f, sizeof(f)); /* netmask, or /prefix-less default */
	cfg->prefix = 24;
	if (f[0]) {
		uint32_t m;
		if (parse_ip4(f, &m) < 0 || (cfg->prefix = mask_prefix(m)) < 1) {
			snprintf(err, errlen, "ip=: '%.40s' is not a netmask", f);
			return -EINVAL;
		}
	}
	field(v, 2, f, sizeof(f)); /* gateway */
	if (f[0] && parse_ip4(f, &cfg->gw) < 0) {
		snprintf(err, errlen, "ip=: gateway '%.40s' is not an IPv4 address", f);
		return -EINVAL;
	}
	for (int i = 0; i < 2; i++) {
		field(v, 7 + i, f, sizeof(f));
		if (f[0] && parse_ip4(f, &cfg->dns[i]) < 0) {
			snprintf(err, errlen, "ip=: DNS server '%.40s' is not an IPv4 address", f);
			return -EINVAL;
		}
	}
	return 0;
}
