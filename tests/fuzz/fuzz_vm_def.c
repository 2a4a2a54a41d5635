/* libFuzzer target: a VM definition from the API (POST and PUT /api/vms) or
 * from STATE/vms/NAME.json, checked by vms_def_check() with the VMM's own
 * config parser. Beyond not crashing: what it accepts has a safe name and
 * paths that stay in STATE/images, is stored as JSON that passes the same
 * check again unchanged (so it loads after a restart), and the VMM's part
 * never carries the supervisor's keys; what it refuses has a status and a
 * message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "supervisor/vms.h"
#include "vmm/config.h"

static struct vms v; /* vms_def_check reads nothing of it */

static void check_name(const char *n)
{
	size_t l = strlen(n);
	if (!l || l >= VMS_NAME_MAX)
		abort();
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			abort();
}

/* Absolute without a ".." part, or an image name: no "/", not hidden. */
static void check_path(const char *p)
{
	if (p[0] == '/') {
		size_t l = strlen(p);
		if (strstr(p, "/../") || (l >= 3 && !strcmp(p + l - 3, "/..")))
			abort();
	} else if (strchr(p, '/') || p[0] == '.') {
		abort();
	}
}

static void check_refusal(const struct vms_err *e)
{
	if ((e->status != 400 && e->status != 413 && e->status != 503) || !e->msg[0])
		abort();
}

static void one(const char *data, size_t size, const char *name_in_url)
{
	char name[VMS_NAME_MAX];
	struct vms_err e;
	struct sv_vm vm;
	memset(&vm, 0, sizeof(vm));
	if (vms_def_check(&v, data, size, name_in_url, name, &vm, &e)) {
		check_refusal(&e);
		free(vm.def);
		return;
	}
	check_name(name);
	/* vm.def_len within the limit even with the name put in front (a PUT
	 * without "name"): else it would not load after a restart. */
	if (strcmp(vm.name, name) || (name_in_url && strcmp(name, name_in_url)) || !vm.def ||
	    strlen(vm.def) != vm.def_len || vm.def_len > VMS_DEF_MAX)
		abort();

	/* The stored text is a JSON object that passes again, unchanged: what
	 * is saved is what loads after a restart. */
	static struct json_token tok[VMS_DEF_TOKENS];
	struct json_doc d;
	struct json_error je;
	if (json_parse(&d, vm.def, vm.def_len, VMS_DEF_MAX + 128, tok, VMS_DEF_TOKENS, &je) ||
	    json_type(&d, 0) != JSON_OBJECT)
		abort();
	char again[VMS_NAME_MAX];
	struct sv_vm vm2;
	memset(&vm2, 0, sizeof(vm2));
	if (vms_def_check(&v, vm.def, vm.def_len, name, again, &vm2, &e) || strcmp(again, name) ||
	    vm2.def_len != vm.def_len || memcmp(vm2.def, vm.def, vm.def_len) || vm2.autostart != vm.autostart ||
	    vm2.restart != vm.restart || vm2.stop_timeout_s != vm.stop_timeout_s)
		abort();

	/* The VMM's part: the same definition without the supervisor's
	 * own keys, and never "serial" or "control". */
	char *vmm = NULL;
	size_t vlen = 0;
	if (vms_def_vmm_json(&v, &vm2, &vmm, &vlen, &e))
		abort();
	if (json_parse(&d, vmm, vlen, VMS_DEF_MAX + 128, tok, VMS_DEF_TOKENS, &je) ||
	    json_type(&d, 0) != JSON_OBJECT)
		abort();
	static const char *const banned[] = { "serial", "control", "autostart", "restart" };
	struct json_iter it;
	int k, val;
	json_iter_init(&it, &d, 0);
	while (json_iter_next(&it, &k, &val)) {
		char key[48] = "";
		json_get_string(&d, k, key, sizeof(key));
		for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
			if (!strcmp(key, banned[i]))
				abort();
	}
	/* What the VMM will open stays in STATE/images or is absolute. */
	static struct vmm_config cfg;
	char err[512];
	vmm_config_defaults(&cfg);
	if (vmm_config_from_json(&cfg, vmm, vlen, err, sizeof(err)) < 0 ||
	    vmm_config_check(&cfg, err, sizeof(err)) < 0 || !cfg.kernel[0] || cfg.serial_path[0] || cfg.control_path[0])
		abort();
	check_path(cfg.kernel);
	if (cfg.initrd[0])
		check_path(cfg.initrd);
	for (unsigned i = 0; i < cfg.ndisks; i++)
		check_path(cfg.disks[i].path);
	free(vmm);
	free(vm2.def);
	free(vm.def);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one((const char *)data, size, NULL);  /* POST /api/vms */
	one((const char *)data, size, "web"); /* PUT /api/vms/web, or STATE/vms/web.json */
	return 0;
}
