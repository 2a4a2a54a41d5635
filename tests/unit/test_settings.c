/* vmm/api/settings.c: the settings file and PUT /api/settings body, and
 * initramfs/net_settings.c, PID 1's reader (without sethostname: a file
 * with a hostname would need root, so the loader is run on one that fails
 * before it). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/settings.h"
#include "check.h"
#include "net_settings.h"

static char why[512];

static int parse(const char *text, bool need_version, struct settings *s)
{
	settings_default(s);
	why[0] = '\0';
	return settings_parse(text, strlen(text), need_version, s, why, sizeof(why));
}

static uint32_t ip(const char *a)
{
	struct in_addr x;
	inet_pton(AF_INET, a, &x);
	return x.s_addr;
}

/* Refused with -EINVAL and a message that names the field. */
static int refused(const char *text, const char *field)
{
	struct settings s;
	int r = parse(text, false, &s);
	if (r != -EINVAL || !strstr(why, field)) {
		printf("# %s: r=%d why=%s\n", text, r, why);
		return 0;
	}
	return 1;
}

int main(void)
{
	struct settings s;
	char buf[SETTINGS_JSON_MAX];

	settings_default(&s);
	CHECK("default_dhcp", !s.net_static && !strcmp(s.hostname, "kvmbox"));

	CHECK("dhcp", parse("{\"version\":1,\"network\":{\"mode\":\"dhcp\"},\"hostname\":\"box-1\"}", true, &s) == 0 &&
		      !s.net_static && !strcmp(s.hostname, "box-1"));
	CHECK("static", parse("{\"version\":1,\"network\":{\"mode\":\"static\",\"address\":\"192.168.1.10/24\","
			      "\"gateway\":\"192.168.1.1\",\"dns\":[\"192.168.1.1\",\"9.9.9.9\"]},\"hostname\":\"kvmbox\"}",
			      true, &s) == 0 &&
			s.net_static && s.addr == ip("192.168.1.10") && s.prefix == 24 && s.gw == ip("192.168.1.1") &&
			s.ndns == 2 && s.dns[1] == ip("9.9.9.9"));
	CHECK("static_no_gateway_no_dns",
	      parse("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/8\"}}", false, &s) == 0 && s.gw == 0 &&
		      s.ndns == 0 && s.prefix == 8);
	CHECK("slash32", parse("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/32\"}}", false, &s) == 0);

	/* Round trip: what settings_format writes, settings_parse reads back. */
	parse("{\"network\":{\"mode\":\"static\",\"address\":\"172.16.3.4/20\",\"gateway\":\"172.16.0.1\","
	      "\"dns\":[\"1.1.1.1\"]},\"hostname\":\"a.b-c\"}", false, &s);
	int n = settings_format(&s, buf, sizeof(buf));
	struct settings back;
	settings_default(&back);
	CHECK("format_roundtrip", n > 0 && settings_parse(buf, (size_t)n, true, &back, why, sizeof(why)) == 0 &&
					  back.addr == s.addr && back.prefix == 20 && back.gw == s.gw &&
					  back.ndns == 1 && !strcmp(back.hostname, "a.b-c"));
	CHECK("format_text", strstr(buf, "\"version\":1") && strstr(buf, "\"address\":\"172.16.3.4/20\""));
	CHECK("format_small_buffer", settings_format(&s, buf, 16) == -ENOSPC);

	/* A partial body keeps what it does not name. */
	settings_default(&s);
	snprintf(s.hostname, sizeof(s.hostname), "old");
	CHECK("partial_keeps_hostname", settings_parse("{\"network\":{\"mode\":\"dhcp\"}}", 27, false, &s, why,
						       sizeof(why)) == 0 && !strcmp(s.hostname, "old"));
	s.net_static = true;
	s.addr = ip("10.1.1.1");
	s.prefix = 24;
	CHECK("partial_keeps_network", settings_parse("{\"hostname\":\"new\"}", 18, false, &s, why, sizeof(why)) == 0 &&
					       s.net_static && s.addr == ip("10.1.1.1") && !strcmp(s.hostname, "new"));
	struct settings before = s;
	CHECK("error_leaves_unchanged", settings_parse("{\"hostname\":\"-bad\"}", 19, false, &s, why, sizeof(why)) ==
						-EINVAL && before.addr == s.addr && !strcmp(before.hostname, s.hostname));

	/* Versions. */
	CHECK("version_needed_in_file", parse("{\"hostname\":\"a\"}", true, &s) == -EINVAL && strstr(why, "version"));
	CHECK("version_newer", parse("{\"version\":2,\"whatever\":[]}", true, &s) == -EPROTONOSUPPORT &&
				       strstr(why, "version 2") && strstr(why, "newer"));
	CHECK("version_zero", refused("{\"version\":0}", "version"));
	CHECK("version_string", refused("{\"version\":\"1\"}", "version"));

	/* Refusals name the field. */
	CHECK("not_json", refused("{\"network\":", "JSON"));
	CHECK("not_object", refused("[1]", "object"));
	CHECK("unknown_top", refused("{\"hostnam\":\"x\"}", "hostnam"));
	CHECK("network_not_object", refused("{\"network\":\"dhcp\"}", "network"));
	CHECK("mode_missing", refused("{\"network\":{}}", "network.mode"));
	CHECK("mode_bad", refused("{\"network\":{\"mode\":\"auto\"}}", "network.mode"));
	CHECK("dhcp_extra_key", refused("{\"network\":{\"mode\":\"dhcp\",\"address\":\"1.2.3.4/24\"}}", "address"));
	CHECK("static_unknown_key",
	      refused("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.2/24\",\"gw\":\"10.0.0.1\"}}", "gw"));
	CHECK("address_missing", refused("{\"network\":{\"mode\":\"static\"}}", "network.address"));
	static const char *const bad_addr[] = {
		"192.168.1.10", "192.168.1.10/", "192.168.1.10/33", "192.168.1.10/0", "192.168.1.10/024",
		"192.168.1/24", "192.168.1.256/24", "a.b.c.d/24", "192.168.1.10/2a", "192.168.1.10/24/1",
		"0.0.0.1/8", "127.0.0.1/8", "224.0.0.1/4", "255.255.255.255/32", "192.168.1.0/24",
		"192.168.1.255/24", " 192.168.1.10/24", "",
	};
	for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
		char text[160], name[64];
		snprintf(text, sizeof(text), "{\"network\":{\"mode\":\"static\",\"address\":\"%s\"}}", bad_addr[i]);
		snprintf(name, sizeof(name), "address_bad_%zu", i);
		CHECK(name, refused(text, "network.address"));
	}
	CHECK("address_number", refused("{\"network\":{\"mode\":\"static\",\"address\":10}}", "network.address"));
	static const char *const bad_gw[] = { "192.168.2.1", "192.168.1.10", "192.168.1.0", "192.168.1.255",
					      "192.168.1", "::1", "127.0.0.1" };
	for (size_t i = 0; i < sizeof(bad_gw) / sizeof(bad_gw[0]); i++) {
		char text[200], name[64];
		snprintf(text, sizeof(text), "{\"network\":{\"mode\":\"static\",\"address\":\"192.168.1.10/24\","
			 "\"gateway\":\"%s\"}}", bad_gw[i]);
		snprintf(name, sizeof(name), "gateway_bad_%zu", i);
		CHECK(name, refused(text, "network.gateway"));
	}
	CHECK("gateway_outside_says_subnet",
	      refused("{\"network\":{\"mode\":\"static\",\"address\":\"192.168.1.10/24\",\"gateway\":\"10.0.0.1\"}}",
		      "outside the subnet 192.168.1.0/24"));
	CHECK("gateway_slash32", refused("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/32\","
					 "\"gateway\":\"10.0.0.1\"}}", "network.gateway"));
	CHECK("gateway_empty_ok", parse("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/24\","
					"\"gateway\":\"\"}}", false, &s) == 0 && s.gw == 0);
	CHECK("dns_not_list", refused("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/24\",\"dns\":\"1.1.1.1\"}}",
				      "network.dns"));
	CHECK("dns_too_many", refused("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/24\","
				      "\"dns\":[\"1.1.1.1\",\"1.0.0.1\",\"8.8.8.8\"]}}", "network.dns"));
	CHECK("dns_bad", refused("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/24\","
				 "\"dns\":[\"1.1.1.1\",\"dns.example\"]}}", "network.dns[1]"));
	CHECK("dns_number", refused("{\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/24\",\"dns\":[1]}}",
				    "network.dns[0]"));

	/* Host names: RFC 1123. */
	static const char *const good_host[] = { "kvmbox", "a", "KVM-box-01", "host.example.com", "1box", "9" };
	static const char *const bad_host[] = { "", "-a", "a-", "a..b", ".a", "a.", "a_b", "a b", "ä",
						"a.-b", "a-.b",
						"a123456789012345678901234567890123456789012345678901234567890123" };
	for (size_t i = 0; i < sizeof(good_host) / sizeof(good_host[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "hostname_ok_%s", good_host[i]);
		CHECK(name, settings_hostname_ok(good_host[i]));
	}
	for (size_t i = 0; i < sizeof(bad_host) / sizeof(bad_host[0]); i++) {
		char text[200], name[64];
		snprintf(name, sizeof(name), "hostname_bad_%zu", i);
		CHECK(name, !settings_hostname_ok(bad_host[i]));
		snprintf(text, sizeof(text), "{\"hostname\":\"%s\"}", bad_host[i]);
		snprintf(name, sizeof(name), "hostname_refused_%zu", i);
		CHECK(name, refused(text, "hostname"));
	}
	CHECK("hostname_63_ok", settings_hostname_ok("a12345678901234567890123456789012345678901234567890123456789012"));
	CHECK("hostname_not_string", refused("{\"hostname\":null}", "hostname"));

	/* PID 1's loader: no file is 0, a bad one is an error naming the
	 * path, a newer one too; out is left alone. */
	char dir[] = "/tmp/test_settings.XXXXXX";
	CHECK("mkdtemp", mkdtemp(dir) != NULL);
	struct net_config cfg = { .mode = NET_DHCP };
	CHECK("load_none", net_settings_load(dir, &cfg, why, sizeof(why)) == 0 && cfg.mode == NET_DHCP);
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, SETTINGS_FILE);
	FILE *f = fopen(path, "w");
	fputs("{\"version\":2,\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/24\"}}", f);
	fclose(f);
	CHECK("load_newer", net_settings_load(dir, &cfg, why, sizeof(why)) == -EPROTONOSUPPORT &&
				    strstr(why, path) && cfg.mode == NET_DHCP);
	f = fopen(path, "w");
	fputs("{\"version\":1,\"network\":{\"mode\":\"static\",\"address\":\"10.0.0.5/40\"}}", f);
	fclose(f);
	CHECK("load_bad", net_settings_load(dir, &cfg, why, sizeof(why)) == -EINVAL && strstr(why, "network.address") &&
				  cfg.mode == NET_DHCP);
	f = fopen(path, "w");
	for (int i = 0; i < SETTINGS_MAX_BYTES + 10; i++)
		fputc(' ', f);
	fclose(f);
	CHECK("load_too_big", net_settings_load(dir, &cfg, why, sizeof(why)) == -EFBIG);
	unlink(path);
	rmdir(dir);
	return CHECK_DONE();
}
