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

/* The served certificate, for GET /api/settings/certificate. */
#define TLS_INFO_SAN_MAX 32
struct tls_cert_info {
	const char *source; /* "user" or "self-signed" */
	char fingerprint[TLS_FINGERPRINT_LEN];
	char subject[256];    /* "CN=kvmbox, O=kvmbox" */
	char not_before[24];  /* "2026-01-31T12:00:00Z" */
	char not_after[24];
	char san[TLS_INFO_SAN_MAX][80]; /* DNS names and IP addresses */
	unsigned nsan;
};
void tls_server_cert_info(const struct tls_server *t, struct tls_cert_info *out);

/* Changing the certificate while the server runs. Each stores the files as
 * below, then serves the new pair to new connections; connections already
 * open keep the pair they started with. 0, or -errno with why filled (the
 * old pair is then still served).
 *   set_user       check cert_pem + key_pem (NUL-terminated, lengths without
 *                  it) as tls_keys_check does: -EINVAL with its reason when
 *                  they are not a usable pair; else store them as cert.pem
 *                  and key.pem (0600)
 *   use_self_signed  move cert.pem and key.pem aside (to NAME.1) and serve
 *                  the self-signed pair
 *   regenerate     make a new self-signed pair and serve it (a user pair is
 *                  moved aside first, as above) */
/* Read the pair from the folder again (as at start) and serve it. */
int tls_server_reload(struct tls_server *t, char *why, size_t why_size);
int tls_server_set_user(struct tls_server *t, const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, char *why, size_t why_size);
int tls_server_use_self_signed(struct tls_server *t, char *why, size_t why_size);
int tls_server_regenerate(struct tls_server *t, char *why, size_t why_size);

/* The server tls_server_create() made last and not yet freed: the
 * supervisor runs one, and its API handlers reach it here. */
struct tls_server *tls_server_current(void);

/* The transport; its tctx is the struct tls_server. */
extern const struct http_transport tls_transport;

#endif
