/* Port 80: every request gets a 308 to the same path on HTTPS, nothing else.
 * 308 keeps the method and body, so even a POST lands where it was meant. */
#ifndef KVMBOX_HTTP_REDIRECT_H
#define KVMBOX_HTTP_REDIRECT_H

#include <stddef.h>

#include "http/http_server.h"

struct http_redirect {
	int https_port; /* 443 is left out of the Location */
};

/* A dispatch function for http_server_listen(); ctx is a struct http_redirect. */
void http_redirect_dispatch(const struct http_request *req, const struct http_conn_info *info,
			    struct http_response *resp, void *ctx);

/* "https://HOST[:PORT]TARGET" into out. HOST is the request's Host without
 * its port when it is a plain name or address, else the address the client
 * connected to. Returns the length, or -ENOSPC. */
int http_redirect_location(const struct http_request *req, const struct http_conn_info *info, int https_port,
			   char *out, size_t size);

#endif
