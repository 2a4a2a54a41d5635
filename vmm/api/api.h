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
	bool local; /* on the local socket (root on the appliance itself): the admin */
};

#define API_SETUP_CODE_LEN 9 /* "XXXX-XXXX" */

/* Make a new setup code in au->setup_code (getrandom). 0 or -errno. */
struct api_auth;
int api_auth_new_setup_code(struct api_auth *au);

/* Authentication state (vmm/auth/, vmm/api/api_auth.c). */
struct api_auth {
	struct auth_store store;
	struct auth_sessions sessions;
	struct auth_limit limit;
	unsigned iterations; /* PBKDF2 rounds for new hashes */
	/* First boot: a one-time code printed on the console. Whoever can read
	 * the console may set the first password from another machine with it
	 * (a browser through a port forward); "" once an admin exists. */
	char setup_code[API_SETUP_CODE_LEN + 1];
	struct api_who who;
};

struct vms;

/* What the handlers may read; owned by the supervisor. */
struct api_ctx {
	const char *state_dir;
	bool state_in_ram;
	const char *tls_fingerprint;
	const char *tls_source; /* "user" or "self-signed" */
	struct api_auth *auth;
	struct vms *vms; /* the VM registry (vmm/supervisor/vms.h) */
};

/* The auth gate: 1 if req may go on to its handler (public, or with a valid
 * session or token, and the CSRF token on a changing request with a
 * session); else 0 with resp filled (401, 403). */
int api_auth_gate(struct api_ctx *a, const struct http_request *req, const struct http_conn_info *info,
		  struct http_response *resp);

extern const struct http_route api_routes[];
extern const size_t api_nroutes;

/* 0 if req's body is Content-Type: application/json, else a 415 in resp:
 * a cross-site HTML form cannot send that type without a CORS preflight,
 * which the API never grants, so such requests cannot be forged. */
int api_need_json(const struct http_request *req, struct http_response *resp);

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
/* Mediated device instances (api_mdev.c). */
void api_mdev_create(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx);
void api_mdev_delete(const struct http_request *req, const struct http_params *params, struct http_response *resp,
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
void api_auth_reset(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx);
void api_auth_tokens_list(const struct http_request *req, const struct http_params *params,
			  struct http_response *resp, void *ctx);
void api_auth_tokens_create(const struct http_request *req, const struct http_params *params,
			    struct http_response *resp, void *ctx);
void api_auth_tokens_delete(const struct http_request *req, const struct http_params *params,
			    struct http_response *resp, void *ctx);
void api_get_openapi(const struct http_request *req, const struct http_params *params,
		     struct http_response *resp, void *ctx);

/* vmm/api/api_vms.c */
void api_vms_list(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vms_create(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_delete(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_start(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_stop(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_reboot(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_pause(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_resume(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_console_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_console_post(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
/* GET /api/vms/{name}/console/ws: the console as a WebSocket (api_vm_ws.c). */
void api_vm_console_ws(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
/* ?offset=N from the query string; 0 when absent. -1 when malformed. */
int api_query_offset(const struct http_request *req, uint64_t *out);
void api_vm_log(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_vm_counters(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
void api_logs(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		void *ctx);
/* Disk images in STATE/images (api_images.c, api_images_upload.c). */
void api_images_list(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx);
void api_images_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx);
void api_images_put_head(const struct http_request *req, const struct http_params *params,
			 struct http_response *resp, void *ctx);
void api_images_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx);
void api_images_delete(const struct http_request *req, const struct http_params *params,
		       struct http_response *resp, void *ctx);
/* Settings (api_settings.c), the HTTPS certificate (api_cert.c) and the
 * host's networks (api_networks.c). */
void api_settings_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		      void *ctx);
void api_settings_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		      void *ctx);
void api_cert_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx);
void api_cert_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx);
void api_cert_delete(const struct http_request *req, const struct http_params *params,
		     struct http_response *resp, void *ctx);
void api_cert_regenerate(const struct http_request *req, const struct http_params *params,
			 struct http_response *resp, void *ctx);
void api_networks_get(const struct http_request *req, const struct http_params *params,
		      struct http_response *resp, void *ctx);

#endif
