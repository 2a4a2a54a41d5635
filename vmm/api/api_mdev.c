/* POST /api/host/mdevs and DELETE /api/host/mdevs/{uuid}: making and removing
 * mediated device instances, the same work as `kvmbox pci mdev-create` and
 * `mdev-remove` (drivers/vfio/host_mdev.c), which also finds the reasons a
 * person needs (the kernel's own write errors say only EINVAL or ENODEV). */
#include <errno.h>
#include <string.h>

#include "api/api.h"
#include "json.h"
#include "log.h"
#include "vfio/host_pci.h"

#define MDEV_BODY_MAX 1024
#define MDEV_BODY_TOKENS 16

/* host_mdev_*()'s -errno as an HTTP status: a bad name is the caller's
 * mistake, a missing parent, type or instance is not found, and none left,
 * a UUID taken or an instance in use conflict with the host's state. */
static int status_of(int r)
{
	switch (r) {
	case -EINVAL:
		return 400;
	case -ENODEV:
	case -ENOENT:
		return 404;
	case -ENOSPC:
	case -EEXIST:
	case -EBUSY:
		return 409;
	default:
		return 500;
	}
}

/* A string member of the body into buf; 0, or -1 with a 400 in resp.
 * optional: a missing key gives "". */
static int member(const struct json_doc *d, const char *key, char *buf, size_t size, int optional,
		  struct http_response *resp)
{
	int i = json_get(d, 0, key);
	if (i < 0 && optional) {
		buf[0] = '\0';
		return 0;
	}
	int r = json_get_string(d, i, buf, size);
	if (r > 0 || (r == 0 && optional))
		return 0;
	if (i < 0 || r == 0)
		http_resp_error(resp, 400, "\"%s\" is missing", key);
	else if (r == -ENOSPC)
		http_resp_error(resp, 400, "\"%s\" is too long (at most %zu bytes)", key, size - 1);
	else
		http_resp_error(resp, 400, "\"%s\" must be a string", key);
	return -1;
}

void api_mdev_create(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)params;
	(void)ctx;
	if (api_need_json(req, resp))
		return;
	struct json_token tok[MDEV_BODY_TOKENS];
	struct json_doc d;
	struct json_error je;
	char msg[160];
	if (json_parse(&d, req->body.p, req->body.len, MDEV_BODY_MAX, tok, MDEV_BODY_TOKENS, &je)) {
		json_error_format(&je, msg, sizeof(msg));
		http_resp_error(resp, 400, "the body is not valid JSON (at most %d bytes): %s", MDEV_BODY_MAX, msg);
		return;
	}
	if (json_type(&d, 0) != JSON_OBJECT) {
		http_resp_error(resp, 400, "the body must be a JSON object: {\"parent\": ..., \"type\": ...}");
		return;
	}
	char parent[64], type[64], uuid[HOST_MDEV_UUID_LEN], err[256];
	if (member(&d, "parent", parent, sizeof(parent), 0, resp) || member(&d, "type", type, sizeof(type), 0, resp) ||
	    member(&d, "uuid", uuid, sizeof(uuid), 1, resp))
		return;
	int r = host_mdev_create(NULL, parent, type, uuid, err, sizeof(err));
	if (r < 0) {
		http_resp_error(resp, status_of(r), "%s", err);
		return;
	}
	log_info("pci: mdev %s made on %s/%s", uuid, parent, type);
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, 512)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	json_w_key(&w, "uuid");
	json_w_string(&w, uuid);
	json_w_key(&w, "parent");
	json_w_string(&w, parent);
	json_w_key(&w, "type");
	json_w_string(&w, type);
	json_w_end(&w);
	http_resp_json_end(resp, &w, 201);
}

void api_mdev_delete(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)req;
	(void)ctx;
	const struct http_str *p = http_param(params, "uuid");
	char uuid[64], err[256];
	if (p->len >= sizeof(uuid)) {
		http_resp_error(resp, 400, "'%.40s...' is not a UUID", p->p);
		return;
	}
	memcpy(uuid, p->p, p->len);
	uuid[p->len] = '\0';
	int r = host_mdev_remove(NULL, uuid, err, sizeof(err));
	if (r < 0) {
		http_resp_error(resp, status_of(r), "%s", err);
		return;
	}
	log_info("pci: mdev %s removed", uuid);
	http_resp_static(resp, 204, NULL, NULL, 0);
}
