/* `kvmbox vmm` settings: options and JSON config files are both outside input,
 * so every value is checked and every error names the setting. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "vmm/config.h"
#include "x86/layout.h"

void vmm_config_defaults(struct vmm_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "vm");
	c->mem_bytes = VMM_MEM_DEFAULT;
	c->cpus = 1;
	c->rng = 1;
	c->hvc = 1;
	c->console_input = CONSOLE_IN_SERIAL;
	c->serial = SERIAL_STDIO;
	c->stop_timeout_s = VMM_STOP_TIMEOUT_DEFAULT_S;
}

int parse_size(const char *s, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if (shift && (*end == 'i' || *end == 'I')) /* "512MiB" reads as "512M" */
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (ULLONG_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int set_string(char *dst, size_t size, const char *val, const char *what, char *err, size_t errlen)
{
	size_t n = strlen(val);
	if (n >= size) {
		snprintf(err, errlen, "%s is too long (%zu bytes, at most %zu)", what, n, size - 1);
		return -ENAMETOOLONG;
	}
	memcpy(dst, val, n + 1);
	return 0;
}

static int set_serial(struct vmm_config *c, const char *val, char *err, size_t errlen)
{
	if (!strcmp(val, "stdio")) {
		c->serial = SERIAL_STDIO;
	} else if (!strcmp(val, "none")) {
		c->serial = SERIAL_NONE;
	} else if (!strncmp(val, "socket:", 7) && val[7]) {
		c->serial = SERIAL_SOCKET;
		return set_string(c->serial_path, sizeof(c->serial_path), val + 7, "--serial socket path", err, errlen);
	} else {
		snprintf(err, errlen, "--serial must be stdio, none or socket:PATH, not '%s'", val);
		return -EINVAL;
	}
	return 0;
}

/* One setting by name: shared by the options and the JSON keys. */
int vmm_config_set(struct vmm_config *c, const char *key, const char *val, char *err, size_t errlen);
int vmm_config_set(struct vmm_config *c, const char *key, const char *val, char *err, size_t errlen)
{
	if (!strcmp(key, "name"))
		return set_string(c->name, sizeof(c->name), val, "name", err, errlen);
	if (!strcmp(key, "kernel"))
		return set_string(c->kernel, sizeof(c->kernel), val, "kernel path", err, errlen);
	if (!strcmp(key, "initrd"))
		return set_string(c->initrd, sizeof(c->initrd), val, "initrd path", err, errlen);
	if (!strcmp(key, "cmdline"))
		return set_string(c->cmdline, sizeof(c->cmdline), val, "command line", err, errlen);
	if (!strcmp(key, "serial"))
		return set_serial(c, val, err, errlen);
	if (!strcmp(key, "control"))
		return set_string(c->control_path, sizeof(c->control_path), val, "control socket path", err, errlen);
	if (!strcmp(key, "disk"))
		return vmm_config_add_disk(c, val, err, errlen);
	if (!strcmp(key, "net"))
		return vmm_config_add_nic(c, val, err, errlen);
	if (!strcmp(key, "device"))
		return vmm_config_add_pci(c, val, err, errlen);
	if (!strcmp(key, "console-input")) {
		if (!strcmp(val, "serial")) {
			c->console_input = CONSOLE_IN_SERIAL;
		} else if (!strcmp(val, "hvc")) {
			c->console_input = CONSOLE_IN_HVC;
		} else {
			snprintf(err, errlen, "console-input must be serial or hvc, not '%s'", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "mem")) {
		if (parse_size(val, &c->mem_bytes) < 0) {
			snprintf(err, errlen, "mem '%s' is not a size such as 512M or 2G", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "cpus") || !strcmp(key, "stop-timeout")) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(val, &end, 10);
		if (errno || *end || !*val || val[0] == '-' || v > 100000) {
			snprintf(err, errlen, "%s '%s' is not a number", key, val);
			return -EINVAL;
		}
		if (key[0] == 'c')
			c->cpus = (unsigned)v;
		else
			c->stop_timeout_s = (unsigned)v;
		return 0;
	}
	snprintf(err, errlen, "unknown setting '%s'", key);
	return -EINVAL;
}

int vmm_config_from_args(struct vmm_config *c, int argc, char **argv, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2)) {
			snprintf(err, errlen, "unexpected argument '%s'", a);
			return -EINVAL;
		}
		a += 2;
		if (!strcmp(a, "hugepages")) {
			c->hugepages = 1;
			continue;
		}
		if (!strcmp(a, "no-rng")) {
			c->rng = 0;
			continue;
		}
		if (!strcmp(a, "no-hvc")) {
			c->hvc = 0;
			continue;
		}
		const char *eq = strchr(a, '='), *val;
		char key[32];
		size_t klen = eq ? (size_t)(eq - a) : strlen(a);
		if (klen >= sizeof(key)) {
			snprintf(err, errlen, "unknown option '--%.40s'", a);
			return -EINVAL;
		}
		memcpy(key, a, klen);
		key[klen] = '\0';
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			snprintf(err, errlen, "option --%s needs a value", key);
			return -EINVAL;
		}
		if (!strcmp(key, "config"))
			continue; /* read by the caller before the other options */
		char why[256] = "";
		int r = vmm_config_set(c, key, val, why, sizeof(why));
		if (r < 0) {
			if (!strncmp(why, "unknown setting", 15))
				snprintf(err, errlen, "unknown option '--%s'; 'kvmbox vmm --help' lists them", key);
			else
				snprintf(err, errlen, "%s", why);
			return r;
		}
	}
	return 0;
}

