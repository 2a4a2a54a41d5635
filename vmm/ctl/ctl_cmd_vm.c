/* kvmbox ctl: the VMs (/api/vms, see the API section of README.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"

#define VM_DEF_MAX (256 * 1024) /* the server's body limit */
#define CONSOLE_POLL_MS 500

static int vm_path(char *buf, size_t size, const char *name, const char *tail)
{
	snprintf(buf, size, "/api/vms/");
	if (ctl_path_add(buf, size, name) || strlen(buf) + strlen(tail) >= size)
		return ctl_usage_error("the VM name is empty or too long");
	strcat(buf, tail);
	return 0;
}

static void print_state_line(const struct json_doc *d, int vm)
{
	char name[128], state[32];
	printf("%s: %s\n", ctl_jtext(d, vm, "name", name, sizeof(name)), ctl_jtext(d, vm, "state", state, sizeof(state)));
}

/* A reply that is one VM: the state line, or the JSON with --json. */
static int print_vm_reply(struct ctl *c, struct ctl_http_resp *resp)
{
	struct ctl_json j;
	int r = 0;
	if (c->json)
		ctl_print_raw(resp);
	else if (!resp->body_len)
		printf("done\n");
	else if (!ctl_json_parse(&j, resp->body, resp->body_len)) {
		print_state_line(&j.d, 0);
		ctl_json_free(&j);
	} else
		r = CTL_EXIT_API;
	ctl_http_free(resp);
	return r;
}

static int vm_list(struct ctl *c)
{
	static struct ctl_http_resp resp;
	struct ctl_json j;
	bool printed;
	int r = ctl_get_json(c, "/api/vms", &resp, &j, &printed);
	if (r || printed)
		return r;
	const struct json_doc *d = &j.d;
	int arr = json_get(d, 0, "vms"), n = json_array_len(d, arr);
	if (n <= 0)
		printf("(no VMs)\n");
	else
		printf("%-20s  %-10s  %7s  %-10s  %8s  %4s  %-6s  %s\n", "NAME", "STATE", "PID", "UPTIME", "RESTARTS", "CPUS",
		       "MEM", "NOTE");
	for (int i = 0; i < n; i++) {
		int vm = json_array_at(d, arr, i), def = json_get(d, vm, "definition");
		char name[128], state[32], pid[24], up[32] = "-", rs[24], cpus[16], mem[32];
		double s;
		bool pending = false;
		if (!json_get_double(d, json_get(d, vm, "uptime_s"), &s))
			ctl_fmt_duration(s, up, sizeof(up));
		json_get_bool(d, json_get(d, vm, "pending_changes"), &pending);
		printf("%-20s  %-10s  %7s  %-10s  %8s  %4s  %-6s  %s\n", ctl_jtext(d, vm, "name", name, sizeof(name)),
		       ctl_jtext(d, vm, "state", state, sizeof(state)), ctl_jtext(d, vm, "pid", pid, sizeof(pid)), up,
		       ctl_jtext(d, vm, "restarts", rs, sizeof(rs)), ctl_jtext(d, def, "cpus", cpus, sizeof(cpus)),
		       ctl_jtext(d, def, "mem", mem, sizeof(mem)), pending ? "changed: takes effect at the next start" : "");
	}
	ctl_json_free(&j);
	ctl_http_free(&resp);
	return 0;
}

/* GET /api/vms/NAME + what, printed as text (or raw with --json). */
static int vm_show(struct ctl *c, const char *name, const char *what)
{
	char path[256];
	if (vm_path(path, sizeof(path), name, what))
		return CTL_EXIT_USAGE;
	static struct ctl_http_resp resp;
	struct ctl_json j;
	bool printed;
	int r = ctl_get_json(c, path, &resp, &j, &printed);
	if (!r && !printed) {
		ctl_print_value(&j.d, 0, 0);
		ctl_json_free(&j);
		ctl_http_free(&resp);
	}
	return r;
}

