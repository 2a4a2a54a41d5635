/* SHA-1, for the WebSocket handshake only (Sec-WebSocket-Accept, RFC 6455
 * 4.2.2), where it is a fixed transform both ends compute, not a security
 * mechanism. It lives here rather than in mbedtls (whose build leaves SHA-1
 * out) so that the HTTP layer keeps building on the host without mbedtls,
 * for the unit tests and fuzzers. Never use it for anything else. */
#ifndef KVMBOX_HTTP_SHA1_H
#define KVMBOX_HTTP_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_SHA1_LEN 20

void http_sha1(const void *data, size_t len, uint8_t out[HTTP_SHA1_LEN]);

#endif
