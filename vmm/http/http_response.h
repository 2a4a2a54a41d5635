/* HTTP responses: what a handler fills in, and how it goes on the wire.
 *
 * Errors are JSON of one shape everywhere, so clients need one code path:
 *   {"error":{"code":"not_found","message":"no such path: /api/x"}}
 * code is stable and machine-readable (http_status_code()); message is a
 * sentence for a person and may change.
 */
#ifndef KVMBOX_HTTP_RESPONSE_H
#define KVMBOX_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_parse.h"
#include "json.h"

#define HTTP_MAX_RESPONSE (8u << 20)   /* bytes of one response body we build in memory */
#define HTTP_EXTRA_HEADERS 8192         /* bytes of handler-added header lines (a Location holds a whole target) */

struct http_response;
struct http_ws_ops;

/* A request body taken as a stream (see http_server.h): the server hands
 * over the body a chunk at a time as it arrives, so that an upload of
 * gigabytes costs one buffer. Exactly one of finish and abort is called, and
 * after it nothing more: the handler frees arg there. */
struct http_body_sink {
	/* The next len bytes of the body. 0 to go on; -errno stops the upload:
	 * finish gets it, and the rest of the body is not read. */
	int (*data)(void *arg, const char *p, size_t len);
	/* The whole body arrived (err 0), or data failed (err is its -errno):
	 * fill resp. */
	void (*finish)(void *arg, int err, struct http_response *resp);
	/* The body will not arrive: the client went away or was too slow, the
	 * server is stopping, or the body is larger than the server takes.
	 * No reply can be sent; undo what the upload did. */
	void (*abort)(void *arg);
};

struct http_response {
	int status;
	const char *content_type;
	char extra[HTTP_EXTRA_HEADERS]; /* "Name: value\r\n" lines */
	size_t extra_len;
	const char *body;     /* static data, or owned when body_owned */
	size_t body_len;
	bool body_owned;
	bool close;           /* close the connection after this response */
	/* Set by http_resp_stream: the body is taken as a stream. */
	const struct http_body_sink *sink;
	void *sink_arg;
	/* Set by http_ws_accept (http_ws.h): after this 101 the connection is
	 * a WebSocket. http_resp_free calls ws_ops->closed while still set. */
	const struct http_ws_ops *ws_ops;
	void *ws_arg;
};

void http_resp_init(struct http_response *r);
void http_resp_free(struct http_response *r);

/* A body that outlives the response (static data); not copied. */
void http_resp_static(struct http_response *r, int status, const char *type, const char *data, size_t len);
/* The JSON error shape above; message is formatted like printf. */
void http_resp_error(struct http_response *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Take the request's body as a stream: only while the dispatcher is asked at
 * the end of the head (req->body_pending). The reply comes from
 * sink->finish. */
void http_resp_stream(struct http_response *r, const struct http_body_sink *sink, void *arg);
/* Add a header line. Refuses (-EINVAL) CR or LF in name or value and
 * (-ENOSPC) what does not fit. */
int http_resp_header(struct http_response *r, const char *name, const char *value);

/* JSON bodies: begin gives a writer on a buffer of cap bytes (bounded by
 * HTTP_MAX_RESPONSE); end checks it and sets status and body, or turns the
 * response into a 500 error if the writer failed. */
int http_resp_json_begin(struct http_response *r, struct json_writer *w, size_t cap);
void http_resp_json_end(struct http_response *r, struct json_writer *w, int status);

/* The status line and headers for r, into buf. head_only: a reply to HEAD
 * (Content-Length of the body that GET would send, no body). Returns the
 * length, or 0 if buf is too small. */
size_t http_resp_head(const struct http_response *r, bool keep_alive, char *buf, size_t size);

#endif
