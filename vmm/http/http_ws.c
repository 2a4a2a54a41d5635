/* The WebSocket frame parser and handshake value; see http_ws.h. Every byte
 * here comes from the network: each length is checked against its limit
 * before the bytes it announces are taken, and nothing is allocated. */
#include "http/http_ws.h"

#include <string.h>

#include "http/http_sha1.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 1.3 */
#define WS_KEY_MAX 64 /* a valid key is 24 characters; http_ws_accept checks that */

void http_ws_parser_init(struct http_ws_parser *p, uint8_t *buf, size_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->buf = buf;
	p->max_message = max_message;
}

static int refuse(struct http_ws_parser *p, unsigned status, const char *why)
{
	p->status = status;
	p->why = why;
	return -1;
}

/* A close status a peer may send (RFC 6455 7.4.1 and the IANA registry):
 * 1004-1006 and 1015 are reserved for reporting, never for the wire. */
static bool status_ok(unsigned s)
{
	if (s >= 3000 && s <= 4999)
		return true;
	return s >= 1000 && s <= 1014 && s != 1004 && s != 1005 && s != 1006;
}

/* The first two bytes of a frame's head. 0 or -1 (refused). */
static int head_start(struct http_ws_parser *p)
{
	uint8_t b0 = p->head[0], b1 = p->head[1];
	int op = b0 & 0x0f;
	p->fin = b0 & 0x80;
	p->opcode = op;
	if (b0 & 0x70)
		return refuse(p, HTTP_WS_PROTOCOL, "reserved bits set (no extension was agreed)");
	if (!(b1 & 0x80))
		return refuse(p, HTTP_WS_PROTOCOL, "client frames must be masked");
	switch (op) {
	case HTTP_WS_CONT:
		if (!p->msg_opcode)
			return refuse(p, HTTP_WS_PROTOCOL, "a continuation frame with no message to continue");
		return 0;
	case HTTP_WS_TEXT:
	case HTTP_WS_BINARY:
		if (p->msg_opcode)
			return refuse(p, HTTP_WS_PROTOCOL, "a new message inside a fragmented one");
		return 0;
	case HTTP_WS_CLOSE:
	case HTTP_WS_PING:
	case HTTP_WS_PONG:
		if (!p->fin)
			return refuse(p, HTTP_WS_PROTOCOL, "a fragmented control frame");
		if ((b1 & 0x7f) > HTTP_WS_CONTROL_MAX)
			return refuse(p, HTTP_WS_PROTOCOL, "a control frame longer than 125 bytes");
		return 0;
	default:
		return refuse(p, HTTP_WS_PROTOCOL, "an unknown opcode");
	}
}

/* Bytes of the head once its second byte is known. */
static size_t head_need(const struct http_ws_parser *p)
{
	unsigned l7 = p->head[1] & 0x7f;
	return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + 4;
}

/* The head is all there: its length and mask. 0 or -1. */
static int head_done(struct http_ws_parser *p)
{
	unsigned l7 = p->head[1] & 0x7f;
	uint64_t len = l7;
	const uint8_t *q = p->head + 2;
	if (l7 == 126) {
		len = (uint64_t)q[0] << 8 | q[1];
		q += 2;
	} else if (l7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | q[i];
		q += 8;
		if (len >> 63)
			return refuse(p, HTTP_WS_PROTOCOL, "a frame length with its top bit set");
	}
	memcpy(p->mask, q, 4);
	if (!(p->opcode & 8)) {
		if (len > p->max_message - p->msg_len)
			return refuse(p, HTTP_WS_TOO_BIG, "the message is larger than this server accepts");
		if (p->opcode != HTTP_WS_CONT)
			p->msg_opcode = p->opcode;
	}
	p->left = len;
	p->done = 0;
	p->ctl_len = 0;
	p->in_payload = true;
	return 0;
}

/* The frame's payload is all there. 1 with msg filled, 0 to go on (a
 * fragment), -1 refused. */
