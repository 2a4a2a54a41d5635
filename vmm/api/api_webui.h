/* The web console (web-ui/), served from memory: every file is embedded at
 * build time by web-ui/embed.py into out/gen/webui_assets.c, as it is and
 * gzip-compressed. GET / is index.html, GET /assets/NAME the others; both
 * are public (the auth gate lets them through): the page holds no secrets
 * and logs in through the API. */
#ifndef KVMBOX_API_WEBUI_H
#define KVMBOX_API_WEBUI_H

#include <stddef.h>

#include "http/http_router.h"

struct webui_asset {
	const char *name;         /* "app.js": the NAME in /assets/NAME */
	const char *content_type; /* "text/javascript; charset=utf-8" */
	const unsigned char *data;
	size_t len;
	const unsigned char *gz;  /* gzip of data, or NULL when that is no smaller */
	size_t gz_len;
	const char *etag;         /* "\"HEX\"": a hash of data */
	const char *etag_gz;      /* the same with -gz, for the gzip copy */
};

extern const struct webui_asset webui_assets[];
extern const size_t webui_nassets;

void api_webui_index(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx);
void api_webui_asset(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx);

#endif