int vmm_nic_check(const struct vmm_nic *nic, unsigned n, char *err, size_t errlen); /* config_dev.c */

int vmm_config_check(const struct vmm_config *c, char *err, size_t errlen)
{
	if (!c->kernel[0]) {
		snprintf(err, errlen, "no kernel given (--kernel FILE)");
		return -EINVAL;
	}
	if (c->mem_bytes < VMM_MEM_MIN || c->mem_bytes % 4096) {
		snprintf(err, errlen, "memory must be at least %llu MiB and a multiple of 4 KiB (got %llu bytes)",
			 VMM_MEM_MIN >> 20, (unsigned long long)c->mem_bytes);
		return -EINVAL;
	}
	/* RAM above 3 GiB continues at 4 GiB, and must end below the PCI 64-bit
	 * window that the DSDT gives the guest for large BARs. */
	uint64_t ram_max = X86_PCI_MEM64_BASE - (X86_HIGH_RAM_START - X86_PCI_HOLE_START);
	if (c->mem_bytes > ram_max) {
		snprintf(err, errlen, "memory must be at most %llu GiB (got %llu GiB)", (unsigned long long)(ram_max >> 30),
			 (unsigned long long)(c->mem_bytes >> 30));
		return -EINVAL;
	}
	if (c->cpus < 1 || c->cpus > X86_MAX_VCPUS) {
		snprintf(err, errlen, "cpus must be between 1 and %d (got %u)", X86_MAX_VCPUS, c->cpus);
		return -EINVAL;
	}
	if (c->console_input == CONSOLE_IN_HVC && !c->hvc) {
		snprintf(err, errlen, "console-input hvc needs the virtio console (drop --no-hvc)");
		return -EINVAL;
	}
	unsigned users = 0;
	for (unsigned i = 0; i < c->nnics; i++) {
		if (vmm_nic_check(&c->nics[i], i, err, errlen) < 0)
			return -EINVAL;
		if (c->nics[i].user && ++users > 1) {
			/* lwip is one stack per process (see usernet.h). */
			snprintf(err, errlen, "nic %u: only one user NIC per VM", i);
			return -EINVAL;
		}
	}
	for (unsigned i = 0; i < c->nnics; i++)
		for (unsigned j = 0; j < i; j++)
			if (c->nics[i].tap[0] && !strcmp(c->nics[i].tap, c->nics[j].tap)) {
				snprintf(err, errlen, "nic %u and nic %u both name tap '%s'", j, i, c->nics[i].tap);
				return -EINVAL;
			}
	return 0;
}

/* A JSON config file: {"kernel": "...", "initrd": "...", "cmdline": "...",
 * "mem": "512M" or a byte count, "cpus": 2, "serial": "stdio",
 * "control": "/run/vm.sock", "hugepages": false, "rng": true, "hvc": true,
 * "console-input": "serial", "stop-timeout": 10,
 * "disks": [{"path": "/data/a.img", "readonly": false, "serial": "A1",
 *            "block-size": 512, "discard": true}, "/data/b.img,readonly"],
 * "nics": [{"bridge": "br0", "tap": "vm0", "mac": "52:54:00:12:34:56", "queues": 1},
 *          {"user": true, "restrict": false, "hostfwd": ["tcp:2222:22"]}]}.
 * A disk or NIC is an object or the same string as its --disk / --net option.
 * Unknown keys are errors: a misspelt setting must not be ignored silently. */
