/* The API's route table and dispatch. Add a route here and describe it in
 * openapi.yaml; the HTTPS test fails when the two differ. */
#include "api/api.h"

const struct http_route api_routes[] = {
	{ HTTP_GET, "/api/openapi.yaml", api_get_openapi },
	{ HTTP_GET, "/api/host", api_get_host },
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

void api_dispatch(const struct http_request *req, const struct http_conn_info *info, struct http_response *resp,
		  void *ctx)
{
	(void)info;
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
