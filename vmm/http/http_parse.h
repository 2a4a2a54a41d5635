/* HTTP/1.1 request parser: request line, headers, Content-Length bodies.
 *
 * Every byte comes from the network, so the parser is strict and bounded:
 * each limit is a field of struct http_limits, checked before the bytes it
 * guards are looked at, and the parser never allocates. It works in place on
 * the caller's buffer (the connection's input), and the request it fills
 * points into that buffer.
 *
 * What it refuses, with the status the reply should carry:
 *   400  malformed request line or header, bare CR, obs-fold, whitespace
 *        before ':', bad or conflicting Content-Length, no Host in HTTP/1.1
 *   411  POST, PUT or PATCH without Content-Length
 *   413  Content-Length above limits->max_body
 *   414  request line longer than limits->max_request_line
 *   417  an Expect other than 100-continue
 *   431  head above limits->max_head bytes, or more than max_headers fields
 *   501  Transfer-Encoding (chunked bodies are not supported) or a method
 *        this server does not know
 *   505  a version other than HTTP/1.0 and HTTP/1.1
 * 405 (method not allowed on a path) is the router's business.
 */
#ifndef KVMBOX_HTTP_PARSE_H
#define KVMBOX_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64 /* fields per request; struct http_request holds this many */

/* Size limits and timeouts; http_limits_default() gives the named defaults. */
struct http_limits {
	size_t max_request_line; /* bytes, without the CRLF */
	size_t max_head;         /* request line + headers + blank line, bytes */
	unsigned max_headers;    /* header fields, at most HTTP_MAX_HEADERS */
	size_t max_body;         /* Content-Length, bytes */
	unsigned max_conns;      /* connections at once, per server */
	unsigned handshake_ms;   /* accept to TLS handshake done */
	unsigned header_ms;      /* first byte of a request to the end of its head */
	unsigned body_ms;        /* end of head to the end of the body */
	unsigned idle_ms;        /* keep-alive: between requests */
	unsigned write_ms;       /* a response must be taken by the client in this time */
};

#define HTTP_DEFAULT_MAX_REQUEST_LINE 4096
#define HTTP_DEFAULT_MAX_HEAD (16 * 1024)
#define HTTP_DEFAULT_MAX_HEADERS 64
#define HTTP_DEFAULT_MAX_BODY (256 * 1024)
#define HTTP_DEFAULT_MAX_CONNS 256
#define HTTP_DEFAULT_HANDSHAKE_MS 10000
#define HTTP_DEFAULT_HEADER_MS 10000
#define HTTP_DEFAULT_BODY_MS 30000
#define HTTP_DEFAULT_IDLE_MS 60000
#define HTTP_DEFAULT_WRITE_MS 30000

void http_limits_default(struct http_limits *l);
/* Set one limit from "name=value" (the names are the field names above).
 * Returns 0, or -EINVAL for an unknown name or a bad or zero value. */
int http_limits_set(struct http_limits *l, const char *assignment);

enum http_method {
	HTTP_UNKNOWN = 0,
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_PATCH,
	HTTP_DELETE,
	HTTP_OPTIONS,
};
const char *http_method_name(enum http_method m);

/* A byte range of the input; not NUL-terminated. */
struct http_str {
	const char *p;
	size_t len;
};

struct http_header {
	struct http_str name, value; /* value without surrounding spaces */
};

struct http_request {
	enum http_method method;
	struct http_str target; /* as sent: path and query */
	struct http_str path;   /* target up to '?' */
	struct http_str query;  /* after '?' (len 0 if none) */
	int minor;              /* HTTP/1.minor: 0 or 1 */
	struct http_header hdr[HTTP_MAX_HEADERS];
	unsigned nhdr;
	struct http_str host;   /* the Host header (len 0 if none) */
	bool has_length;
	uint64_t content_length;
	bool keep_alive;        /* the client allows another request after this one */
	bool expect_continue;   /* "Expect: 100-continue": it waits for a 100 first */
	size_t head_len;        /* bytes of the head, blank line included */
	struct http_str body;   /* set when the whole request is there */
	/* The server asks its dispatcher at the end of the head, before any
	 * body byte is taken (see http_server.h): then this is true and body
	 * is empty. */
	bool body_pending;
};

/* Incremental state, so that bytes already scanned are not scanned again
 * when input trickles in. Reset it (memset 0) before each new request. */
struct http_parser {
	size_t scanned;  /* the head's end is not in buf[0..scanned) */
	bool line_done;  /* the request line's LF was seen */
	size_t head_len; /* 0 until the head is complete and valid */
};

/*
 * Parse the request at buf[0..len). Returns:
 *   > 0  the request is complete; this many bytes (head and body) belong to it
 *   0    more input is needed (the head or the body is not all there)
 *   < 0  -status (-400, -414, ...): the request is refused; *why says why in
 *        a sentence for the client (static text)
 * req is filled on > 0, and its head fields are valid from the moment the
 * head is complete (0 with p->head_len != 0: waiting for the body).
 */
int http_parse(struct http_parser *p, const char *buf, size_t len, const struct http_limits *lim,
	       struct http_request *req, const char **why);

/* The head alone: like http_parse, but done (> 0: the head's length) as soon
 * as the head is complete and valid, whatever its Content-Length; the caller
 * decides which body limit applies (max_body, or HTTP_UPLOAD_MAX for a body
 * taken as a stream). req's head fields are valid on > 0. Calling
 * http_parse afterwards with the same parser skips its max_body check. */
int http_parse_head(struct http_parser *p, const char *buf, size_t len, const struct http_limits *lim,
		    struct http_request *req, const char **why);

/* Header value by case-insensitive name: the first such field, or NULL. */
const struct http_str *http_header_get(const struct http_request *req, const char *name);
/* 1 if s equals the C string c, ignoring ASCII case. */
bool http_str_ieq(struct http_str s, const char *c);
bool http_str_eq(struct http_str s, const char *c);

/* Reason phrase of a status code ("Not Found"), "Unknown" if not listed. */
const char *http_status_reason(int status);
/* Machine-readable error code for a status ("not_found", "bad_request"). */
const char *http_status_code(int status);

#endif
