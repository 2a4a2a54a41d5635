/* Keys and certificates for the HTTPS server (mbedtls users only). */
#ifndef KVMBOX_TLS_CERT_H
#define KVMBOX_TLS_CERT_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "http/tls.h"

#define TLS_MAX_SAN 32 /* names and addresses in the self-signed certificate */

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

/* "AB:CD:..." of SHA-256 over der[0..len). */
void tls_fingerprint(const unsigned char *der, size_t len, char out[TLS_FINGERPRINT_LEN]);

#endif
