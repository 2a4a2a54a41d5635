/* kvmbox ctl: host, pci, logs and the raw `api` escape hatch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl/ctl.h"

#define API_BODY_MAX (16u << 20)

/* GET path; 0 with the reply parsed into j (free both), or an exit status.
 * With --json the reply is printed instead and *printed set. */
int ctl_get_json(struct ctl *c, const char *path, struct ctl_http_resp *resp, struct ctl_json *j, bool *printed)
{
	int r = ctl_api(c, "GET", path, NULL, resp);
	*printed = false;
	if (r)
		return r;
	if (c->json) {
		ctl_print_raw(resp);
		ctl_http_free(resp);
		*printed = true;
		return 0;
	}
	if (ctl_json_parse(j, resp->body, resp->body_len)) {
		ctl_http_free(resp);
		return CTL_EXIT_API;
	}
	return 0;
}

static void done_json(struct ctl_http_resp *resp, struct ctl_json *j)
{
	ctl_json_free(j);
	ctl_http_free(resp);
}

static int64_t jint(const struct json_doc *d, int obj, const char *key)
{
	int64_t v = -1;
	json_get_int64(d, json_get(d, obj, key), &v);
	return v;
}

int ctl_cmd_host(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage_error("usage: kvmbox ctl host");
	static struct ctl_http_resp resp;
	struct ctl_json j;
	bool printed;
	int r = ctl_get_json(c, "/api/host", &resp, &j, &printed);
	if (r || printed)
		return r;
	const struct json_doc *d = &j.d;
	char a[256], b[256];
	int cpu = json_get(d, 0, "cpu"), mem = json_get(d, 0, "memory"), st = json_get(d, 0, "state"),
	    tls = json_get(d, 0, "tls");
	printf("%-12s %s\n", "host", ctl_jtext(d, 0, "hostname", a, sizeof(a)));
	printf("%-12s %s\n", "version", ctl_jtext(d, 0, "version", a, sizeof(a)));
	printf("%-12s %s, %s CPUs\n", "cpu", ctl_jtext(d, cpu, "model", a, sizeof(a)),
	       ctl_jtext(d, cpu, "count", b, sizeof(b)));
	int64_t total = jint(d, mem, "total_bytes"), avail = jint(d, mem, "available_bytes");
	ctl_fmt_bytes(total < 0 ? 0 : (uint64_t)total, a, sizeof(a));
	ctl_fmt_bytes(avail < 0 ? 0 : (uint64_t)avail, b, sizeof(b));
	printf("%-12s %s total, %s available\n", "memory", total < 0 ? "?" : a, avail < 0 ? "?" : b);
	printf("%-12s %s\n", "kvm", ctl_jtext(d, 0, "kvm", a, sizeof(a)));
	printf("%-12s %s\n", "iommu", ctl_jtext(d, 0, "iommu", a, sizeof(a)));
	int64_t up = jint(d, 0, "uptime_s");
	if (up >= 0)
		ctl_fmt_duration((double)up, a, sizeof(a));
	printf("%-12s %s\n", "uptime", up >= 0 ? a : "-");
	bool persistent = false;
	json_get_bool(d, json_get(d, st, "persistent"), &persistent);
	printf("%-12s %s (%s)\n", "state", ctl_jtext(d, st, "dir", a, sizeof(a)),
	       persistent ? "persistent" : "in RAM: lost at power-off");
	printf("%-12s %s, SHA-256 %s\n", "certificate", ctl_jtext(d, tls, "certificate", a, sizeof(a)),
	       ctl_jtext(d, tls, "sha256_fingerprint", b, sizeof(b)));
	done_json(&resp, &j);
	return 0;
}

static void join_array(const struct json_doc *d, int arr, char *buf, size_t size)
{
	struct json_iter it;
	int k, v;
	size_t n = 0;
	char one[128];
	buf[0] = '\0';
	json_iter_init(&it, d, arr);
	while (json_iter_next(&it, &k, &v) && n + 1 < size)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "", ctl_jtext(d, v, NULL, one, sizeof(one)));
	if (!buf[0])
		snprintf(buf, size, "-");
}

