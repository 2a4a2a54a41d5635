/* GET and PUT /api/settings: the network and host name in
 * STATE/settings.json (vmm/api/settings.h). The supervisor only stores
 * them; PID 1 applies them at the next boot (initramfs/net_settings.c),
 * because changing the management address under a running API would cut
 * off the client that asked. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/settings.h"
#include "log.h"
#include "supervisor/state.h"

/* The stored settings, or the defaults when there is no file. 0, or -errno
 * with why filled: -EPROTONOSUPPORT for a newer version, -EINVAL for a file
 * that does not parse or check. */
static int settings_load(const struct api_ctx *a, struct settings *s, char *why, size_t why_size)
{
	char path[PATH_MAX], inner[320];
	char *text = NULL;
	size_t len;
	settings_default(s);
	snprintf(path, sizeof(path), "%s/%s", a->state_dir, SETTINGS_FILE);
	int r = state_read_file(path, SETTINGS_MAX_BYTES, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r) {
		snprintf(why, why_size, "%.200s: %.200s", path,
			 r == -EFBIG ? "larger than a settings file can be" : strerror(-r));
		return r == -EFBIG ? -EINVAL : r;
	}
	r = settings_parse(text, len, true, s, inner, sizeof(inner));
	free(text);
	if (r)
		snprintf(why, why_size, "%.200s: %.300s", path, inner);
	return r;
}

static bool is_json(const struct http_request *req)
{
	const struct http_str *ct = http_header_get(req, "Content-Type");
	static const char want[] = "application/json";
	size_t wl = sizeof(want) - 1;
	return ct && ct->len >= wl && !strncasecmp(ct->p, want, wl) &&
	       (ct->len == wl || ct->p[wl] == ';' || ct->p[wl] == ' ');
}

/* s as the reply, with "applies_at" when given. */
static void reply_settings(struct http_response *resp, const struct settings *s, const char *applies_at)
{
	char doc[SETTINGS_JSON_MAX];
	int n = settings_format(s, doc, sizeof(doc));
	struct json_writer w;
	if (n < 0 || http_resp_json_begin(resp, &w, SETTINGS_JSON_MAX + 64)) {
		http_resp_error(resp, 500, "the settings do not fit in a reply");
		return;
	}
	if (applies_at) {
		/* The document's members and one more: drop its closing brace. */
		json_w_raw(&w, doc, (size_t)n - 1);
		w.len += (size_t)snprintf(w.buf + w.len, w.size - w.len, ",\"applies_at\":\"%s\"}", applies_at);
		if (w.len >= w.size)
			w.err = -ENOSPC;
	} else {
		json_w_raw(&w, doc, (size_t)n);
	}
	http_resp_json_end(resp, &w, 200);
}

void api_settings_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		      void *ctx)
{
	(void)req;
	(void)params;
	struct settings s;
	char why[512];
	int r = settings_load(ctx, &s, why, sizeof(why));
	if (r == -EPROTONOSUPPORT)
		http_resp_error(resp, 409, "%s. It was left as it is; start that kvmbox again, or remove the file "
				"to go back to the defaults", why);
	else if (r)
		http_resp_error(resp, 500, "%s; PUT /api/settings replaces it", why);
	else
		reply_settings(resp, &s, NULL);
}

void api_settings_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		      void *ctx)
{
	(void)params;
	const struct api_ctx *a = ctx;
	struct settings s;
	char why[512];
	if (!is_json(req)) {
		http_resp_error(resp, 415, "send the body as Content-Type: application/json");
		return;
	}
	int r = settings_load(a, &s, why, sizeof(why));
	if (r == -EPROTONOSUPPORT) {
		http_resp_error(resp, 409, "%s. It was not overwritten: this kvmbox would lose what it does not "
				"understand", why);
		return;
	}
	if (r) {
		/* A broken file is what the PUT is for: start from the defaults. */
		log_warn("settings: %s; replacing it", why);
		settings_default(&s);
	}
	r = settings_parse(req->body.p, req->body.len, false, &s, why, sizeof(why));
	if (r) {
		http_resp_error(resp, 400, "%s", why);
		return;
	}
	char doc[SETTINGS_JSON_MAX];
	int n = settings_format(&s, doc, sizeof(doc) - 1);
	if (n >= 0) {
		doc[n++] = '\n';
		r = state_write_file(a->state_dir, SETTINGS_FILE, doc, (size_t)n, 0644);
	} else {
		r = n;
	}
	if (r) {
		log_error("settings: cannot write %s/%s: %s", a->state_dir, SETTINGS_FILE, strerror(-r));
		http_resp_error(resp, 500, "cannot save %s/%s: %s; nothing was changed", a->state_dir, SETTINGS_FILE,
				strerror(-r));
		return;
	}
	log_info("settings: saved (network %s, host name %s); they apply at the next boot",
		 s.net_static ? "static" : "DHCP", s.hostname);
	reply_settings(resp, &s, "next boot");
}