static int frame_done(struct http_ws_parser *p, struct http_ws_msg *msg)
{
	p->in_payload = false;
	p->head_len = 0;
	if (p->opcode & 8) {
		*msg = (struct http_ws_msg){ .opcode = p->opcode, .data = p->ctl, .len = p->ctl_len,
					     .status = HTTP_WS_NO_STATUS };
		if (p->opcode != HTTP_WS_CLOSE)
			return 1;
		if (p->ctl_len == 1)
			return refuse(p, HTTP_WS_PROTOCOL, "a close frame with a 1-byte payload");
		if (p->ctl_len >= 2) {
			msg->status = (unsigned)p->ctl[0] << 8 | p->ctl[1];
			msg->data += 2;
			msg->len -= 2;
			if (!status_ok(msg->status))
				return refuse(p, HTTP_WS_PROTOCOL, "a close status a peer may not send");
			if (!http_ws_utf8_ok(msg->data, msg->len))
				return refuse(p, HTTP_WS_BAD_DATA, "a close reason that is not UTF-8");
		}
		return 1;
	}
	if (!p->fin)
		return 0;
	*msg = (struct http_ws_msg){ .opcode = p->msg_opcode, .data = p->buf, .len = p->msg_len };
	if (p->msg_opcode == HTTP_WS_TEXT && !http_ws_utf8_ok(p->buf, p->msg_len))
		return refuse(p, HTTP_WS_BAD_DATA, "a text message that is not UTF-8");
	p->msg_opcode = 0;
	p->msg_len = 0;
	return 1;
}

int http_ws_parse(struct http_ws_parser *p, const uint8_t *in, size_t len, size_t *used, struct http_ws_msg *msg)
{
	size_t i = 0;
	*used = 0;
	if (p->status)
		return -1; /* refused once: the stream is not trusted again */
	while (i < len || (p->in_payload && !p->left)) {
		if (!p->in_payload) {
			p->head[p->head_len++] = in[i++];
			if (p->head_len == 2 && head_start(p))
				goto fail;
			if (p->head_len < 2 || p->head_len < head_need(p))
				continue;
			if (head_done(p))
				goto fail;
			continue;
		}
		size_t n = len - i < p->left ? len - i : (size_t)p->left;
		uint8_t *dst = (p->opcode & 8) ? p->ctl + p->ctl_len : p->buf + p->msg_len;
		for (size_t k = 0; k < n; k++)
			dst[k] = in[i + k] ^ p->mask[(p->done + k) & 3];
		if (p->opcode & 8)
			p->ctl_len += n;
		else
			p->msg_len += n;
		p->done += n;
		p->left -= n;
		i += n;
		if (p->left)
			continue;
		int r = frame_done(p, msg);
		if (r < 0)
			goto fail;
		if (r > 0) {
			*used = i;
			return 1;
		}
	}
	*used = i;
	return 0;
fail:
	*used = i;
	return -1;
}

size_t http_ws_frame_head(uint8_t out[HTTP_WS_FRAME_HEAD_MAX], int opcode, uint64_t len)
{
	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

void http_ws_accept_value(const char *key, size_t len, char out[HTTP_WS_ACCEPT_LEN + 1])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char in[WS_KEY_MAX + sizeof(WS_GUID)];
	uint8_t sum[HTTP_SHA1_LEN + 1] = { 0 }; /* one zero byte pads the last group */
	if (len > WS_KEY_MAX)
		len = WS_KEY_MAX;
	memcpy(in, key, len);
	memcpy(in + len, WS_GUID, sizeof(WS_GUID) - 1);
	http_sha1(in, len + sizeof(WS_GUID) - 1, sum);
	/* 20 bytes: six groups of three and one of two, "=" for the missing. */
	char *o = out;
	for (size_t i = 0; i < HTTP_SHA1_LEN; i += 3) {
		uint32_t v = (uint32_t)sum[i] << 16 | (uint32_t)sum[i + 1] << 8 | (i + 2 < HTTP_SHA1_LEN ? sum[i + 2] : 0);
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = i + 2 < HTTP_SHA1_LEN ? b64[v & 63] : '=';
	}
	*o = '\0';
}

bool http_ws_utf8_ok(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}
