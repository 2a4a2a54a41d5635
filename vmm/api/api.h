/* The supervisor's REST API: routes and handlers, JSON over HTTPS.
 * Every route is described in vmm/api/openapi.yaml, served at
 * /api/openapi.yaml; tests/web/https_test.py checks the two agree. */
#ifndef KVMBOX_API_H
#define KVMBOX_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_limit.h"
#include "auth/auth_session.h"
#include "auth/auth_store.h"
#include "http/http_router.h"
#include "http/http_server.h"

/* Who is asking, for the request being handled (one thread, one request at
 * a time): set by api_dispatch() before the handler runs. */
struct api_who {
	const char *user;
	struct auth_session *session; /* logged in with the cookie */
	struct auth_token *token;     /* or with a bearer token */
	uint8_t peer[16];             /* source address, IPv4 as ::ffff:a.b.c.d */
	bool loopback;
};

/* Authentication state (vmm/auth/, vmm/api/api_auth.c). */
struct api_auth {
	struct auth_store store;
	struct auth_sessions sessions;
	struct auth_limit limit;
	unsigned iterations; /* PBKDF2 rounds for new hashes */
	struct api_who who;
};

/* What the handlers may read; owned by the supervisor. */
struct api_ctx {
	const char *state_dir;
	bool state_in_ram;
	const char *tls_fingerprint;
	const char *tls_source; /* "user" or "self-signed" */
	struct api_auth *auth;
};

/* The auth gate: 1 if req may go on to its handler (public, or with a valid
 * session or token, and the CSRF token on a changing request with a
 * session); else 0 with resp filled (401, 403). */
int api_auth_gate(struct api_ctx *a, const struct http_request *req, const struct http_conn_info *info,
		  struct http_response *resp);

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
void api_get_pci(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		 void *ctx);
void api_auth_setup(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx);
void api_auth_login(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx);
void api_auth_logout(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx);
void api_auth_session(const struct http_request *req, const struct http_params *params,
		      struct http_response *resp, void *ctx);
void api_auth_password(const struct http_request *req, const struct http_params *params,
		       struct http_response *resp, void *ctx);
void api_auth_tokens_list(const struct http_request *req, const struct http_params *params,
			  struct http_response *resp, void *ctx);
void api_auth_tokens_create(const struct http_request *req, const struct http_params *params,
			    struct http_response *resp, void *ctx);
void api_auth_tokens_delete(const struct http_request *req, const struct http_params *params,
			    struct http_response *resp, void *ctx);
void api_get_openapi(const struct http_request *req, const struct http_params *params,
		     struct http_response *resp, void *ctx);

#endif