/* create (POST /api/vms) or edit (PUT /api/vms/NAME) from a file or stdin. */
static int vm_define(struct ctl *c, const char *method, const char *path, const char *file)
{
	char *def;
	size_t len;
	int e = ctl_read_file(file, VM_DEF_MAX, &def, &len);
	if (e)
		return ctl_usage_error("%s: %s", strcmp(file, "-") ? file : "stdin",
				       e == -EFBIG ? "larger than a VM definition can be (256 KiB)" : strerror(-e));
	struct ctl_json j;
	/* Said here, with the file's name, rather than as the server's 400. */
	if (ctl_json_parse(&j, def, len)) {
		free(def);
		return ctl_usage_error("%s: not valid JSON (see above)", file);
	}
	ctl_json_free(&j);
	static struct ctl_http_resp resp;
	int r = ctl_api(c, method, path, def, &resp);
	free(def);
	return r ? r : print_vm_reply(c, &resp);
}

static int vm_console(struct ctl *c, const char *name)
{
	char base[256], path[300];
	if (vm_path(base, sizeof(base), name, "/console"))
		return CTL_EXIT_USAGE;
	static struct ctl_http_resp resp;
	uint64_t offset = 0;
	bool have_offset = false;
	for (;;) {
		if (have_offset)
			snprintf(path, sizeof(path), "%s?offset=%" PRIu64, base, offset);
		else
			snprintf(path, sizeof(path), "%s", base);
		int r = ctl_api(c, "GET", path, NULL, &resp);
		if (r)
			return r;
		fwrite(resp.body, 1, resp.body_len, stdout);
		fflush(stdout);
		const char *next = ctl_http_header(&resp, "X-Console-Offset");
		const char *start = ctl_http_header(&resp, "X-Console-Start");
		uint64_t s = start ? strtoull(start, NULL, 10) : 0;
		if (have_offset && start && s > offset)
			fprintf(stderr, "\n[kvmbox ctl: %" PRIu64 " bytes of console output were overwritten before they "
					"could be read]\n", s - offset);
		if (next)
			offset = strtoull(next, NULL, 10);
		else
			offset += resp.body_len;
		have_offset = true;
		ctl_http_free(&resp);
		if (!c->follow)
			return 0;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = CONSOLE_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static const char *const actions[] = { "start", "stop", "reboot", "pause", "resume", NULL };

int ctl_cmd_vm(struct ctl *c, int argc, char **argv)
{
	static struct ctl_http_resp resp;
	char path[300];
	const char *sub = argc > 1 ? argv[1] : "";
	if (argc == 2 && !strcmp(sub, "list"))
		return vm_list(c);
	if (argc == 3 && !strcmp(sub, "show"))
		return vm_show(c, argv[2], "");
	if (argc == 3 && !strcmp(sub, "create"))
		return vm_define(c, "POST", "/api/vms", argv[2]);
	if (argc == 4 && !strcmp(sub, "edit"))
		return vm_path(path, sizeof(path), argv[2], "") ?: vm_define(c, "PUT", path, argv[3]);
	if (argc == 3 && !strcmp(sub, "delete")) {
		if (vm_path(path, sizeof(path), argv[2], ""))
			return CTL_EXIT_USAGE;
		int r = ctl_api(c, "DELETE", path, NULL, &resp);
		if (r)
			return r;
		ctl_http_free(&resp);
		printf("%s: deleted\n", argv[2]);
		return 0;
	}
	for (int i = 0; actions[i]; i++)
		if (argc == 3 && !strcmp(sub, actions[i])) {
			char tail[16];
			snprintf(tail, sizeof(tail), "/%s", sub);
			if (vm_path(path, sizeof(path), argv[2], tail))
				return CTL_EXIT_USAGE;
			if (c->force && strcmp(sub, "stop"))
				return ctl_usage_error("--force goes with stop only");
			int r = ctl_api(c, "POST", path, c->force ? "{\"force\":true}" : NULL, &resp);
			return r ? r : print_vm_reply(c, &resp);
		}
	if (argc == 3 && !strcmp(sub, "console"))
		return vm_console(c, argv[2]);
	if (argc == 3 && !strcmp(sub, "counters"))
		return vm_show(c, argv[2], "/counters");
	if (argc == 3 && !strcmp(sub, "log"))
		return vm_path(path, sizeof(path), argv[2], "/log") ?: ctl_get_text(c, path);
	return ctl_usage_error("usage: kvmbox ctl vm list | show NAME | create FILE.json|- | edit NAME FILE.json|- |\n"
			       "  delete NAME | start|stop|reboot|pause|resume NAME | console NAME [--follow] |\n"
			       "  counters NAME | log NAME");
}
