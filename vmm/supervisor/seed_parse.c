/* Checking a headless seed (see seed_parse.h). The seed comes from outside
 * (fw_cfg, a disk, the network), so this is bounds-checked and fuzzed
 * (tests/fuzz/fuzz_seed.c); it starts nothing itself. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "supervisor/seed_parse.h"

#define SEED_MAX_TOKENS 4096

/* VM i of the seed: an object with a safe, unique name (copied to name). */
static int seed_check_vm(const struct json_doc *doc, int vms, int i, char *name, size_t size, char *err,
			 size_t errlen)
{
	int vm = json_array_at(doc, vms, i);
	name[0] = '\0';
	if (json_type(doc, vm) != JSON_OBJECT || json_get_string(doc, json_get(doc, vm, "name"), name, size) <= 0) {
		snprintf(err, errlen, "VM %d of the seed is not an object with a \"name\" (at most %zu bytes)", i + 1,
			 size - 1);
		return -EINVAL;
	}
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
			snprintf(err, errlen, "VM name \"%s\": use letters, digits, - and _ only", name);
			return -EINVAL;
		}
	for (int j = 0; j < i; j++) {
		char other[SEED_NAME_MAX] = "";
		json_get_string(doc, json_get(doc, json_array_at(doc, vms, j), "name"), other, sizeof(other));
		if (!strcmp(other, name)) {
			snprintf(err, errlen, "two VMs are named \"%s\"; names must be unique", name);
			return -EINVAL;
		}
	}
	return 0;
}

int seed_parse(const char *text, size_t len, struct seed_opts *opts, char *err, size_t errlen,
	       int (*start)(void *ctx, const char *name, const char *json, size_t n), void *ctx)
{
	static struct json_token tok[SEED_MAX_TOKENS];
	struct json_doc doc;
	struct json_error jerr;
	static struct seed_opts o;
	memset(&o, 0, sizeof(o));
	if (json_parse(&doc, text, len, SEED_MAX_BYTES, tok, SEED_MAX_TOKENS, &jerr) < 0) {
		json_error_format(&jerr, err, errlen);
		return -EINVAL;
	}
	if (json_type(&doc, 0) != JSON_OBJECT) {
		snprintf(err, errlen, "the seed must be a JSON object");
		return -EINVAL;
	}
	struct json_iter it;
	json_iter_init(&it, &doc, 0);
	int k, v, vms = -1;
	while (json_iter_next(&it, &k, &v)) {
		if (json_streq(&doc, k, "vms")) {
			vms = v;
		} else if (json_streq(&doc, k, "poweroff")) {
			if (json_get_bool(&doc, v, &o.poweroff) < 0) {
				snprintf(err, errlen, "\"poweroff\" must be true or false");
				return -EINVAL;
			}
		} else if (json_streq(&doc, k, "admin-hash")) {
			if (json_get_string(&doc, v, o.admin_hash, sizeof(o.admin_hash)) <= 0) {
				snprintf(err, errlen, "\"admin-hash\" must be a string of at most %d bytes, as "
					 "kvmbox passwd-hash prints it", SEED_ADMIN_HASH_MAX - 1);
				return -EINVAL;
			}
		} else {
			char key[40] = "";
			json_get_string(&doc, k, key, sizeof(key));
			snprintf(err, errlen, "unknown seed setting \"%s\"", key);
			return -EINVAL;
		}
	}
	int n = json_array_len(&doc, vms);
	if (n < 0) {
		snprintf(err, errlen, "the seed needs a \"vms\" array");
		return -EINVAL;
	}
	if (n > SEED_MAX_VMS) {
		snprintf(err, errlen, "the seed has %d VMs; at most %d are allowed", n, SEED_MAX_VMS);
		return -E2BIG;
	}
	/* Check every VM before starting any, so a bad entry starts nothing. */
	char name[SEED_NAME_MAX];
	for (int i = 0; i < n; i++)
		if (seed_check_vm(&doc, vms, i, name, sizeof(name), err, errlen) < 0)
			return -EINVAL;
	if (opts)
		*opts = o;
	for (int i = 0; i < n; i++) {
		int vm = json_array_at(&doc, vms, i);
		seed_check_vm(&doc, vms, i, name, sizeof(name), err, errlen);
		const struct json_token *t = &doc.tok[vm];
		int r = start(ctx, name, text + t->start, t->end - t->start);
		if (r < 0) {
			snprintf(err, errlen, "starting VM %s: %s", name, strerror(-r));
			return r;
		}
	}
	return n;
}

/* seed_load's callback has no context: carry it through seed_parse's. */
struct seed_load_ctx {
	int (*start)(const char *name, const char *json, size_t n);
};

static int seed_load_start(void *ctx, const char *name, const char *json, size_t n)
{
	return ((struct seed_load_ctx *)ctx)->start(name, json, n);
}

int seed_load(const char *text, size_t len, char *err, size_t errlen,
	      int (*start)(const char *name, const char *json, size_t n))
{
	struct seed_load_ctx c = { start };
	return seed_parse(text, len, NULL, err, errlen, seed_load_start, &c);
}
