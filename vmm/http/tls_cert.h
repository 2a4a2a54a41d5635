/* Keys and certificates for the HTTPS server (mbedtls users only). */
#ifndef KVMBOX_TLS_CERT_H
#define KVMBOX_TLS_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "http/tls.h"

/* What the server offers, strongest first (tls_server.c); `kvmbox ctl`
 * offers the same, so it never settles for less than the server would. */
extern const int tls_suites[];
extern const uint16_t tls_groups[];
extern const char *tls_alpn[];

#define TLS_MAX_SAN 32 /* names and addresses in the self-signed certificate */
#define TLS_USER_CERT "cert.pem" /* the user's pair, in the tls/ folder */
#define TLS_USER_KEY "key.pem"

struct tls_keys {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	bool user; /* from cert.pem/key.pem rather than self-signed */
	char fingerprint[TLS_FINGERPRINT_LEN];
};

/* Load the user's pair, else the self-signed pair, else make and store a
 * new self-signed pair (see tls.h). 0 or -errno with why filled. */
int tls_keys_load(struct tls_keys *k, const char *dir, mbedtls_ctr_drbg_context *drbg, char *why, size_t why_size);
void tls_keys_free(struct tls_keys *k);

/* Check a PEM certificate chain and key: both parse, the key is ECDSA P-256
 * and belongs to the first certificate. Fills k on success. 0 or -EINVAL
 * with why filled. Exposed for the certificate upload to come. */
int tls_keys_check(struct tls_keys *k, const char *cert_pem, size_t cert_len, const char *key_pem,
		   size_t key_len, mbedtls_ctr_drbg_context *drbg, char *why, size_t why_size);

/* Store a checked pair as dir/cert.pem and dir/key.pem (0600, each
 * replaced atomically; the key first). 0 or -errno with why filled. */
int tls_keys_store_user(const char *dir, const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, char *why, size_t why_size);
/* Move dir/cert.pem and dir/key.pem aside to NAME.1, so that the
 * self-signed pair is served. 0 (also when there were none) or -errno. */
int tls_keys_remove_user(const char *dir, char *why, size_t why_size);
/* Make and store a new self-signed pair in dir. 0 or -errno with why. */
int tls_keys_generate(const char *dir, mbedtls_ctr_drbg_context *drbg, char *why, size_t why_size);
/* Subject, validity and names of k's certificate into out. */
void tls_keys_info(const struct tls_keys *k, struct tls_cert_info *out);

/* "AB:CD:..." of SHA-256 over der[0..len). */
void tls_fingerprint(const unsigned char *der, size_t len, char out[TLS_FINGERPRINT_LEN]);

#endif
