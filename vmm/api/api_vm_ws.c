/* GET /api/vms/{name}/console/ws: a VM's serial console as a WebSocket.
 *
 * On connect the viewer gets a text frame {"offset":N}, the offset of the
 * next console byte it will receive, then the ring from there (by default
 * everything kept, so it sees what happened before it opened), then every
 * new byte as it enters the ring, all as binary frames: a client that counts
 * bytes from N always knows where to reconnect (?offset=). Frames from the
 * client, text or binary, are typed into the console. Input the VM cannot
 * take (it is not running, or not reading) is answered with a text frame
 * {"error":{"code":..,"message":..}} and the socket stays open: it watches
 * the VM's ring, which outlives the VMM process, so it spans stops, starts
 * and reboots. It ends with 1001 when the VM is deleted.
 *
 * Browsers cannot put headers on a WebSocket, so they authenticate with the
 * session cookie, which they would also send with an upgrade that another
 * site starts: the Origin must therefore name this very host (else 403),
 * and without an Origin only a bearer token (or the local socket) will do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "http/http_ws.h"
#include "json.h"
#include "supervisor/vms.h"

#define REPLAY_CHUNK 16384 /* bytes of ring per frame when replaying */

struct vm_ws {
	struct vms_console_sub sub; /* first: the registry hands it back */
	struct api_ctx *a;
	struct sv_vm *vm;           /* NULL once the VM is deleted */
	struct http_ws *ws;         /* NULL until the 101 is out */
	uint64_t offset;            /* where the replay starts */
};

/* A text frame: {"error":{"code":..,"message":..}} or {"offset":N}. */
static void send_json(struct vm_ws *w, int status, const char *message, uint64_t offset)
{
	char buf[1024];
	struct json_writer jw;
	json_w_init(&jw, buf, sizeof(buf));
	json_w_begin_object(&jw);
	if (message) {
		json_w_key(&jw, "error");
		json_w_begin_object(&jw);
		json_w_key(&jw, "code");
		json_w_string(&jw, http_status_code(status));
		json_w_key(&jw, "message");
		json_w_string(&jw, message);
		json_w_end(&jw);
	} else {
		json_w_key(&jw, "offset");
		json_w_uint(&jw, offset);
	}
	json_w_end(&jw);
	if (json_w_finish(&jw) == 0)
		http_ws_send(w->ws, HTTP_WS_TEXT, buf, jw.len);
}

static void on_bytes(struct vms_console_sub *s, const char *p, size_t n, uint64_t offset)
{
	struct vm_ws *w = (struct vm_ws *)s;
	(void)offset; /* every byte passes here in order: the count is enough */
	if (w->ws) /* before the 101 is out, the replay at open will carry them */
		http_ws_send(w->ws, HTTP_WS_BINARY, p, n);
}

static void on_gone(struct vms_console_sub *s)
{
	struct vm_ws *w = (struct vm_ws *)s;
	w->vm = NULL;
	if (w->ws)
		http_ws_close(w->ws, HTTP_WS_GOING_AWAY, "the VM was deleted");
}

static void on_open(void *arg, struct http_ws *ws)
{
	struct vm_ws *w = arg;
	w->ws = ws;
	if (!w->vm) {
		http_ws_close(ws, HTTP_WS_GOING_AWAY, "the VM was deleted");
		return;
	}
	const struct sv_ring *ring = &w->vm->console;
	uint64_t at = w->offset, start = sv_ring_start(ring);
	if (at < start)
		at = start; /* older bytes are gone: say where this really starts */
	if (at > ring->total)
		at = ring->total; /* an offset of an earlier VM of that name */
	send_json(w, 0, NULL, at);
	char buf[REPLAY_CHUNK];
	while (at < ring->total) {
		uint64_t next;
		size_t n = sv_ring_read(ring, at, buf, sizeof(buf), &next);
		if (!n || http_ws_send(ws, HTTP_WS_BINARY, buf, n))
			break;
		at = next;
	}
}

static void on_message(void *arg, struct http_ws *ws, bool text, const uint8_t *p, size_t len)
{
	struct vm_ws *w = arg;
	struct vms_err e;
	(void)ws;
	(void)text; /* keystrokes either way: a browser sends text, a tool may send bytes */
	if (!w->vm) {
		send_json(w, 404, "the VM was deleted", 0);
		return;
	}
	if (len && vms_console_input(w->a->vms, w->vm, p, len, &e))
		send_json(w, e.status, e.msg, 0);
}

static void on_closed(void *arg)
{
	struct vm_ws *w = arg;
	if (w->vm)
		vms_console_unsubscribe(w->vm, &w->sub);
	free(w);
}

static const struct http_ws_ops vm_ws_ops = {
	.open = on_open,
	.message = on_message,
	.closed = on_closed,
};

/* 0 if the upgrade may come from where it says it comes from; else a 403
 * in resp. The Origin must be this host: "https://" or "http://" and then
 * exactly the Host the request was sent to. */
static int origin_ok(const struct api_ctx *a, const struct http_request *req, struct http_response *resp)
{
	const struct api_who *who = &a->auth->who;
	const struct http_str *o = http_header_get(req, "Origin");
	if (!o) {
		if (who->token || who->local)
			return 0; /* not a browser: nothing it sends is another site's doing */
		http_resp_error(resp, 403, "a console WebSocket with the session cookie needs an Origin header");
		return -1;
	}
	struct http_str rest = *o;
	static const char *const schemes[] = { "https://", "http://" };
	for (size_t i = 0; i < 2; i++) {
		size_t sl = strlen(schemes[i]);
		if (o->len > sl && !strncasecmp(o->p, schemes[i], sl)) {
			rest.p = o->p + sl;
			rest.len = o->len - sl;
			break;
		}
	}
	if (rest.p == o->p || !req->host.len || rest.len != req->host.len ||
	    strncasecmp(rest.p, req->host.p, rest.len)) {
		http_resp_error(resp, 403, "the WebSocket's Origin is not this host: a page of another site "
				"cannot open the console");
		return -1;
	}
	return 0;
}

void api_vm_console_ws(const struct http_request *req, const struct http_params *params,
		       struct http_response *resp, void *ctx)
{
	struct api_ctx *a = ctx;
	const struct http_str *n = http_param(params, "name");
	struct sv_vm *vm = n ? vms_find(a->vms, n->p, n->len) : NULL;
	if (!vm) {
		http_resp_error(resp, 404, "no VM named \"%.*s\"", n ? (int)(n->len > 64 ? 64 : n->len) : 0,
				n ? n->p : "");
		return;
	}
	if (origin_ok(a, req, resp))
		return;
	uint64_t off;
	if (api_query_offset(req, &off)) {
		http_resp_error(resp, 400, "offset must be a whole number of bytes, such as ?offset=1024");
		return;
	}
	struct vm_ws *w = calloc(1, sizeof(*w));
	if (!w) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	w->a = a;
	w->vm = vm;
	w->offset = off;
	w->sub.bytes = on_bytes;
	w->sub.gone = on_gone;
	/* From now: the 101 may wait for the socket, and the VM may be deleted
	 * meanwhile; gone() tells. */
	vms_console_subscribe(vm, &w->sub);
	http_ws_accept(req, resp, &vm_ws_ops, w);
}
