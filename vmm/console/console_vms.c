/* The console's VM screens: the list with start and stop, and a VM's
 * serial console attached to this terminal (GET /api/vms/NAME/console every
 * CON_POLL_MS for its output, POST for the keys), left with Ctrl-]. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"

#define MAX_VMS 64
#define CON_POLL_MS 200
#define ATTACH_BACKLOG 2000 /* bytes of earlier output shown on attach */

struct vm_row {
	char name[64], state[16], mem[16];
	int64_t cpus;
};

static int list_vms(struct con *c, struct vm_row *v, int max)
{
	struct capi_resp r;
	struct json_doc d;
	struct json_token *tok;
	int n = 0;
	if (capi_do(c, "GET", "/api/vms", NULL, 5000, &r) != 200 || capi_json(&r, &d, &tok)) {
		capi_free(&r);
		return -1;
	}
	int arr = json_get(&d, 0, "vms");
	for (int i = 0; i < json_array_len(&d, arr) && n < max; i++) {
		int vm = json_array_at(&d, arr, i), def = json_get(&d, vm, "definition");
		memset(&v[n], 0, sizeof(v[n]));
		json_get_string(&d, json_get(&d, vm, "name"), v[n].name, sizeof(v[n].name));
		json_get_string(&d, json_get(&d, vm, "state"), v[n].state, sizeof(v[n].state));
		int mem = json_get(&d, def, "mem");
		if (json_get_string(&d, mem, v[n].mem, sizeof(v[n].mem)) < 0) {
			int64_t b = 0;
			if (!json_get_int64(&d, mem, &b))
				snprintf(v[n].mem, sizeof(v[n].mem), "%lldM", (long long)(b >> 20));
		}
		v[n].cpus = 1;
		json_get_int64(&d, json_get(&d, def, "cpus"), &v[n].cpus);
		n++;
	}
	free(tok);
	capi_free(&r);
	return n;
}

static void vm_action(struct con *c, const char *name, const char *what)
{
	char path[128];
	struct capi_resp r;
	snprintf(path, sizeof(path), "/api/vms/%s/%s", name, what);
	if (capi_do(c, "POST", path, NULL, 10000, &r) / 100 == 2)
		ui_msg(c, false, "%s: %s asked", name, what);
	capi_free(&r);
}

void con_vms(struct con *c)
{
	static struct vm_row v[MAX_VMS];
	struct screen *s = &c->scr;
	int sel = 0, n = 0;
	uint64_t next = 0;
	for (;;) {
		if (con_now_ms() >= next) {
			n = list_vms(c, v, MAX_VMS);
			next = con_now_ms() + CON_REFRESH_MS;
		}
		if (sel >= n)
			sel = n > 0 ? n - 1 : 0;
		ui_frame(c, "virtual machines",
			 "Up/Down: choose  S: start  T: stop  Enter or C: console  Esc: back");
		scr_text(s, 2, 2, A_BOLD, "  %-32s %-11s %8s %5s", "NAME", "STATE", "MEMORY", "CPUS");
		if (n == 0)
			scr_text(s, 4, 4, A_NORMAL, "No VMs are defined; make one in the web console.");
		int first = sel - (s->body - 7) + 1 > 0 ? sel - (s->body - 7) + 1 : 0;
		for (int i = first; i < n && 3 + i - first < s->body - 3; i++)
			scr_text(s, 3 + i - first, 2, i == sel ? A_REV : A_NORMAL, "  %-32s %-11s %8s %5lld ", v[i].name,
				 v[i].state, v[i].mem, (long long)v[i].cpus);
		scr_flush(s);
		int k = con_key(c, CON_REFRESH_MS);
		if (k <= 0)
			continue;
		next = 0;
		c->msg[0] = '\0';
		if (k == K_ESC)
			return;
		if (k == K_UP && sel > 0)
			sel--;
		else if (k == K_DOWN && sel + 1 < n)
			sel++;
		else if (n <= 0)
			continue;
		else if (k == 's' || k == 'S')
			vm_action(c, v[sel].name, "start");
		else if ((k == 't' || k == 'T') && ui_confirm(c, "Stop VM %s?", v[sel].name))
			vm_action(c, v[sel].name, "stop");
		else if (k == K_ENTER || k == 'c' || k == 'C')
			con_attach(c, v[sel].name);
	}
}

