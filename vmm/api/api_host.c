/* GET /api/host: what the appliance runs on. Read fresh from /proc and /sys
 * on each request; a file that cannot be read gives null, not an error,
 * because the rest of the answer is still true. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "supervisor/vms.h"

#define HOST_JSON_MAX 4096

/* The value of "key<spaces>: value" in a /proc file, first match. */
static bool proc_field(const char *path, const char *key, char *out, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[512];
	size_t klen = strlen(key);
	bool found = false;
	/* Bounded: /proc/cpuinfo has a block per CPU, the field is in the first. */
	for (int n = 0; n < 256 && fgets(line, sizeof(line), f); n++) {
		if (strncmp(line, key, klen) || (line[klen] != ':' && line[klen] != ' ' && line[klen] != '\t'))
			continue;
		char *v = strchr(line + klen, ':');
		if (!v)
			continue;
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		v[strcspn(v, "\n")] = '\0';
		for (char *c = v; *c; c++) /* JSON wants UTF-8; /proc promises nothing */
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
		snprintf(out, size, "%s", v);
		found = true;
		break;
	}
	fclose(f);
	return found;
}

/* A /proc/meminfo value in bytes, or -1. */
static long long meminfo_bytes(const char *key)
{
	char v[64];
	if (!proc_field("/proc/meminfo", key, v, sizeof(v)))
		return -1;
	char *end;
	long long kib = strtoll(v, &end, 10);
	return end == v || kib < 0 ? -1 : kib * 1024;
}

static bool dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *e;
	bool any = false;
	while (!any && (e = readdir(d)))
		any = e->d_name[0] != '.';
	closedir(d);
	return any;
}

static void w_bytes_or_null(struct json_writer *w, const char *key, long long v)
{
	json_w_key(w, key);
	if (v >= 0)
		json_w_int(w, v);
	else
		json_w_null(w);
}

void api_get_host(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx)
{
	(void)req;
	(void)params;
	const struct api_ctx *a = ctx;
	struct json_writer w;
	char host[256] = "", cpu[256], up[64];
	struct stat st;

	if (http_resp_json_begin(resp, &w, HOST_JSON_MAX)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	json_w_key(&w, "hostname");
	gethostname(host, sizeof(host) - 1);
	json_w_string(&w, host);
	json_w_key(&w, "version");
	json_w_string(&w, KVMBOX_VERSION);

	json_w_key(&w, "cpu");
	json_w_begin_object(&w);
	json_w_key(&w, "model");
	if (proc_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu)))
		json_w_string(&w, cpu);
	else
		json_w_null(&w);
	json_w_key(&w, "count");
	json_w_int(&w, sysconf(_SC_NPROCESSORS_ONLN));
	json_w_end(&w);

	json_w_key(&w, "memory");
	json_w_begin_object(&w);
	w_bytes_or_null(&w, "total_bytes", meminfo_bytes("MemTotal"));
	w_bytes_or_null(&w, "available_bytes", meminfo_bytes("MemAvailable"));
	json_w_end(&w);

	json_w_key(&w, "kvm");
	json_w_bool(&w, stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode));
	if (a->vms && !a->vms->kvm_ok) {
		json_w_key(&w, "kvm_problem"); /* why VMs cannot start here, in words */
		json_w_string(&w, a->vms->kvm_why);
	}
	json_w_key(&w, "iommu");
	json_w_bool(&w, dir_has_entries("/sys/class/iommu"));

	json_w_key(&w, "uptime_s");
	FILE *f = fopen("/proc/uptime", "re");
	double secs;
	if (f && fgets(up, sizeof(up), f) && sscanf(up, "%lf", &secs) == 1 && secs >= 0)
		json_w_int(&w, (int64_t)secs);
	else
		json_w_null(&w);
	if (f)
		fclose(f);

	json_w_key(&w, "state");
	json_w_begin_object(&w);
	json_w_key(&w, "dir");
	json_w_string(&w, a->state_dir);
	json_w_key(&w, "persistent");
	json_w_bool(&w, !a->state_in_ram);
	json_w_end(&w);

	json_w_key(&w, "tls");
	json_w_begin_object(&w);
	json_w_key(&w, "certificate");
	json_w_string(&w, a->tls_source);
	json_w_key(&w, "sha256_fingerprint");
	json_w_string(&w, a->tls_fingerprint);
	json_w_end(&w);

	/* The setup code is what the console shows to whoever stands at the
	 * machine: only the local socket gets it. */
	json_w_key(&w, "auth");
	json_w_begin_object(&w);
	json_w_key(&w, "admin_set");
	json_w_bool(&w, auth_store_user(&a->auth->store, AUTH_ADMIN) != NULL);
	if (a->auth->who.local && a->auth->setup_code[0]) {
		json_w_key(&w, "setup_code");
		json_w_string(&w, a->auth->setup_code);
	}
	json_w_end(&w);

	json_w_end(&w);
	http_resp_json_end(resp, &w, 200);
}