int ctl_cmd_pci(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage_error("usage: kvmbox ctl pci");
	static struct ctl_http_resp resp;
	struct ctl_json j;
	bool printed;
	int r = ctl_get_json(c, "/api/host/pci", &resp, &j, &printed);
	if (r || printed)
		return r;
	const struct json_doc *d = &j.d;
	int devs = json_get(d, 0, "devices"), n = json_array_len(d, devs);
	printf("%-12s  %-9s  %-30s  %5s  %-10s  %-12s  %s\n", "BDF", "IDS", "CLASS", "GROUP", "DRIVER", "RESET", "NAME");
	for (int i = 0; i < n; i++) {
		int dev = json_array_at(d, devs, i);
		char bdf[32], vid[8], did[8], cls[64], grp[16], drv[64], reset[64], ven[96], name[96], need[160];
		char ids[24];
		snprintf(ids, sizeof(ids), "%s:%s", ctl_jtext(d, dev, "vendor_id", vid, sizeof(vid)),
			 ctl_jtext(d, dev, "device_id", did, sizeof(did)));
		join_array(d, json_get(d, dev, "reset_methods"), reset, sizeof(reset));
		ctl_jtext(d, dev, "vendor", ven, sizeof(ven));
		ctl_jtext(d, dev, "device", name, sizeof(name));
		ctl_jtext(d, dev, "needed_by_appliance", need, sizeof(need));
		printf("%-12s  %-9s  %-30s  %5s  %-10s  %-12s  %s%s%s%s\n", ctl_jtext(d, dev, "bdf", bdf, sizeof(bdf)),
		       ids, ctl_jtext(d, dev, "class_name", cls, sizeof(cls)),
		       ctl_jtext(d, dev, "iommu_group", grp, sizeof(grp)), ctl_jtext(d, dev, "driver", drv, sizeof(drv)),
		       reset, strcmp(ven, "-") ? ven : "unknown vendor", strcmp(name, "-") ? " " : "",
		       strcmp(name, "-") ? name : "", strcmp(need, "-") ? "  [needed by the appliance]" : "");
	}
	int mdev = json_get(d, 0, "mdev_types");
	if (json_array_len(d, mdev) > 0) {
		static const char *const cols[] = { "parent", "type", "name", "available_instances", NULL };
		static const char *const heads[] = { "PARENT", "TYPE", "NAME", "LEFT" };
		printf("\nmdev types:\n");
		ctl_print_table(d, mdev, cols, heads);
	}
	done_json(&resp, &j);
	return 0;
}

/* GET a text/plain path and print it as it is. */
int ctl_get_text(struct ctl *c, const char *path)
{
	static struct ctl_http_resp resp;
	int r = ctl_api(c, "GET", path, NULL, &resp);
	if (r)
		return r;
	fwrite(resp.body, 1, resp.body_len, stdout);
	ctl_http_free(&resp);
	return 0;
}

int ctl_cmd_logs(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage_error("usage: kvmbox ctl logs");
	return ctl_get_text(c, "/api/logs");
}

int ctl_cmd_api(struct ctl *c, int argc, char **argv)
{
	if (argc < 3 || argc > 4)
		return ctl_usage_error("usage: kvmbox ctl api METHOD PATH [BODY|-]");
	char method[16];
	size_t ml = strlen(argv[1]);
	if (!ml || ml >= sizeof(method) || strspn(argv[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != ml)
		return ctl_usage_error("%s: not an HTTP method", argv[1]);
	for (size_t i = 0; i <= ml; i++)
		method[i] = (char)(argv[1][i] >= 'a' && argv[1][i] <= 'z' ? argv[1][i] - 32 : argv[1][i]);
	char *body = NULL;
	size_t blen = 0;
	if (argc == 4) {
		if (!strcmp(argv[3], "-")) {
			int e = ctl_read_file("-", API_BODY_MAX, &body, &blen);
			if (e)
				return ctl_usage_error("reading the body from stdin: %s", strerror(-e));
		} else {
			body = strdup(argv[3]);
			blen = strlen(argv[3]);
		}
	}
	struct ctl_call q = {
		.method = method,
		.path = argv[2],
		.ctype = body ? "application/json" : NULL,
		.body = body,
		.body_len = blen,
		.upload_fd = -1,
	};
	static struct ctl_http_resp resp;
	int r = ctl_request(c, &q, &resp);
	free(body);
	if (r)
		return r;
	ctl_print_raw(&resp);
	if (resp.status < 200 || resp.status >= 300)
		r = ctl_api_error(&resp);
	ctl_http_free(&resp);
	return r;
}