/* The guest's bytes as they are, but its CR LF as LF: the tty's output
 * processing (kept on for PID 1's lines, see console_input.c) turns each
 * LF into CR LF again. */
static void write_guest(int fd, const char *p, size_t len)
{
	char out[4096];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			continue;
		out[n++] = p[i];
		if (n == sizeof(out)) {
			scr_write(fd, out, n);
			n = 0;
		}
	}
	scr_write(fd, out, n);
}

/* Fetch and print what the VM wrote since *off. */
static int attach_poll(struct con *c, const char *name, uint64_t *off, bool first)
{
	char path[128];
	struct capi_resp r;
	snprintf(path, sizeof(path), "/api/vms/%s/console?offset=%llu", name, (unsigned long long)*off);
	int e = capi_call(c->sock, "GET", path, NULL, NULL, 0, 5000, &r);
	if (e)
		return e;
	if (r.status == 200 && r.has_offset) {
		const char *p = r.body;
		size_t len = r.len;
		if (first && len > ATTACH_BACKLOG) {
			/* Only the last lines, from a line start: a whole ring at
			 * 115200 baud would take seconds. */
			p += len - ATTACH_BACKLOG;
			const char *nl = memchr(p, '\n', ATTACH_BACKLOG);
			len = ATTACH_BACKLOG;
			if (nl) {
				len -= (size_t)(nl + 1 - p);
				p = nl + 1;
			}
		}
		write_guest(c->fd, p, len);
		*off = r.offset;
	}
	e = r.status == 200 ? 0 : -ENOENT;
	capi_free(&r);
	return e;
}

void con_attach(struct con *c, const char *name)
{
	char head[200], path[128];
	uint64_t off = 0, next = 0;
	bool first = true, gone = false;
	scr_release(&c->scr, true);
	int n = snprintf(head, sizeof(head),
			 "\033[7m Console of VM %s - press Ctrl-] to detach \033[0m\r\n", name);
	scr_write(c->fd, head, (size_t)n);
	snprintf(path, sizeof(path), "/api/vms/%s/console", name);
	for (;;) {
		uint64_t now = con_now_ms();
		if (now >= next) {
			int e = attach_poll(c, name, &off, first);
			if (e && !gone) {
				n = snprintf(head, sizeof(head), "\r\n[the console of %s is not available: %s; Ctrl-] to detach]\r\n",
					     name, e == -ENOENT ? "no such VM" : strerror(-e));
				scr_write(c->fd, head, (size_t)n);
			}
			gone = e != 0;
			first = false;
			next = now + CON_POLL_MS;
			continue;
		}
		char buf[256];
		ssize_t got = con_raw(c, buf, sizeof(buf), (int)(next - now));
		if (got <= 0)
			continue;
		char *detach = memchr(buf, CON_DETACH, (size_t)got);
		size_t send = detach ? (size_t)(detach - buf) : (size_t)got;
		if (send) {
			struct capi_resp r;
			if (!capi_call(c->sock, "POST", path, "application/octet-stream", buf, send, 5000, &r)) {
				if (r.status >= 300) { /* a stopped VM takes no input: say so */
					char why[160];
					capi_error(&r, why, sizeof(why));
					n = snprintf(head, sizeof(head), "\r\n[not sent: %s]\r\n", why);
					scr_write(c->fd, head, (size_t)n);
				}
				capi_free(&r);
			}
			next = 0; /* the echo comes soon: look at once */
		}
		if (detach)
			break;
	}
	ui_msg(c, false, "detached from %s", name);
	scr_invalidate(&c->scr);
}
