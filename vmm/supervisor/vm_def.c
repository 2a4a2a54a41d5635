/* VM definitions: validation, and keeping them in STATE/vms/NAME.json.
 *
 * Each file is {"version": 1, "vm": {...}} and is replaced atomically
 * (state_write_file). A file with a newer version was written by a newer
 * kvmbox: it is skipped, left as it is, and its name stays taken, so that
 * going back to an older image never loses or overwrites a VM. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "supervisor/state.h"
#include "supervisor/vms.h"
#include "vmm/config.h"

int vms_fail(struct vms_err *e, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->status = status;
	return -1;
}
#define fail vms_fail

/* The JSON text of token i, quotes included for strings. */
static void raw_span(const struct json_doc *d, int i, const char **p, size_t *n)
{
	const struct json_token *t = &d->tok[i];
	size_t s = t->start, end = t->end;
	if (t->type == JSON_STRING) {
		s--;
		end++;
	}
	*p = d->text + s;
	*n = end - s;
}

static bool name_ok(const char *n)
{
	if (!*n)
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return false;
	return true;
}

/* A kernel, initrd or disk path: absolute, or an image name (no slash, not
 * hidden), which resolves in STATE/images. Never "..": an image name must
 * not reach outside that folder. */
static int path_check(const char *what, const char *path, struct vms_err *e)
{
	if (path[0] == '/') {
		if (strstr(path, "/../") || !strcmp(path + strlen(path) - (strlen(path) >= 3 ? 3 : 0), "/.."))
			return fail(e, 400, "%s \"%s\": a path must not contain \"..\"", what, path);
		return 0;
	}
	if (strchr(path, '/') || path[0] == '.')
		return fail(e, 400, "%s \"%s\" is neither an absolute path nor an image name (an image name has no "
			    "\"/\" and does not start with \".\")", what, path);
	return 0;
}

/* The VMM's part of the last definition checked (one request at a time). */
static char vmmjs[VMS_DEF_MAX + 128];

struct json_buf {
	char *p;
	size_t len, cap;
};