#define VMM_CONFIG_MAX_BYTES (64 * 1024)

/* config_dev.c */
int vmm_disk_set(struct vmm_disk *d, unsigned n, const char *key, const char *val, char *err, size_t errlen);
int vmm_nic_set(struct vmm_nic *nic, unsigned n, const char *key, const char *val, char *err, size_t errlen);
void vmm_disk_defaults(struct vmm_disk *d);
void vmm_nic_defaults(struct vmm_nic *nic);

/* "disks" or "nics": an array whose items are option strings or objects
 * with the same keys (booleans as true/false, numbers as numbers). */
static int config_json_devices(struct vmm_config *c, const struct json_doc *doc, int arr, int disks, char *err,
			       size_t errlen)
{
	const char *what = disks ? "disks" : "nics";
	if (json_type(doc, arr) != JSON_ARRAY) {
		snprintf(err, errlen, "%s must be an array, not %s", what, json_type_name(json_type(doc, arr)));
		return -EINVAL;
	}
	int n = json_array_len(doc, arr);
	for (int i = 0; i < n; i++) {
		int item = json_array_at(doc, arr, i);
		static char val[VMM_PATH_MAX];
		int r;
		if (json_type(doc, item) == JSON_STRING) {
			if (json_get_string(doc, item, val, sizeof(val)) < 0) {
				snprintf(err, errlen, "%s[%d] is too long or holds a NUL byte", what, i);
				return -EINVAL;
			}
			r = disks ? vmm_config_add_disk(c, val, err, errlen) : vmm_config_add_nic(c, val, err, errlen);
			if (r < 0)
				return r;
			continue;
		}
		if (json_type(doc, item) != JSON_OBJECT) {
			snprintf(err, errlen, "%s[%d] must be an object or a string", what, i);
			return -EINVAL;
		}
		unsigned idx = disks ? c->ndisks : c->nnics;
		if (idx >= (disks ? VMM_MAX_DISKS : VMM_MAX_NICS)) {
			snprintf(err, errlen, "too many %s (at most %d)", what, disks ? VMM_MAX_DISKS : VMM_MAX_NICS);
			return -E2BIG;
		}
		if (disks)
			vmm_disk_defaults(&c->disks[idx]);
		else
			vmm_nic_defaults(&c->nics[idx]);
		struct json_iter it;
		json_iter_init(&it, doc, item);
		int k, v;
		while (json_iter_next(&it, &k, &v)) {
			char key[32];
			bool b;
			uint64_t num;
			if (json_get_string(doc, k, key, sizeof(key)) < 0) {
				snprintf(err, errlen, "%s[%d]: unknown setting (a key longer than %zu bytes)", what, i,
					 sizeof(key) - 1);
				return -EINVAL;
			}
			if (json_type(doc, v) == JSON_ARRAY) {
				/* A repeatable setting (a NIC's "hostfwd": [...]): each
				 * string as if given once more. */
				for (int j = 0, nj = json_array_len(doc, v); j < nj; j++) {
					if (json_get_string(doc, json_array_at(doc, v, j), val, sizeof(val)) < 0) {
						snprintf(err, errlen, "%s[%d]: %s[%d] must be a string", what, i, key, j);
						return -EINVAL;
					}
					r = disks ? vmm_disk_set(&c->disks[idx], idx, key, val, err, errlen)
						  : vmm_nic_set(&c->nics[idx], idx, key, val, err, errlen);
					if (r < 0)
						return r;
				}
				continue;
			}
			if (json_get_bool(doc, v, &b) == 0)
				snprintf(val, sizeof(val), "%s", b ? "on" : "off");
			else if (json_get_uint64(doc, v, &num) == 0)
				snprintf(val, sizeof(val), "%llu", (unsigned long long)num);
			else if (json_get_string(doc, v, val, sizeof(val)) < 0) {
				snprintf(err, errlen, "%s[%d]: %s must be a string, number or boolean", what, i, key);
				return -EINVAL;
			}
			r = disks ? vmm_disk_set(&c->disks[idx], idx, key, val, err, errlen)
				  : vmm_nic_set(&c->nics[idx], idx, key, val, err, errlen);
			if (r < 0)
				return r;
		}
		if (disks && !c->disks[idx].path[0]) {
			snprintf(err, errlen, "disks[%d] has no path", i);
			return -EINVAL;
		}
		if (disks)
			c->ndisks++;
		else
			c->nnics++;
	}
	return 0;
}
#define VMM_CONFIG_MAX_TOKENS 256

