/* The API's route table and dispatch. Add a route here and describe it in
 * openapi.yaml; the HTTPS test fails when the two differ. */
#include <strings.h>

#include "api/api.h"
#include "api/api_webui.h"

const struct http_route api_routes[] = {
	{ HTTP_GET, "/api/openapi.yaml", api_get_openapi },
	{ HTTP_GET, "/api/host", api_get_host },
	{ HTTP_GET, "/api/host/pci", api_get_pci },
	{ HTTP_POST, "/api/host/mdevs", api_mdev_create },
	{ HTTP_DELETE, "/api/host/mdevs/{uuid}", api_mdev_delete },
	{ HTTP_POST, "/api/auth/setup", api_auth_setup },
	{ HTTP_POST, "/api/auth/login", api_auth_login },
	{ HTTP_POST, "/api/auth/logout", api_auth_logout },
	{ HTTP_GET, "/api/auth/session", api_auth_session },
	{ HTTP_POST, "/api/auth/password", api_auth_password },
	{ HTTP_POST, "/api/auth/reset", api_auth_reset }, /* local socket only */
	{ HTTP_GET, "/api/auth/tokens", api_auth_tokens_list },
	{ HTTP_POST, "/api/auth/tokens", api_auth_tokens_create },
	{ HTTP_DELETE, "/api/auth/tokens/{id}", api_auth_tokens_delete },
	{ HTTP_GET, "/api/vms", api_vms_list },
	{ HTTP_POST, "/api/vms", api_vms_create },
	{ HTTP_GET, "/api/vms/{name}", api_vm_get },
	{ HTTP_PUT, "/api/vms/{name}", api_vm_put },
	{ HTTP_DELETE, "/api/vms/{name}", api_vm_delete },
	{ HTTP_POST, "/api/vms/{name}/start", api_vm_start },
	{ HTTP_POST, "/api/vms/{name}/stop", api_vm_stop },
	{ HTTP_POST, "/api/vms/{name}/reboot", api_vm_reboot },
	{ HTTP_POST, "/api/vms/{name}/pause", api_vm_pause },
	{ HTTP_POST, "/api/vms/{name}/resume", api_vm_resume },
	{ HTTP_GET, "/api/vms/{name}/console", api_vm_console_get },
	{ HTTP_POST, "/api/vms/{name}/console", api_vm_console_post },
	{ HTTP_GET, "/api/vms/{name}/console/ws", api_vm_console_ws },
	{ HTTP_GET, "/api/vms/{name}/counters", api_vm_counters },
	{ HTTP_GET, "/api/vms/{name}/log", api_vm_log },
	{ HTTP_GET, "/api/logs", api_logs },
	{ HTTP_GET, "/api/images", api_images_list },
	{ HTTP_GET, "/api/images/{name}", api_images_get },
	{ HTTP_PUT, "/api/images/{name}", api_images_put }, /* streamed: see api_head_routes */
	{ HTTP_DELETE, "/api/images/{name}", api_images_delete },
	{ HTTP_GET, "/api/settings", api_settings_get },
	{ HTTP_PUT, "/api/settings", api_settings_put },
	{ HTTP_GET, "/api/settings/certificate", api_cert_get },
	{ HTTP_PUT, "/api/settings/certificate", api_cert_put },
	{ HTTP_DELETE, "/api/settings/certificate", api_cert_delete },
	{ HTTP_POST, "/api/settings/certificate/regenerate", api_cert_regenerate },
	{ HTTP_GET, "/api/networks", api_networks_get },
	/* The web console (web-ui/): public, see api_auth_gate.c. */
	{ HTTP_GET, "/", api_webui_index },
	{ HTTP_GET, "/assets/{name}", api_webui_asset },
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

/* Routes that take their body as a stream, looked at before it is read. */
static const struct http_head_route api_head_routes[] = {
	{ HTTP_PUT, "/api/images/{name}", api_images_put_head },
};

void api_dispatch(const struct http_request *req, const struct http_conn_info *info, struct http_response *resp,
		  void *ctx)
{
	/* Authentication first; a path or method with no route still gets its
	 * 404 or 405 without it (which routes exist is no secret). The server
	 * also calls this at the end of a head with a body (req->body_pending),
	 * so a refusal goes out before any body byte is read. */
	if (!api_auth_gate(ctx, req, info, resp)) {
		/* RFC 9110 11.6.1: a 401 names the scheme that would work. */
		if (resp->status == 401)
			http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"kvmbox\"");
		return;
	}
	if (req->body_pending)
		http_route_head(api_head_routes, sizeof(api_head_routes) / sizeof(api_head_routes[0]), req, resp, ctx);
	else
		http_route(api_routes, api_nroutes, req, resp, ctx);
}

void api_get_openapi(const struct http_request *req, const struct http_params *params,
		     struct http_response *resp, void *ctx)
{
	(void)req;
	(void)params;
	(void)ctx;
	http_resp_static(resp, 200, "application/yaml", api_openapi_yaml, api_openapi_yaml_len);
}

int api_need_json(const struct http_request *req, struct http_response *resp)
{
	const struct http_str *ct = http_header_get(req, "Content-Type");
	static const char want[] = "application/json";
	size_t wl = sizeof(want) - 1;
	if (!ct || ct->len < wl || strncasecmp(ct->p, want, wl) ||
	    (ct->len > wl && ct->p[wl] != ';' && ct->p[wl] != ' ')) {
		http_resp_error(resp, 415, "send the body as Content-Type: application/json");
		return -1;
	}
	return 0;
}
