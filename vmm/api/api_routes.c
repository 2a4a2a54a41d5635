/* The API's route table and dispatch. Add a route here and describe it in
 * openapi.yaml; the HTTPS test fails when the two differ. */
#include "api/api.h"

const struct http_route api_routes[] = {
	{ HTTP_GET, "/api/openapi.yaml", api_get_openapi },
	{ HTTP_GET, "/api/host", api_get_host },
	{ HTTP_GET, "/api/host/pci", api_get_pci },
	{ HTTP_POST, "/api/auth/setup", api_auth_setup },
	{ HTTP_POST, "/api/auth/login", api_auth_login },
	{ HTTP_POST, "/api/auth/logout", api_auth_logout },
	{ HTTP_GET, "/api/auth/session", api_auth_session },
	{ HTTP_POST, "/api/auth/password", api_auth_password },
	{ HTTP_GET, "/api/auth/tokens", api_auth_tokens_list },
	{ HTTP_POST, "/api/auth/tokens", api_auth_tokens_create },
	{ HTTP_DELETE, "/api/auth/tokens/{id}", api_auth_tokens_delete },
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

void api_dispatch(const struct http_request *req, const struct http_conn_info *info, struct http_response *resp,
		  void *ctx)
{
	/* Authentication first; a path or method with no route still gets its
	 * 404 or 405 without it (which routes exist is no secret). */
	if (!api_auth_gate(ctx, req, info, resp)) {
		/* RFC 9110 11.6.1: a 401 names the scheme that would work. */
		if (resp->status == 401)
			http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"kvmbox\"");
		return;
	}
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
