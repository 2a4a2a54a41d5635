/* The settings file and PUT /api/settings body: parse, check, write. See
 * settings.h. Every refusal names the field, so that a person can fix it. */
#include "api/settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

void settings_default(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->hostname, sizeof(s->hostname), "kvmbox");
}

bool settings_hostname_ok(const char *name)
{
	size_t n = strlen(name), label = 0;
	if (!n || n > SETTINGS_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '.') {
			if (!label || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (c != '-' || !label))
			return false;
		label++;
	}
	return label && name[n - 1] != '-';
}

/* Dotted quad only: inet_pton's strictness (exactly four parts, no hex). */
static int parse_ip4(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

/* An address a host can have: not 0.0.0.0/8, loopback, multicast or the
 * reserved/broadcast range at the top. */
static bool unicast(uint32_t be)
{
	uint32_t a = ntohl(be);
	return (a >> 24) != 0 && (a >> 24) != 127 && a < 0xe0000000u;
}

static uint32_t mask_of(int prefix)
{
	return prefix ? htonl(0xffffffffu << (32 - prefix)) : 0;
}

/* The string member key of object obj (with key NULL: the token obj
 * itself) into buf; -ENOENT when absent. */
static int get_str(const struct json_doc *d, int obj, const char *key, const char *field, char *buf,
		   size_t size, char *why, size_t why_size)
{
	int i = key ? json_get(d, obj, key) : obj;
	if (i < 0)
		return -ENOENT;
	int r = json_get_string(d, i, buf, size);
	if (r >= 0)
		return 0;
	if (r == -ENOSPC)
		snprintf(why, why_size, "%s is too long (at most %zu characters)", field, size - 1);
	else
		snprintf(why, why_size, "%s must be a string", field);
	return -EINVAL;
}

/* Members of obj other than the allowed ones are mistakes (a typo would
 * otherwise be ignored in silence): name the first. */
static int only_keys(const struct json_doc *d, int obj, const char *const *allowed, const char *where, char *why,
		     size_t why_size)
{
	struct json_iter it;
	int k, v;
	json_iter_init(&it, d, obj);
	while (json_iter_next(&it, &k, &v)) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = json_streq(d, k, *a);
		if (!ok) {
			char name[40];
			if (json_get_string(d, k, name, sizeof(name)) < 0)
				snprintf(name, sizeof(name), "(a long name)");
			snprintf(why, why_size, "%s\"%s\" is not a setting this kvmbox knows", where, name);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_address(const char *text, struct settings *s, char *why, size_t why_size)
{
	char ip[20];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : 0;
	int prefix = 0;
	bool ok = slash && n < sizeof(ip) && slash[1] && strlen(slash + 1) <= 2;
	for (const char *p = slash ? slash + 1 : ""; ok && *p; p++) {
		ok = *p >= '0' && *p <= '9';
		prefix = prefix * 10 + (*p - '0');
	}
	if (ok) {
		memcpy(ip, text, n);
		ip[n] = '\0';
		ok = parse_ip4(ip, &s->addr) == 0;
	}
	if (!ok) {
		snprintf(why, why_size, "network.address \"%.40s\" is not an IPv4 address with a prefix length, "
			 "like 192.168.1.10/24", text);
		return -EINVAL;
	}
	if (prefix < 1 || prefix > 32 || (slash[1] == '0' && slash[2])) {
		snprintf(why, why_size, "network.address: the prefix length /%.3s must be 1 to 32", slash + 1);
		return -EINVAL;
	}
	s->prefix = prefix;
	uint32_t host = s->addr & ~mask_of(prefix);
	if (!unicast(s->addr) || (prefix <= 30 && (host == 0 || host == ~mask_of(prefix)))) {
		snprintf(why, why_size, "network.address %.40s cannot be a host's address (it is %s)", text,
			 !unicast(s->addr) ? "reserved, loopback or multicast" :
			 host ? "the subnet's broadcast address" : "the subnet's own address");
		return -EINVAL;
	}
	return 0;
}

static int parse_gateway(const struct json_doc *d, int net, struct settings *s, char *why, size_t why_size)
{
	char gw[64];
	int r = get_str(d, net, "gateway", "network.gateway", gw, sizeof(gw), why, why_size);
	if (r == -ENOENT || (r == 0 && !gw[0])) /* a network with no way out is allowed */
		return 0;
	if (r)
		return r;
	if (parse_ip4(gw, &s->gw) || !unicast(s->gw)) {
		snprintf(why, why_size, "network.gateway \"%.40s\" is not an IPv4 host address", gw);
		return -EINVAL;
	}
	uint32_t m = mask_of(s->prefix), host = s->gw & ~m;
	char net_text[INET_ADDRSTRLEN];
	struct in_addr na = { .s_addr = s->addr & m };
	inet_ntop(AF_INET, &na, net_text, sizeof(net_text));
	if ((s->gw & m) != (s->addr & m) || s->prefix == 32) {
		snprintf(why, why_size, "network.gateway %s is outside the subnet %s/%d of network.address", gw,
			 net_text, s->prefix);
		return -EINVAL;
	}
	if (s->gw == s->addr || (s->prefix <= 30 && (host == 0 || host == ~m))) {
		snprintf(why, why_size, "network.gateway %s cannot be %s", gw,
			 s->gw == s->addr ? "the appliance's own address" : "the subnet's own or broadcast address");
		return -EINVAL;
	}
	return 0;
}

static int parse_dns(const struct json_doc *d, int net, struct settings *s, char *why, size_t why_size)
{
	int arr = json_get(d, net, "dns");
	if (arr < 0)
		return 0;
	int n = json_array_len(d, arr);
	if (n < 0) {
		snprintf(why, why_size, "network.dns must be a list of IPv4 addresses, like [\"192.168.1.1\"]");
		return -EINVAL;
	}
	if (n > SETTINGS_DNS_MAX) {
		snprintf(why, why_size, "network.dns has %d servers; at most %d are used", n, SETTINGS_DNS_MAX);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		char a[64];
		char field[24];
		snprintf(field, sizeof(field), "network.dns[%d]", i);
		int r = get_str(d, json_array_at(d, arr, i), NULL, field, a, sizeof(a), why, why_size);
		if (r)
			return r;
		if (parse_ip4(a, &s->dns[i]) || !unicast(s->dns[i])) {
			snprintf(why, why_size, "%s \"%.40s\" is not an IPv4 host address", field, a);
			return -EINVAL;
		}
	}
	s->ndns = n;
	return 0;
}

static int parse_network(const struct json_doc *d, int net, struct settings *s, char *why, size_t why_size)
{
	static const char *const dhcp_keys[] = { "mode", NULL };
	static const char *const static_keys[] = { "mode", "address", "gateway", "dns", NULL };
	char mode[16], addr[64];
	if (json_type(d, net) != JSON_OBJECT) {
		snprintf(why, why_size, "network must be an object, like {\"mode\": \"dhcp\"}");
		return -EINVAL;
	}
	int r = get_str(d, net, "mode", "network.mode", mode, sizeof(mode), why, why_size);
	if (r == -ENOENT || (!r && strcmp(mode, "dhcp") && strcmp(mode, "static"))) {
		snprintf(why, why_size, "network.mode must be \"dhcp\" or \"static\"");
		return -EINVAL;
	}
	if (r)
		return r;
	s->net_static = !strcmp(mode, "static");
	s->addr = s->gw = 0;
	s->prefix = s->ndns = 0;
	memset(s->dns, 0, sizeof(s->dns));
	if (!s->net_static)
		return only_keys(d, net, dhcp_keys, "network (mode dhcp): ", why, why_size);
	if ((r = only_keys(d, net, static_keys, "network: ", why, why_size)))
		return r;
	r = get_str(d, net, "address", "network.address", addr, sizeof(addr), why, why_size);
	if (r == -ENOENT) {
		snprintf(why, why_size, "network.address is missing; a static network needs one, like 192.168.1.10/24");
		return -EINVAL;
	}
	if (r || (r = parse_address(addr, s, why, why_size)) || (r = parse_gateway(d, net, s, why, why_size)))
		return r;
	return parse_dns(d, net, s, why, why_size);
}

int settings_parse(const char *text, size_t len, bool need_version, struct settings *s, char *why, size_t why_size)
{
	static const char *const top_keys[] = { "version", "network", "hostname", NULL };
	struct json_token tok[SETTINGS_MAX_TOKENS];
	struct json_doc d;
	struct json_error je;
	struct settings n = *s;
	char msg[128];
	if (json_parse(&d, text, len, SETTINGS_MAX_BYTES, tok, SETTINGS_MAX_TOKENS, &je)) {
		json_error_format(&je, msg, sizeof(msg));
		snprintf(why, why_size, "not valid JSON (at most %d bytes): %s", SETTINGS_MAX_BYTES, msg);
		return -EINVAL;
	}
	if (json_type(&d, 0) != JSON_OBJECT) {
		snprintf(why, why_size, "the settings must be a JSON object");
		return -EINVAL;
	}
	int v = json_get(&d, 0, "version");
	int64_t version;
	if (v < 0 && need_version) {
		snprintf(why, why_size, "version is missing (this kvmbox writes version %d)", SETTINGS_VERSION);
		return -EINVAL;
	}
	if (v >= 0) {
		if (json_get_int64(&d, v, &version) || version < 1) {
			snprintf(why, why_size, "version must be a whole number, %d for this kvmbox", SETTINGS_VERSION);
			return -EINVAL;
		}
		/* Checked before the other keys: a newer file may have members we
		 * do not know, and must be refused for its version, not for them. */
		if (version > SETTINGS_VERSION) {
			snprintf(why, why_size, "version %lld is newer than this kvmbox understands (%d); "
				 "a newer kvmbox wrote it", (long long)version, SETTINGS_VERSION);
			return -EPROTONOSUPPORT;
		}
	}
	int r = only_keys(&d, 0, top_keys, "", why, why_size);
	if (r)
		return r;
	int net = json_get(&d, 0, "network");
	if (net >= 0 && (r = parse_network(&d, net, &n, why, why_size)))
		return r;
	r = get_str(&d, 0, "hostname", "hostname", n.hostname, sizeof(n.hostname), why, why_size);
	if (r == -EINVAL) {
		if (strstr(why, "too long")) /* say what it may be, not just the length */
			snprintf(why, why_size, "hostname is longer than %d characters", SETTINGS_HOSTNAME_MAX);
		return r;
	}
	if (!r && !settings_hostname_ok(n.hostname)) {
		snprintf(why, why_size, "hostname \"%.63s\" is not a valid host name (RFC 1123: letters, digits and "
			 "'-', in dot-separated parts that do not start or end with '-')", n.hostname);
		return -EINVAL;
	}
	*s = n;
	return 0;
}

int settings_format(const struct settings *s, char *buf, size_t size)
{
	struct json_writer w;
	char a[INET_ADDRSTRLEN + 4];
	json_w_init(&w, buf, size);
	json_w_begin_object(&w);
	json_w_key(&w, "version");
	json_w_int(&w, SETTINGS_VERSION);
	json_w_key(&w, "network");
	json_w_begin_object(&w);
	json_w_key(&w, "mode");
	json_w_string(&w, s->net_static ? "static" : "dhcp");
	if (s->net_static) {
		struct in_addr ia = { .s_addr = s->addr };
		inet_ntop(AF_INET, &ia, a, INET_ADDRSTRLEN);
		snprintf(a + strlen(a), 4, "/%d", s->prefix);
		json_w_key(&w, "address");
		json_w_string(&w, a);
		if (s->gw) {
			ia.s_addr = s->gw;
			json_w_key(&w, "gateway");
			json_w_string(&w, inet_ntop(AF_INET, &ia, a, sizeof(a)));
		}
		json_w_key(&w, "dns");
		json_w_begin_array(&w);
		for (int i = 0; i < s->ndns && i < SETTINGS_DNS_MAX; i++) {
			ia.s_addr = s->dns[i];
			json_w_string(&w, inet_ntop(AF_INET, &ia, a, sizeof(a)));
		}
		json_w_end(&w);
	}
	json_w_end(&w);
	json_w_key(&w, "hostname");
	json_w_string(&w, s->hostname);
	json_w_end(&w);
	int r = json_w_finish(&w);
	return r ? -ENOSPC : (int)w.len;
}
