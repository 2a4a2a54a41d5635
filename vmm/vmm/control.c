/* Control requests: {"cmd": "status" | "pause" | "resume" | "stop" |
 * "powerbutton" | "counters"}, with "force": true for a hard stop. Replies
 * are {"ok": true, ...} or {"ok": false, "error": "..."}; a bad request
 * never changes the VM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "kvm/kvm.h"
#include "vmm/control.h"

static size_t reply_error(char *reply, size_t size, const char *msg)
{
	struct json_writer w;
	json_w_init(&w, reply, size - 1);
	json_w_begin_object(&w);
	json_w_key(&w, "ok");
	json_w_bool(&w, false);
	json_w_key(&w, "error");
	json_w_string(&w, msg);
	json_w_end(&w);
	if (json_w_finish(&w) < 0)
		return (size_t)snprintf(reply, size, "{\"ok\":false,\"error\":\"reply too long\"}\n");
	reply[w.len] = '\n';
	reply[w.len + 1] = '\0';
	return w.len + 1;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_counters(struct json_writer *w, struct vm *vm)
{
	struct vcpu_counters c;
	vm_counters(vm, &c, 1);
	json_w_key(w, "exits");
	json_w_begin_object(w);
	for (int k = 0; k < EXIT_KINDS; k++) {
		json_w_key(w, vm_exit_names[k]);
		json_w_uint(w, c.exits[k]);
	}
	json_w_end(w);
	json_w_key(w, "handler_us");
	json_w_begin_object(w);
	for (int k = 0; k < EXIT_KINDS; k++) {
		json_w_key(w, vm_exit_names[k]);
		json_w_uint(w, c.handler_ns[k] / 1000);
	}
	json_w_end(w);
	json_w_key(w, "vcpu_run_us");
	json_w_uint(w, c.run_ns / 1000);
	json_w_key(w, "unhandled_io");
	json_w_uint(w, __atomic_exchange_n(&vm->unhandled_io, 0, __ATOMIC_RELAXED));
}

size_t control_handle(struct vmm_state *s, const char *line, size_t len, char *reply, size_t size)
{
	struct json_token tok[32];
	struct json_doc doc;
	struct json_error jerr;
	if (json_parse(&doc, line, len, CONTROL_LINE_MAX, tok, 32, &jerr) < 0) {
		char msg[160];
		json_error_format(&jerr, msg, sizeof(msg));
		return reply_error(reply, size, msg);
	}
	char cmd[32];
	if (json_type(&doc, 0) != JSON_OBJECT || json_get_string(&doc, json_get(&doc, 0, "cmd"), cmd, sizeof(cmd)) < 0)
		return reply_error(reply, size, "a request is a JSON object with a \"cmd\" string");
	bool force = false;
	int fi = json_get(&doc, 0, "force");
	if (fi >= 0 && json_get_bool(&doc, fi, &force) < 0)
		return reply_error(reply, size, "\"force\" must be true or false");

	struct vm *vm = s->vm;
	struct json_writer w;
	json_w_init(&w, reply, size - 1);
	json_w_begin_object(&w);
	json_w_key(&w, "ok");
	json_w_bool(&w, true);
	if (!strcmp(cmd, "status")) {
		json_w_key(&w, "state");
		json_w_string(&w, atomic_load(&vm->stop) != VM_RUNNING ? "stopping" : vm->paused ? "paused" : s->stopping ? "stopping" : "running");
		json_w_key(&w, "vcpus");
		json_w_int(&w, vm->ncpus);
		json_w_key(&w, "mem_mib");
		json_w_uint(&w, s->mem_mib);
		json_w_key(&w, "uptime_s");
		json_w_double(&w, mono_now() - s->started);
	} else if (!strcmp(cmd, "pause")) {
		vm_pause(vm, 1);
	} else if (!strcmp(cmd, "resume")) {
		vm_pause(vm, 0);
	} else if (!strcmp(cmd, "powerbutton")) {
		vm_press_power_button(vm);
	} else if (!strcmp(cmd, "stop")) {
		s->request_stop(s, force);
	} else if (!strcmp(cmd, "counters")) {
		write_counters(&w, vm);
	} else {
		char msg[128];
		snprintf(msg, sizeof(msg), "unknown cmd \"%s\"; try status, pause, resume, stop, powerbutton or counters", cmd);
		return reply_error(reply, size, msg);
	}
	json_w_end(&w);
	if (json_w_finish(&w) < 0)
		return reply_error(reply, size, "reply too long");
	reply[w.len] = '\n';
	reply[w.len + 1] = '\0';
	return w.len + 1;
}
