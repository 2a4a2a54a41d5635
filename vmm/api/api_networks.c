/* GET /api/networks: the host's interfaces, its default route and DNS
 * servers, read fresh from /sys/class/net, getifaddrs() (netlink) and /proc
 * on each request. Like GET /api/host, what cannot be read is null or left
 * out rather than an error. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "net.h" /* NET_BRIDGE_DEFAULT, the management bridge PID 1 makes */

#define NET_JSON_MAX (64 * 1024)
#define NET_MAX_IFACES 64

/* One line of /sys/class/net/NAME/FILE, without its newline; "" if none. */
static bool sys_read(const char *name, const char *file, char *buf, size_t size)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, file);
	buf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static int prefix_len(const struct sockaddr *mask)
{
	const unsigned char *p;
	size_t n;
	if (!mask)
		return -1;
	if (mask->sa_family == AF_INET) {
		p = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
		n = 4;
	} else {
		p = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
		n = 16;
	}
	int bits = 0;
	for (size_t i = 0; i < n; i++)
		bits += __builtin_popcount(p[i]);
	return bits;
}

static void w_addresses(struct json_writer *w, const char *name, struct ifaddrs *all)
{
	json_w_key(w, "addresses");
	json_w_begin_array(w);
	for (struct ifaddrs *i = all; i; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, name))
			continue;
		int fam = i->ifa_addr->sa_family;
		char a[INET6_ADDRSTRLEN];
		if (fam == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
		else if (fam == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, sizeof(a));
		else
			continue;
		json_w_begin_object(w);
		json_w_key(w, "family");
		json_w_string(w, fam == AF_INET ? "ipv4" : "ipv6");
		json_w_key(w, "address");
		json_w_string(w, a);
		json_w_key(w, "prefix");
		json_w_int(w, prefix_len(i->ifa_netmask));
		json_w_end(w);
	}
	json_w_end(w);
}

/* The interfaces in /sys/class/net/NAME/brif: a bridge's ports. */
static void w_members(struct json_writer *w, const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/net/%s/brif", name);
	json_w_key(w, "members");
	json_w_begin_array(w);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			json_w_string(w, e->d_name);
	if (d)
		closedir(d);
	json_w_end(w);
}

static void w_iface(struct json_writer *w, const char *name, struct ifaddrs *all)
{
	char v[64], path[128], link[256];
	json_w_begin_object(w);
	json_w_key(w, "name");
	json_w_string(w, name);
	json_w_key(w, "mac");
	if (sys_read(name, "address", v, sizeof(v)) && v[0])
		json_w_string(w, v);
	else
		json_w_null(w);
	json_w_key(w, "state");
	unsigned long flags = sys_read(name, "flags", v, sizeof(v)) ? strtoul(v, NULL, 0) : 0;
	json_w_string(w, flags & IFF_UP ? "up" : "down");
	/* carrier cannot be read while the interface is down: then it has none. */
	json_w_key(w, "carrier");
	json_w_bool(w, sys_read(name, "carrier", v, sizeof(v)) && !strcmp(v, "1"));
	json_w_key(w, "mtu");
	if (sys_read(name, "mtu", v, sizeof(v)))
		json_w_int(w, strtol(v, NULL, 10));
	else
		json_w_null(w);
	w_addresses(w, name, all);
	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", name);
	bool bridge = access(path, F_OK) == 0;
	json_w_key(w, "bridge");
	json_w_bool(w, bridge);
	if (bridge)
		w_members(w, name);
	json_w_key(w, "master"); /* the bridge this one is a port of */
	snprintf(path, sizeof(path), "/sys/class/net/%s/master", name);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		const char *base = strrchr(link, '/');
		json_w_string(w, base ? base + 1 : link);
	} else {
		json_w_null(w);
	}
	json_w_key(w, "management");
	json_w_bool(w, bridge && !strcmp(name, NET_BRIDGE_DEFAULT));
	json_w_end(w);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void w_interfaces(struct json_writer *w)
{
	static char names[NET_MAX_IFACES][IF_NAMESIZE + 1];
	char *order[NET_MAX_IFACES];
	int n = 0;
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	while (d && n < NET_MAX_IFACES && (e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(e->d_name) <= IF_NAMESIZE) {
			snprintf(names[n], sizeof(names[n]), "%s", e->d_name);
			order[n] = names[n];
			n++;
		}
	if (d)
		closedir(d);
	qsort(order, (size_t)n, sizeof(order[0]), name_cmp);
	struct ifaddrs *all = NULL;
	if (getifaddrs(&all))
		all = NULL;
	json_w_key(w, "interfaces");
	json_w_begin_array(w);
	for (int i = 0; i < n; i++)
		w_iface(w, order[i], all);
	json_w_end(w);
	if (all)
		freeifaddrs(all);
}

/* The IPv4 default route from /proc/net/route (hex, host-endian words). */
static void w_default_route(struct json_writer *w)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifname[IF_NAMESIZE + 1];
	unsigned dst, gw, flags, mask;
	bool found = false;
	json_w_key(w, "default_route");
	if (f && fgets(line, sizeof(line), f)) { /* the header */
		while (!found && fgets(line, sizeof(line), f))
			if (sscanf(line, "%16s %x %x %x %*d %*d %*d %x", ifname, &dst, &gw, &flags, &mask) == 5 &&
			    dst == 0 && mask == 0 && (flags & 1 /* RTF_UP */)) {
				char a[INET_ADDRSTRLEN];
				struct in_addr ia = { .s_addr = gw };
				json_w_begin_object(w);
				json_w_key(w, "gateway");
				if (gw)
					json_w_string(w, inet_ntop(AF_INET, &ia, a, sizeof(a)));
				else
					json_w_null(w);
				json_w_key(w, "interface");
				json_w_string(w, ifname);
				json_w_end(w);
				found = true;
			}
	}
	if (f)
		fclose(f);
	if (!found)
		json_w_null(w);
}

/* "nameserver" lines of /etc/resolv.conf, which PID 1 writes. */
static void w_dns(struct json_writer *w)
{
	FILE *f = fopen("/etc/resolv.conf", "re");
	char line[256], a[64];
	json_w_key(w, "dns");
	json_w_begin_array(w);
	for (int n = 0; f && n < 64 && fgets(line, sizeof(line), f); n++) {
		struct in6_addr tmp;
		if (sscanf(line, " nameserver %63s", a) == 1 &&
		    (inet_pton(AF_INET, a, &tmp) == 1 || inet_pton(AF_INET6, a, &tmp) == 1))
			json_w_string(w, a);
	}
	if (f)
		fclose(f);
	json_w_end(w);
}

void api_networks_get(const struct http_request *req, const struct http_params *params,
		      struct http_response *resp, void *ctx)
{
	(void)req;
	(void)params;
	(void)ctx;
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, NET_JSON_MAX)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	w_interfaces(&w);
	w_default_route(&w);
	w_dns(&w);
	json_w_end(&w);
	http_resp_json_end(resp, &w, 200);
}
