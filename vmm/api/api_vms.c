/* /api/vms/...: VM definitions, lifecycle requests, console, counters and
 * logs; and /api/logs, the supervisor's own log. The registry itself is in
 * vmm/supervisor/ (vms.h); these handlers only translate HTTP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "log.h"
#include "supervisor/vms.h"

#define LOG_READ_MAX (256 * 1024)

static struct vms *vms_of(void *ctx)
{
	return ((struct api_ctx *)ctx)->vms;
}

static void reply_err(struct http_response *resp, const struct vms_err *e)
{
	http_resp_error(resp, e->status, "%s", e->msg);
}

/* The VM named in the URL, or a 404 already in resp. */
static struct sv_vm *vm_of(void *ctx, const struct http_params *params, struct http_response *resp)
{
	const struct http_str *n = http_param(params, "name");
	struct sv_vm *vm = n ? vms_find(vms_of(ctx), n->p, n->len) : NULL;
	if (!vm)
		http_resp_error(resp, 404, "no VM named \"%.*s\"", n ? (int)(n->len > 64 ? 64 : n->len) : 0,
				n ? n->p : "");
	return vm;
}

static void reply_vm(struct http_response *resp, struct vms *v, const struct sv_vm *vm, int status)
{
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, vm->def_len + 4096)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	vms_write_json(v, vm, &w);
	http_resp_json_end(resp, &w, status);
}

void api_vms_list(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx)
{
	(void)req;
	(void)params;
	struct vms *v = vms_of(ctx);
	size_t cap = 1024;
	for (unsigned i = 0; i < v->n; i++)
		cap += v->vm[i]->def_len + 1024;
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, cap)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	json_w_key(&w, "vms");
	json_w_begin_array(&w);
	for (unsigned i = 0; i < v->n; i++)
		vms_write_json(v, v->vm[i], &w);
	json_w_end(&w);
	json_w_key(&w, "can_start");
	json_w_bool(&w, v->kvm_ok);
	if (!v->kvm_ok) {
		json_w_key(&w, "why_not");
		json_w_string(&w, v->kvm_why);
	}
	json_w_key(&w, "in_ram");
	json_w_bool(&w, v->in_ram);
	json_w_end(&w);
	http_resp_json_end(resp, &w, 200);
}

void api_vms_create(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx)
{
	(void)params;
	if (api_need_json(req, resp))
		return;
	struct vms *v = vms_of(ctx);
	struct vms_err e;
	struct sv_vm *vm;
	if (vms_create(v, req->body.p, req->body.len, false, &vm, &e)) {
		reply_err(resp, &e);
		return;
	}
	char loc[128];
	snprintf(loc, sizeof(loc), "/api/vms/%s", vm->name);
	reply_vm(resp, v, vm, 201);
	http_resp_header(resp, "Location", loc);
}

void api_vm_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx)
{
	(void)req;
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (vm)
		reply_vm(resp, vms_of(ctx), vm, 200);
}

void api_vm_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx)
{
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (!vm || api_need_json(req, resp))
		return;
	struct vms_err e;
	if (vms_update(vms_of(ctx), vm, req->body.p, req->body.len, &e))
		reply_err(resp, &e);
	else
		reply_vm(resp, vms_of(ctx), vm, 200);
}

void api_vm_delete(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		   void *ctx)
{
	(void)req;
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (!vm)
		return;
	struct vms_err e;
	if (vms_delete(vms_of(ctx), vm, &e))
		reply_err(resp, &e);
	else
		http_resp_static(resp, 204, NULL, NULL, 0);
}

/* {"force": true} in an optional JSON body. */
static int body_force(const struct http_request *req, bool *force, struct http_response *resp)
{
	*force = false;
	if (!req->body.len)
		return 0;
	struct json_token tok[8];
	struct json_doc d;
	struct json_error je;
	int fi;
	if (json_parse(&d, req->body.p, req->body.len, 256, tok, 8, &je) || json_type(&d, 0) != JSON_OBJECT ||
	    ((fi = json_get(&d, 0, "force")) >= 0 && json_get_bool(&d, fi, force) < 0)) {
		http_resp_error(resp, 400, "the body, if any, is {\"force\": true} or {\"force\": false}");
		return -1;
	}
	return 0;
}

enum vm_action { ACT_START, ACT_STOP, ACT_REBOOT, ACT_PAUSE, ACT_RESUME };

static void vm_action(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		      void *ctx, enum vm_action act)
{
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (!vm)
		return;
	struct vms *v = vms_of(ctx);
	struct vms_err e;
	bool force = false;
	int r;
	switch (act) {
	case ACT_START: r = vms_start(v, vm, &e); break;
	case ACT_STOP:
		if (body_force(req, &force, resp))
			return;
		r = vms_stop(v, vm, force, &e);
		break;
	case ACT_REBOOT: r = vms_reboot(v, vm, &e); break;
	case ACT_PAUSE: r = vms_pause(v, vm, true, &e); break;
	default: r = vms_pause(v, vm, false, &e); break;
	}
	if (r)
		reply_err(resp, &e);
	else
		reply_vm(resp, v, vm, act == ACT_PAUSE || act == ACT_RESUME ? 200 : 202);
}

