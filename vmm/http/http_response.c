/* HTTP responses; see http_response.h. */
#include "http/http_response.h"
#include "http/http_ws.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_resp_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 500;
}

void http_resp_free(struct http_response *r)
{
	if (r->body_owned)
		free((void *)r->body);
	r->body = NULL;
	r->body_len = 0;
	r->body_owned = false;
	if (r->ws_ops) {
		/* An upgrade that will not happen: the handler's state goes. */
		const struct http_ws_ops *ops = r->ws_ops;
		r->ws_ops = NULL;
		ops->closed(r->ws_arg);
	}
}

void http_resp_static(struct http_response *r, int status, const char *type, const char *data, size_t len)
{
	http_resp_free(r);
	r->status = status;
	r->content_type = type;
	r->body = data;
	r->body_len = len;
}

void http_resp_stream(struct http_response *r, const struct http_body_sink *sink, void *arg)
{
	r->sink = sink;
	r->sink_arg = arg;
}

int http_resp_header(struct http_response *r, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return -EINVAL;
	int n = snprintf(r->extra + r->extra_len, sizeof(r->extra) - r->extra_len, "%s: %s\r\n", name, value);
	if (n < 0 || (size_t)n >= sizeof(r->extra) - r->extra_len) {
		r->extra[r->extra_len] = '\0';
		return -ENOSPC;
	}
	r->extra_len += (size_t)n;
	return 0;
}

int http_resp_json_begin(struct http_response *r, struct json_writer *w, size_t cap)
{
	http_resp_free(r);
	if (cap > HTTP_MAX_RESPONSE)
		cap = HTTP_MAX_RESPONSE;
	char *buf = malloc(cap);
	if (!buf) {
		json_w_init(w, NULL, 0);
		w->err = -ENOMEM;
		return -ENOMEM;
	}
	json_w_init(w, buf, cap);
	r->body = buf;
	r->body_owned = true;
	return 0;
}

void http_resp_json_end(struct http_response *r, struct json_writer *w, int status)
{
	int err = json_w_finish(w);
	if (err) {
		http_resp_error(r, 500, "the server could not build its reply (%s)", strerror(-err));
		return;
	}
	r->status = status;
	r->content_type = "application/json";
	r->body_len = w->len;
}

void http_resp_error(struct http_response *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message may quote client input (a path): the writer escapes it,
	 * and invalid UTF-8 is replaced rather than failing the reply. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';

	struct json_writer w;
	size_t cap = sizeof(msg) * 2 + 128;
	if (http_resp_json_begin(r, &w, cap) == 0) {
		json_w_begin_object(&w);
		json_w_key(&w, "error");
		json_w_begin_object(&w);
		json_w_key(&w, "code");
		json_w_string(&w, http_status_code(status));
		json_w_key(&w, "message");
		json_w_string(&w, msg);
		json_w_end(&w);
		json_w_end(&w);
	}
	if (json_w_finish(&w) == 0) {
		r->status = status;
		r->content_type = "application/json";
		r->body_len = w.len;
		return;
	}
	/* Out of memory: a fixed body still says what happened. */
	static const char oom[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}";
	http_resp_static(r, 500, "application/json", oom, sizeof(oom) - 1);
}

size_t http_resp_head(const struct http_response *r, bool keep_alive, char *buf, size_t size)
{
	/* RFC 9110 8.6: no Content-Length on 1xx and 204. */
	char length[40] = "";
	if (r->status >= 200 && r->status != 204 && r->status != 304)
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", r->body_len);
	/* API replies are never cached; a handler that knows better (the web
	 * console's files, with an ETag) sends its own Cache-Control. */
	bool own_cache = !strncasecmp(r->extra, "Cache-Control:", 14) || strcasestr(r->extra, "\nCache-Control:");
	int n = snprintf(buf, size,
			 "HTTP/1.1 %d %s\r\n"
			 "%s%s%s"
			 "%s"
			 "%s"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Connection: %s\r\n"
			 "%s\r\n",
			 r->status, http_status_reason(r->status),
			 r->content_type ? "Content-Type: " : "", r->content_type ? r->content_type : "",
			 r->content_type ? "\r\n" : "", length, own_cache ? "" : "Cache-Control: no-store\r\n",
			 r->status == 101 ? "Upgrade" : keep_alive ? "keep-alive" : "close",
			 r->extra);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}