/* "devices": an array of PCI address strings, as --device takes. */
static int config_json_pci(struct vmm_config *c, const struct json_doc *doc, int arr, char *err, size_t errlen)
{
	if (json_type(doc, arr) != JSON_ARRAY) {
		snprintf(err, errlen, "devices must be an array, not %s", json_type_name(json_type(doc, arr)));
		return -EINVAL;
	}
	int n = json_array_len(doc, arr);
	for (int i = 0; i < n; i++) {
		int item = json_array_at(doc, arr, i);
		char val[64];
		if (json_type(doc, item) != JSON_STRING || json_get_string(doc, item, val, sizeof(val)) < 0) {
			snprintf(err, errlen, "devices[%d] must be a PCI address string such as \"0000:00:03.0\"", i);
			return -EINVAL;
		}
		int r = vmm_config_add_pci(c, val, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int vmm_config_from_json(struct vmm_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	static struct json_token tok[VMM_CONFIG_MAX_TOKENS];
	struct json_doc doc;
	struct json_error jerr;
	int r = json_parse(&doc, text, len, VMM_CONFIG_MAX_BYTES, tok, VMM_CONFIG_MAX_TOKENS, &jerr);
	if (r < 0) {
		char where[160];
		json_error_format(&jerr, where, sizeof(where));
		snprintf(err, errlen, "%s", where);
		return r;
	}
	if (json_type(&doc, 0) != JSON_OBJECT) {
		snprintf(err, errlen, "the config must be a JSON object, not %s", json_type_name(json_type(&doc, 0)));
		return -EINVAL;
	}
	struct json_iter it;
	json_iter_init(&it, &doc, 0);
	int k, v;
	while (json_iter_next(&it, &k, &v)) {
		char key[32], val[VMM_PATH_MAX];
		if (json_get_string(&doc, k, key, sizeof(key)) < 0) {
			snprintf(err, errlen, "unknown setting (a key longer than %zu bytes)", sizeof(key) - 1);
			return -EINVAL;
		}
		enum json_type t = json_type(&doc, v);
		if (!strcmp(key, "hugepages")) {
			bool b;
			if (json_get_bool(&doc, v, &b) < 0) {
				snprintf(err, errlen, "hugepages must be true or false");
				return -EINVAL;
			}
			c->hugepages = b;
			continue;
		}
		if (!strcmp(key, "rng") || !strcmp(key, "hvc")) {
			bool b;
			if (json_get_bool(&doc, v, &b) < 0) {
				snprintf(err, errlen, "%s must be true or false", key);
				return -EINVAL;
			}
			*(key[0] == 'r' ? &c->rng : &c->hvc) = b;
			continue;
		}
		if (!strcmp(key, "devices")) {
			r = config_json_pci(c, &doc, v, err, errlen);
			if (r < 0)
				return r;
			continue;
		}
		if (!strcmp(key, "disks") || !strcmp(key, "nics")) {
			r = config_json_devices(c, &doc, v, key[0] == 'd', err, errlen);
			if (r < 0)
				return r;
			continue;
		}
		if (t == JSON_NUMBER) {
			uint64_t n;
			if (json_get_uint64(&doc, v, &n) < 0) {
				snprintf(err, errlen, "%s must be a whole, non-negative number", key);
				return -EINVAL;
			}
			snprintf(val, sizeof(val), "%llu", (unsigned long long)n);
		} else if (t == JSON_STRING) {
			if (json_get_string(&doc, v, val, sizeof(val)) < 0) {
				snprintf(err, errlen, "%s is too long or holds a NUL byte", key);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "%s must be a string or a number, not %s", key, json_type_name(t));
			return -EINVAL;
		}
		r = vmm_config_set(c, key, val, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}
