/* HTTPS for the supervisor: mbedtls 3.6 behind the http_transport table.
 *
 * TLS 1.3 and 1.2 only; TLS 1.3 with AES-GCM or ChaCha20-Poly1305, TLS 1.2
 * with ECDHE-ECDSA and the same AEADs (the library is built with nothing
 * else, see image/deps/mbedtls-config.h, and the list is set here again so
 * that a wider library build changes nothing). Entropy comes from
 * getrandom() (image/deps/mbedtls-entropy.c).
 *
 * The key and certificate live in the state directory's tls/ folder:
 *   cert.pem, key.pem                  supplied by the user (used if valid)
 *   selfsigned-cert.pem, -key.pem      made on first start, reused after
 * A user pair that does not parse, does not match, or is not ECDSA P-256 is
 * reported in the log and left where it is; the self-signed pair is served
 * instead.
 *
 * This header keeps mbedtls out of its users, so that they build on the
 * host, where only the musl sysroot has mbedtls 3.6.
 */
#ifndef KVMBOX_TLS_H
#define KVMBOX_TLS_H

#include <stddef.h>

#include "http/http_server.h"

#define TLS_MAX_PEM (64 * 1024)   /* bytes of a key or certificate file we read */
#define TLS_CERT_YEARS 10         /* validity of the self-signed certificate */
#define TLS_FINGERPRINT_LEN 96    /* "AB:CD:..." of SHA-256, with the NUL */

struct tls_server;

/* Set up TLS with the key and certificate under dir (created if needed).
 * Returns 0, or -errno with a sentence in why. */
int tls_server_create(struct tls_server **out, const char *dir, char *why, size_t why_size);
void tls_server_free(struct tls_server *t);
/* The SHA-256 fingerprint of the served certificate, "AB:CD:...". */
const char *tls_server_fingerprint(const struct tls_server *t);
/* "user" or "self-signed". */
const char *tls_server_cert_source(const struct tls_server *t);

/* The transport; its tctx is the struct tls_server. */
extern const struct http_transport tls_transport;

#endif
