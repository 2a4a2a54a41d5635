/* WebSocket (RFC 6455) on the HTTP server's connections.
 *
 * Two halves. The frame parser and the handshake value (http_ws.c) are pure
 * functions over bytes: no sockets, no mbedtls, so the unit test and the
 * fuzzer drive them directly. The connection half (http_ws_conn.c) runs an
 * upgraded connection in the server's event loop: a handler accepts the
 * upgrade with http_ws_accept(), the server sends the 101, and from then on
 * the connection carries frames both ways until either side closes.
 *
 * What the parser refuses (the close status the server then sends):
 *   1002  an unmasked client frame, RSV bits, an unknown opcode, a control
 *         frame that is fragmented or longer than 125 bytes, a continuation
 *         with no message to continue, a new data frame inside a fragmented
 *         message, a 64-bit length with its top bit set, a close frame with
 *         a 1-byte payload or a status a peer may not send
 *   1007  a text message (or close reason) that is not UTF-8
 *   1009  a message longer than the parser's max_message
 * Server frames are never masked and never fragmented.
 */
#ifndef KVMBOX_HTTP_WS_H
#define KVMBOX_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http_parse.h"
#include "http/http_response.h"

#define HTTP_WS_MAX_MESSAGE 4096          /* bytes of one client message (a console write) */
#define HTTP_WS_CONTROL_MAX 125           /* RFC 6455 5.5 */
#define HTTP_WS_SEND_MAX (1u << 20)       /* bytes queued for one client before it is dropped as too slow */
#define HTTP_WS_PING_MS 30000             /* a ping after this long */
#define HTTP_WS_PONG_MS 30000             /* no pong this long after a ping: the client is gone */
#define HTTP_WS_ACCEPT_LEN 28             /* base64 of a SHA-1 */
#define HTTP_WS_FRAME_HEAD_MAX 10         /* a server frame's head: no mask */

enum {
	HTTP_WS_CONT = 0x0,
	HTTP_WS_TEXT = 0x1,
	HTTP_WS_BINARY = 0x2,
	HTTP_WS_CLOSE = 0x8,
	HTTP_WS_PING = 0x9,
	HTTP_WS_PONG = 0xA,
};

/* Close statuses (RFC 6455 7.4.1). */
enum {
	HTTP_WS_NORMAL = 1000,
	HTTP_WS_GOING_AWAY = 1001,
	HTTP_WS_PROTOCOL = 1002,
	HTTP_WS_NO_STATUS = 1005, /* a close frame without a status: never sent */
	HTTP_WS_BAD_DATA = 1007,
	HTTP_WS_TOO_BIG = 1009,
	HTTP_WS_INTERNAL = 1011,
};

/* What the parser hands out: a whole data message, or one control frame. */
struct http_ws_msg {
	int opcode;        /* HTTP_WS_TEXT, _BINARY, _CLOSE, _PING or _PONG */
	const uint8_t *data; /* into the parser (valid until the next call) */
	size_t len;
	unsigned status;   /* close: the peer's status, HTTP_WS_NO_STATUS if none */
};

/* Incremental state; reset with http_ws_parser_init. buf holds a data
 * message as its frames arrive (max_message bytes, the caller's), ctl one
 * control frame, so a control frame between fragments leaves buf alone. */
struct http_ws_parser {
	uint8_t *buf;
	size_t max_message;
	size_t msg_len;     /* bytes of the data message so far */
	int msg_opcode;     /* its opcode; 0 while no message is open */
	uint8_t head[14];   /* the current frame's head, as it arrives */
	size_t head_len;
	bool in_payload;    /* the head is done; payload bytes follow */
	int opcode;
	bool fin;
	uint8_t mask[4];
	uint64_t left;      /* payload bytes still to come */
	uint64_t done;      /* payload bytes of this frame so far (for the mask) */
	uint8_t ctl[HTTP_WS_CONTROL_MAX];
	size_t ctl_len;
	unsigned status;    /* why it failed: a close status */
	const char *why;    /* and a sentence (static text) */
};

void http_ws_parser_init(struct http_ws_parser *p, uint8_t *buf, size_t max_message);
/* Take bytes from in[0..len). Returns 1 with *msg filled when a message or
 * control frame is complete, 0 when all of in was taken and more is needed,
 * -1 when the stream is refused (p->status, p->why). *used says how many
 * bytes were taken in every case; call again with the rest. */
int http_ws_parse(struct http_ws_parser *p, const uint8_t *in, size_t len, size_t *used, struct http_ws_msg *msg);
/* The head of an unmasked server frame (FIN set) into out; its length. */
size_t http_ws_frame_head(uint8_t out[HTTP_WS_FRAME_HEAD_MAX], int opcode, uint64_t len);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key GUID)),
 * NUL-terminated. */
void http_ws_accept_value(const char *key, size_t len, char out[HTTP_WS_ACCEPT_LEN + 1]);
/* true if p[0..len) is UTF-8 (no overlongs, surrogates or values above
 * U+10FFFF). */
bool http_ws_utf8_ok(const uint8_t *p, size_t len);

/* ---- Upgraded connections (http_ws_conn.c) ---- */

struct http_ws;

/* What a handler gives http_ws_accept. Exactly one of open and closed's
 * paths runs: open once the 101 is out (then closed when the socket goes),
 * or closed alone when the upgrade never completes. After closed, the
 * server never touches ws or arg again: free arg there. */
struct http_ws_ops {
	void (*open)(void *arg, struct http_ws *ws);
	/* A whole data message from the client (text already checked UTF-8). */
	void (*message)(void *arg, struct http_ws *ws, bool text, const uint8_t *p, size_t len);
	void (*closed)(void *arg);
};

/* In a GET handler: check the upgrade request (Upgrade: websocket,
 * Connection: Upgrade, Sec-WebSocket-Version: 13, a 16-byte
 * Sec-WebSocket-Key) and fill resp with the 101 and ops/arg for after it.
 * On a refusal resp holds the error (400, or 426 with the version we speak)
 * and closed(arg) has already been called. 0 or -EINVAL. */
int http_ws_accept(const struct http_request *req, struct http_response *resp, const struct http_ws_ops *ops,
		   void *arg);
/* Queue a whole message. -ENOBUFS: the client is reading too slowly (over
 * HTTP_WS_SEND_MAX queued); it is dropped, and closed() follows from the
 * event loop. -EPIPE once the socket is closing. Never frees anything at
 * once, so it is safe from any callback. */
int http_ws_send(struct http_ws *ws, int opcode, const void *p, size_t len);
/* Send a close frame with status and reason, then end the connection;
 * closed() follows from the event loop. */
void http_ws_close(struct http_ws *ws, unsigned status, const char *reason);

#endif