void api_vm_start(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx)
{
	vm_action(req, params, resp, ctx, ACT_START);
}

void api_vm_stop(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		 void *ctx)
{
	vm_action(req, params, resp, ctx, ACT_STOP);
}

void api_vm_reboot(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		   void *ctx)
{
	vm_action(req, params, resp, ctx, ACT_REBOOT);
}

void api_vm_pause(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx)
{
	vm_action(req, params, resp, ctx, ACT_PAUSE);
}

void api_vm_resume(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		   void *ctx)
{
	vm_action(req, params, resp, ctx, ACT_RESUME);
}

/* ?offset=N from the query string; 0 when absent. -1 when malformed. */
int api_query_offset(const struct http_request *req, uint64_t *out)
{
	*out = 0;
	const char *q = req->query.p, *end = q + req->query.len;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *e = amp ? amp : end;
		if (e - q >= 7 && !memcmp(q, "offset=", 7)) {
			uint64_t n = 0;
			const char *p = q + 7;
			if (p == e)
				return -1;
			for (; p < e; p++) {
				if (*p < '0' || *p > '9' || n > (UINT64_MAX - 9) / 10)
					return -1;
				n = n * 10 + (uint64_t)(*p - '0');
			}
			*out = n;
		}
		q = e + 1;
	}
	return 0;
}

/* Bytes of a ring from ?offset=, as text, with the offsets in headers. */
static void reply_ring(const struct http_request *req, struct http_response *resp, const struct sv_ring *ring)
{
	uint64_t off, next;
	if (api_query_offset(req, &off)) {
		http_resp_error(resp, 400, "offset must be a whole number of bytes, such as ?offset=1024");
		return;
	}
	size_t cap = ring->cap;
	char *buf = malloc(cap ? cap : 1);
	if (!buf) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	size_t n = sv_ring_read(ring, off, buf, cap, &next);
	http_resp_static(resp, 200, "text/plain; charset=utf-8", buf, n);
	resp->body_owned = true;
	char h[32];
	snprintf(h, sizeof(h), "%llu", (unsigned long long)next);
	http_resp_header(resp, "X-Console-Offset", h);
	snprintf(h, sizeof(h), "%llu", (unsigned long long)sv_ring_start(ring));
	http_resp_header(resp, "X-Console-Start", h);
}

void api_vm_console_get(const struct http_request *req, const struct http_params *params,
			struct http_response *resp, void *ctx)
{
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (vm)
		reply_ring(req, resp, &vm->console);
}

void api_vm_console_post(const struct http_request *req, const struct http_params *params,
			 struct http_response *resp, void *ctx)
{
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (!vm)
		return;
	struct vms_err e;
	if (vms_console_input(vms_of(ctx), vm, req->body.p, req->body.len, &e))
		reply_err(resp, &e);
	else
		http_resp_static(resp, 204, NULL, NULL, 0);
}

void api_vm_log(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx)
{
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (vm)
		reply_ring(req, resp, &vm->log);
}

void api_vm_counters(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)req;
	struct sv_vm *vm = vm_of(ctx, params, resp);
	if (!vm)
		return;
	if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
		http_resp_error(resp, 409, "VM %s is %s; counters exist only while it runs", vm->name,
				vms_state_name(vm->state));
		return;
	}
	static char reply[8192];
	struct vms_err e;
	if (vms_control(vm, "{\"cmd\":\"counters\"}", reply, sizeof(reply), &e)) {
		reply_err(resp, &e);
		return;
	}
	/* The VMM's reply is {"ok":true,"exits":{..},...}: pass it on with
	 * the VM's name and state in front. */
	char *nl = strchr(reply, '\n');
	if (nl)
		*nl = '\0';
	const char *rest = strchr(reply, ',');
	size_t cap = strlen(reply) + 256;
	char *out = malloc(cap);
	if (!out) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	/* Names are letters, digits, - and _: nothing to escape. */
	int n = snprintf(out, cap, "{\"name\":\"%s\",\"state\":\"%s\",\"uptime_s\":%.1f%s", vm->name,
			 vms_state_name(vm->state), vms_now() - vm->started, rest ? rest : "}");
	http_resp_static(resp, 200, "application/json", out, (size_t)n);
	resp->body_owned = true;
}

void api_logs(const struct http_request *req, const struct http_params *params, struct http_response *resp,
	      void *ctx)
{
	(void)req;
	(void)params;
	(void)ctx;
	char *buf = malloc(LOG_READ_MAX);
	if (!buf) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	size_t n = log_ring_read(buf, LOG_READ_MAX);
	http_resp_static(resp, 200, "text/plain; charset=utf-8", buf, n);
	resp->body_owned = true;
}
