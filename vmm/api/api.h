/* The supervisor's REST API: routes and handlers, JSON over HTTPS.
 * Every route is described in vmm/api/openapi.yaml, served at
 * /api/openapi.yaml; tests/web/https_test.py checks the two agree. */
#ifndef KVMBOX_API_H
#define KVMBOX_API_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_router.h"
#include "http/http_server.h"

/* What the handlers may read; owned by the supervisor. */
struct api_ctx {
	const char *state_dir;
	bool state_in_ram;
	const char *tls_fingerprint;
	const char *tls_source; /* "user" or "self-signed" */
};

extern const struct http_route api_routes[];
extern const size_t api_nroutes;

/* The dispatch function for the HTTPS listener; ctx is a struct api_ctx. */
void api_dispatch(const struct http_request *req, const struct http_conn_info *info, struct http_response *resp,
		  void *ctx);

/* vmm/api/openapi.yaml, embedded at build time (out/gen/api_openapi.c). */
extern const char api_openapi_yaml[];
extern const size_t api_openapi_yaml_len;

void api_get_host(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx);
void api_get_openapi(const struct http_request *req, const struct http_params *params,
		     struct http_response *resp, void *ctx);

#endif
