/* /api/settings/certificate: the HTTPS certificate. The change is served to
 * new connections at once (vmm/http/tls_server.c); open ones keep theirs,
 * so the client that asked gets its reply on the old one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "http/tls.h"
#include "log.h"

#define CERT_BODY_MAX (2 * TLS_MAX_PEM + 1024)
#define CERT_BODY_TOKENS 16

/* The supervisor has one HTTPS server; see tls_server_current(). */
static struct tls_server *server(struct http_response *resp)
{
	struct tls_server *t = tls_server_current();
	if (!t)
		http_resp_error(resp, 503, "the HTTPS server is not running");
	return t;
}

static void reply_info(struct http_response *resp, struct api_ctx *a, struct tls_server *t, int status)
{
	struct tls_cert_info *info = malloc(sizeof(*info));
	struct json_writer w;
	/* GET /api/host reads these: keep them with what is served. */
	a->tls_source = tls_server_cert_source(t);
	a->tls_fingerprint = tls_server_fingerprint(t);
	if (!info || http_resp_json_begin(resp, &w, 8192)) {
		free(info);
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	tls_server_cert_info(t, info);
	json_w_begin_object(&w);
	json_w_key(&w, "source");
	json_w_string(&w, info->source);
	json_w_key(&w, "fingerprint");
	json_w_string(&w, info->fingerprint);
	json_w_key(&w, "subject");
	json_w_string(&w, info->subject);
	json_w_key(&w, "not_before");
	json_w_string(&w, info->not_before);
	json_w_key(&w, "not_after");
	json_w_string(&w, info->not_after);
	json_w_key(&w, "san");
	json_w_begin_array(&w);
	for (unsigned i = 0; i < info->nsan; i++)
		json_w_string(&w, info->san[i]);
	json_w_end(&w);
	json_w_end(&w);
	free(info);
	http_resp_json_end(resp, &w, status);
}

void api_cert_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx)
{
	(void)req;
	(void)params;
	struct tls_server *t = server(resp);
	if (t)
		reply_info(resp, ctx, t, 200);
}

/* The string member key of the body into a malloc'd buffer; NULL with the
 * error reply made. */
static char *body_pem(const struct json_doc *d, const char *key, size_t *len, struct http_response *resp)
{
	int i = json_get(d, 0, key);
	if (i < 0 || json_type(d, i) != JSON_STRING) {
		http_resp_error(resp, 400, "\"%s\" is %s; send {\"cert\": \"PEM chain\", \"key\": \"PEM key\"}", key,
				i < 0 ? "missing" : "not a string");
		return NULL;
	}
	char *buf = malloc(TLS_MAX_PEM + 1);
	int n = buf ? json_get_string(d, i, buf, TLS_MAX_PEM + 1) : -ENOMEM;
	if (n < 0) {
		free(buf);
		if (n == -ENOMEM)
			http_resp_error(resp, 503, "the server is out of memory");
		else
			http_resp_error(resp, 400, "\"%s\" is %s", key,
					n == -ENOSPC ? "longer than 64 KiB" : "not a PEM text");
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

void api_cert_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		  void *ctx)
{
	(void)params;
	struct tls_server *t = server(resp);
	if (!t)
		return;
	const struct http_str *ct = http_header_get(req, "Content-Type");
	if (!ct || ct->len < 16 || strncasecmp(ct->p, "application/json", 16) ||
	    (ct->len > 16 && ct->p[16] != ';' && ct->p[16] != ' ')) {
		http_resp_error(resp, 415, "send the body as Content-Type: application/json");
		return;
	}
	struct json_token tok[CERT_BODY_TOKENS];
	struct json_doc d;
	struct json_error je;
	char msg[160], why[512];
	if (json_parse(&d, req->body.p, req->body.len, CERT_BODY_MAX, tok, CERT_BODY_TOKENS, &je)) {
		json_error_format(&je, msg, sizeof(msg));
		http_resp_error(resp, 400, "the body is not valid JSON (at most %d bytes): %s", CERT_BODY_MAX, msg);
		return;
	}
	if (json_type(&d, 0) != JSON_OBJECT) {
		http_resp_error(resp, 400,
				"the body must be a JSON object: {\"cert\": \"PEM chain\", \"key\": \"PEM key\"}");
		return;
	}
	size_t clen, klen;
	char *cert = body_pem(&d, "cert", &clen, resp);
	char *key = cert ? body_pem(&d, "key", &klen, resp) : NULL;
	if (!key) {
		free(cert);
		return;
	}
	int r = tls_server_set_user(t, cert, clen, key, klen, why, sizeof(why));
	explicit_bzero(key, klen); /* the key must not linger in freed memory */
	free(key);
	free(cert);
	if (r == -EINVAL) {
		http_resp_error(resp, 422, "%s; the certificate in use was kept", why);
		return;
	}
	if (r) {
		log_error("https: storing the uploaded certificate: %s", why);
		http_resp_error(resp, 500, "%s; the certificate in use was kept", why);
		return;
	}
	reply_info(resp, ctx, t, 200);
}

/* Delete and regenerate: one server call, its failure logged and told. */
static void cert_switch(struct http_response *resp, void *ctx, int (*fn)(struct tls_server *, char *, size_t),
			const char *what)
{
	char why[512];
	struct tls_server *t = server(resp);
	if (!t)
		return;
	if (fn(t, why, sizeof(why))) {
		log_error("https: %s: %s", what, why);
		http_resp_error(resp, 500, "%s; the certificate in use was kept", why);
		return;
	}
	reply_info(resp, ctx, t, 200);
}

void api_cert_delete(const struct http_request *req, const struct http_params *params,
		     struct http_response *resp, void *ctx)
{
	(void)req;
	(void)params;
	cert_switch(resp, ctx, tls_server_use_self_signed, "going back to the self-signed certificate");
}

void api_cert_regenerate(const struct http_request *req, const struct http_params *params,
			 struct http_response *resp, void *ctx)
{
	(void)req;
	(void)params;
	cert_switch(resp, ctx, tls_server_regenerate, "making a new self-signed certificate");
}