static int jb_add(struct json_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		return -ENOSPC;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int vms_def_check(struct vms *v, const char *json, size_t len, const char *name_in_url, char *name,
		  struct sv_vm *into, struct vms_err *e)
{
	(void)v;
	static struct json_token tok[VMS_DEF_TOKENS];
	static char full[VMS_DEF_MAX + 128];
	static struct vmm_config cfg;
	struct json_doc d;
	struct json_error je;
	char msg[160];
	if (len > VMS_DEF_MAX)
		return fail(e, 413, "a VM definition is at most %d bytes", VMS_DEF_MAX);
	if (json_parse(&d, json, len, VMS_DEF_MAX, tok, VMS_DEF_TOKENS, &je)) {
		json_error_format(&je, msg, sizeof(msg));
		return fail(e, 400, "the VM definition is not valid JSON: %s", msg);
	}
	if (json_type(&d, 0) != JSON_OBJECT)
		return fail(e, 400, "a VM definition is a JSON object such as {\"name\": \"web\", \"kernel\": "
			    "\"bzImage\", \"mem\": \"512M\"}");
	name[0] = '\0';
	int ni = json_get(&d, 0, "name");
	if (ni >= 0 && json_get_string(&d, ni, name, VMS_NAME_MAX) < 0)
		return fail(e, 400, "\"name\" must be a string of at most %d characters", VMS_NAME_MAX - 1);
	if (name_in_url) {
		if (name[0] && strcmp(name, name_in_url))
			return fail(e, 400, "the VM is \"%s\" in the URL but \"%s\" in the body; a VM cannot be renamed",
				    name_in_url, name);
		snprintf(name, VMS_NAME_MAX, "%s", name_in_url);
	}
	if (!name[0])
		return fail(e, 400, "\"name\" is missing");
	if (!name_ok(name))
		return fail(e, 400, "VM name \"%s\": use letters, digits, - and _ only", name);

	/* Two texts: the whole definition (kept) and the VMM's part. */
	/* The stored text gets the name in front, so it can grow (PUT without
	 * "name"): it must stay within VMS_DEF_MAX, or it would not load again. */
	struct json_buf fb = { full, 0, VMS_DEF_MAX + 1 }, vb = { vmmjs, 0, sizeof(vmmjs) };
	char quoted[VMS_NAME_MAX + 16];
	snprintf(quoted, sizeof(quoted), "{\"name\":\"%s\"", name);
	jb_add(&fb, quoted, strlen(quoted));
	jb_add(&vb, quoted, strlen(quoted));
	bool autostart = false;
	enum vm_restart restart = RESTART_NO;
	struct json_iter it;
	int k, val;
	json_iter_init(&it, &d, 0);
	while (json_iter_next(&it, &k, &val)) {
		char key[48] = "";
		json_get_string(&d, k, key, sizeof(key));
		if (!strcmp(key, "name"))
			continue;
		if (!strcmp(key, "serial") || !strcmp(key, "control"))
			return fail(e, 400, "\"%s\" is set by the supervisor (the console is in the API); leave it out",
				    key);
		bool sup = false;
		if (!strcmp(key, "autostart")) {
			if (json_get_bool(&d, val, &autostart) < 0)
				return fail(e, 400, "\"autostart\" must be true or false");
			sup = true;
		} else if (!strcmp(key, "restart")) {
			char r[16] = "";
			json_get_string(&d, val, r, sizeof(r));
			if (!strcmp(r, "no"))
				restart = RESTART_NO;
			else if (!strcmp(r, "on-failure"))
				restart = RESTART_ON_FAILURE;
			else if (!strcmp(r, "always"))
				restart = RESTART_ALWAYS;
			else
				return fail(e, 400, "\"restart\" must be \"no\", \"on-failure\" or \"always\"");
			sup = true;
		}
		const char *kp, *vp;
		size_t kn, vn;
		raw_span(&d, k, &kp, &kn);
		raw_span(&d, val, &vp, &vn);
		struct json_buf *bufs[2] = { &fb, sup ? NULL : &vb };
		for (int b = 0; b < 2; b++)
			if (bufs[b] && (jb_add(bufs[b], ",", 1) || jb_add(bufs[b], kp, kn) || jb_add(bufs[b], ":", 1) ||
					jb_add(bufs[b], vp, vn)))
				return fail(e, 413, "a VM definition is at most %d bytes", VMS_DEF_MAX);
	}
	if (jb_add(&fb, "}", 1))
		return fail(e, 413, "a VM definition is at most %d bytes", VMS_DEF_MAX);
	jb_add(&vb, "}", 1);

	/* The VMM's own parser and checks: the same words as `kvmbox vmm`. */
	char err[512];
	vmm_config_defaults(&cfg);
	if (vmm_config_from_json(&cfg, vb.p, vb.len, err, sizeof(err)) < 0 ||
	    vmm_config_check(&cfg, err, sizeof(err)) < 0)
		return fail(e, 400, "%s", err);
	if (!cfg.kernel[0])
		return fail(e, 400, "\"kernel\" is missing: an image name (see /api/images) or an absolute path");
	if (path_check("kernel", cfg.kernel, e) || (cfg.initrd[0] && path_check("initrd", cfg.initrd, e)))
		return -1;
	for (unsigned i = 0; i < cfg.ndisks; i++) {
		char what[32];
		snprintf(what, sizeof(what), "disks[%u]", i);
		if (path_check(what, cfg.disks[i].path, e))
			return -1;
	}
	if (into) {
		char *def = strdup(fb.p);
		if (!def)
			return fail(e, 503, "out of memory");
		free(into->def);
		into->def = def;
		into->def_len = fb.len;
		snprintf(into->name, sizeof(into->name), "%s", name);
		into->autostart = autostart;
		into->restart = restart;
		into->stop_timeout_s = cfg.stop_timeout_s;
	}
	return 0;
}

int vms_def_vmm_json(struct vms *v, const struct sv_vm *vm, char **out, size_t *len, struct vms_err *e)
{
	char name[VMS_NAME_MAX];
	if (vms_def_check(v, vm->def, vm->def_len, vm->name, name, NULL, e))
		return -1;
	*len = strlen(vmmjs);
	if (!(*out = strdup(vmmjs)))
		return fail(e, 503, "out of memory");
	return 0;
}

static int def_save(struct vms *v, struct sv_vm *vm, struct vms_err *e)
{
	if (vm->transient)
		return 0;
	size_t cap = vm->def_len + 64;
	char *text = malloc(cap);
	if (!text)
		return fail(e, 503, "out of memory");
	int n = snprintf(text, cap, "{\"version\":%d,\"vm\":%s}\n", VMS_FILE_VERSION, vm->def);
	char file[VMS_NAME_MAX + 8];
	snprintf(file, sizeof(file), "%s.json", vm->name);
	int r = state_write_file(v->dir, file, text, (size_t)n, 0600);
	free(text);
	if (r) {
		log_error("vms: cannot write %s/%s: %s", v->dir, file, strerror(-r));
		return fail(e, 500, "cannot save %s/%s: %s; nothing was changed", v->dir, file, strerror(-r));
	}
	return 0;
}

static struct sv_vm *vm_new(void)
{
	struct sv_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->in_fd = vm->out_fd = vm->err_fd = -1;
	vm->guest_status = -1;
	sv_ring_init(&vm->console, VMS_CONSOLE_RING);
	sv_ring_init(&vm->log, VMS_LOG_RING);
	return vm;
}

static void vm_free(struct sv_vm *vm)
{
	if (!vm)
		return;
	while (vm->subs) { /* its console viewers learn it is gone */
		struct vms_console_sub *s = vm->subs;
		vms_console_unsubscribe(vm, s);
		s->gone(s);
	}
	free(vm->def);
	sv_ring_free(&vm->console);
	sv_ring_free(&vm->log);
	free(vm);
}

/* A file STATE/vms/NAME.json that this kvmbox did not load (a newer
 * version, or unreadable) still owns its name. */
static bool name_taken_on_disk(struct vms *v, const char *name)
{
	char p[sizeof(v->dir) + VMS_NAME_MAX + 8];
	snprintf(p, sizeof(p), "%s/%s.json", v->dir, name);
	return access(p, F_OK) == 0;
}

int vms_create(struct vms *v, const char *json, size_t len, bool transient, struct sv_vm **out, struct vms_err *e)
{
	char name[VMS_NAME_MAX];
	struct sv_vm *vm = vm_new();
	if (!vm)
		return fail(e, 503, "out of memory");
	if (vms_def_check(v, json, len, NULL, name, vm, e)) {
		vm_free(vm);
		return -1;
	}
	if (vms_find(v, name, strlen(name)) || (!transient && name_taken_on_disk(v, name))) {
		vm_free(vm);
		return fail(e, 409, "a VM named \"%s\" already exists", name);
	}
	if (v->n >= VMS_MAX) {
		vm_free(vm);
		return fail(e, 409, "there are already %d VMs, the most one appliance keeps", VMS_MAX);
	}
	vm->transient = transient;
	if (def_save(v, vm, e)) {
		vm_free(vm);
		return -1;
	}
	v->vm[v->n++] = vm;
	if (out)
		*out = vm;
	log_info("vms: defined %s%s", vm->name, transient ? " (from the seed, not saved)" : "");
	return 0;
}

int vms_add_refused(struct vms *v, const char *name, const char *json, size_t len, struct sv_vm **out,
		    struct vms_err *e)
{
	if (vms_find(v, name, strlen(name)))
		return fail(e, 409, "a VM named \"%s\" already exists", name);
	if (v->n >= VMS_MAX)
		return fail(e, 409, "there are already %d VMs, the most one appliance keeps", VMS_MAX);
	struct sv_vm *vm = vm_new();
	char *def = vm ? malloc(len + 1) : NULL;
	if (!def) {
		vm_free(vm);
		return fail(e, 503, "out of memory");
	}
	memcpy(def, json, len);
	def[len] = '\0';
	vm->def = def;
	vm->def_len = len;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	vm->transient = true;
	vm->state = VM_FAILED;
	v->vm[v->n++] = vm;
	*out = vm;
	return 0;
}

int vms_update(struct vms *v, struct sv_vm *vm, const char *json, size_t len, struct vms_err *e)
{
	char name[VMS_NAME_MAX];
	struct sv_vm tmp = { 0 };
	if (vms_def_check(v, json, len, vm->name, name, &tmp, e))
		return -1;
	char *old = vm->def;
	size_t old_len = vm->def_len;
	bool a = vm->autostart;
	enum vm_restart rs = vm->restart;
	unsigned st = vm->stop_timeout_s;
	vm->def = tmp.def;
	vm->def_len = tmp.def_len;
	vm->autostart = tmp.autostart;
	vm->restart = tmp.restart;
	vm->stop_timeout_s = tmp.stop_timeout_s;
	if (def_save(v, vm, e)) { /* memory and disk must not disagree */
		free(vm->def);
		vm->def = old;
		vm->def_len = old_len;
		vm->autostart = a;
		vm->restart = rs;
		vm->stop_timeout_s = st;
		return -1;
	}
	free(old);
	vm->pending = vm->state != VM_STOPPED && vm->state != VM_FAILED;
	log_info("vms: %s changed%s", vm->name, vm->pending ? "; the change applies at its next start" : "");
	return 0;
}

int vms_delete(struct vms *v, struct sv_vm *vm, struct vms_err *e)
{
	if (vm->state != VM_STOPPED && vm->state != VM_FAILED)
		return fail(e, 409, "VM %s is %s; stop it before deleting it", vm->name, vms_state_name(vm->state));
	if (!vm->transient) {
		char p[sizeof(v->dir) + VMS_NAME_MAX + 8];
		snprintf(p, sizeof(p), "%s/%s.json", v->dir, vm->name);
		if (unlink(p) && errno != ENOENT)
			return fail(e, 500, "cannot remove %s: %s", p, strerror(errno));
		snprintf(p, sizeof(p), "%s/%s.json.1", v->dir, vm->name);
		unlink(p);
		if (!v->in_ram)
			state_sync_dir(v->dir);
	}
	for (unsigned i = 0; i < v->n; i++)
		if (v->vm[i] == vm) {
			memmove(&v->vm[i], &v->vm[i + 1], (v->n - i - 1) * sizeof(v->vm[0]));
			v->n--;
			break;
		}
	log_info("vms: deleted %s", vm->name);
	vm_free(vm);
	return 0;
}

/* One file of STATE/vms; logged and skipped when it cannot be used. */
static void load_one(struct vms *v, const char *file)
{
	static struct json_token tok[VMS_DEF_TOKENS];
	char path[sizeof(v->dir) + 300], name[VMS_NAME_MAX];
	snprintf(path, sizeof(path), "%s/%s", v->dir, file);
	size_t flen = strlen(file) - 5; /* without ".json" */
	if (flen >= VMS_NAME_MAX) {
		log_error("vms: %s: the name is too long; skipped", path);
		return;
	}
	memcpy(name, file, flen);
	name[flen] = '\0';
	char *text = NULL;
	size_t len;
	int r = state_read_file(path, VMS_DEF_MAX + 128, &text, &len);
	if (r) {
		log_error("vms: cannot read %s: %s; VM %s is not loaded (the file is left as it is)", path,
			  strerror(-r), name);
		return;
	}
	struct json_doc d;
	struct json_error je;
	int64_t version = 0;
	int vi = -1;
	if (json_parse(&d, text, len, VMS_DEF_MAX + 128, tok, VMS_DEF_TOKENS, &je) == 0 &&
	    json_type(&d, 0) == JSON_OBJECT && json_get_int64(&d, json_get(&d, 0, "version"), &version) == 0)
		vi = json_get(&d, 0, "vm");
	if (vi < 0 || version < 1) {
		log_error("vms: %s is not a kvmbox VM file ({\"version\": N, \"vm\": {...}}); VM %s is not loaded "
			  "(the file is left as it is)", path, name);
	} else if (version > VMS_FILE_VERSION) {
		log_error("vms: %s was written by a newer kvmbox (file version %lld; this one reads up to %d); VM %s is "
			  "not loaded, and the file is left as it is", path, (long long)version, VMS_FILE_VERSION, name);
	} else {
		struct vms_err e;
		struct sv_vm *vm = vm_new();
		const char *p;
		size_t n;
		char parsed[VMS_NAME_MAX]; /* not name: vms_def_check clears its output before reading name_in_url */
		raw_span(&d, vi, &p, &n);
		if (!vm) {
			log_error("vms: out of memory loading %s", path);
		} else if (vms_def_check(v, p, n, name, parsed, vm, &e)) {
			log_error("vms: %s: %s; VM %s is not loaded (the file is left as it is)", path, e.msg, name);
			vm_free(vm);
		} else if (v->n >= VMS_MAX) {
			log_error("vms: more than %d VMs; %s is not loaded", VMS_MAX, path);
			vm_free(vm);
		} else {
			v->vm[v->n++] = vm;
		}
	}
	free(text);
}

void vms_load(struct vms *v)
{
	DIR *dir = opendir(v->dir);
	if (!dir) {
		log_error("vms: cannot read %s: %s", v->dir, strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l <= 5 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		load_one(v, de->d_name);
	}
	closedir(dir);
	log_info("vms: %u VM(s) defined in %s", v->n, v->dir);
}

void vms_free(struct vms *v)
{
	for (unsigned i = 0; i < v->n; i++)
		vm_free(v->vm[i]);
	v->n = 0;
	if (v->epfd >= 0)
		close(v->epfd);
	if (v->timerfd >= 0)
		close(v->timerfd);
}
