/* kvmbox ctl: the TLS client (mbedtls 3.6, in ctl_tls*.c only).
 *
 * The same protocol floor as the server (http/tls.h): TLS 1.3 and 1.2, AEAD
 * suites with ECDHE, X25519 or P-256. The handshake proves the server holds
 * the key of the certificate it sent, whatever the trust mode; what makes
 * that certificate the right one is decided after the handshake, before a
 * single byte of a request (and so of the token) is sent:
 *   pin       its SHA-256 must equal the pinned fingerprint
 *   cacert    it must verify against the CA file, for the host name
 *   insecure  anything goes (the caller warns)
 * With none of them ctl_tls_connect() fails with -ENOKEY after the handshake
 * and fills fp, so that the caller can show it (trust on first use).
 *
 * This header keeps mbedtls out of its users, which build on the host.
 */
#ifndef KVMBOX_CTL_TLS_H
#define KVMBOX_CTL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_FP_LEN 96 /* "AB:CD:..." of SHA-256, with the NUL */

struct ctl_tls_opts {
	const char *host;   /* name or address, no brackets */
	const char *port;
	const char *pin;    /* "AB:CD:..." (upper case, colons) or NULL */
	const char *cacert; /* PEM file or NULL */
	bool insecure;
	int timeout_ms;     /* connect, and each read or write */
};

/* What failed, for the caller's message (and exit status). */
enum ctl_tls_fail {
	CTL_FAIL_NONE,
	CTL_FAIL_DNS,      /* the name does not resolve */
	CTL_FAIL_CONNECT,  /* TCP: refused, unreachable, timed out */
	CTL_FAIL_TLS,      /* the handshake failed */
	CTL_FAIL_TRUST,    /* the certificate is not the one wanted */
	CTL_FAIL_UNKNOWN,  /* no trust mode: fp holds the certificate's fingerprint */
	CTL_FAIL_LOCAL,    /* out of memory, a CA file that does not load */
};

struct ctl_tls;

/* Connect and shake hands. 0, or -errno with *fail and a sentence in why.
 * fp (CTL_FP_LEN bytes) gets the server certificate's fingerprint whenever
 * the handshake got that far. */
int ctl_tls_connect(struct ctl_tls **out, const struct ctl_tls_opts *o, char fp[CTL_FP_LEN],
		    enum ctl_tls_fail *fail, char *why, size_t why_size);
/* Send all of buf: 0 or -errno. */
int ctl_tls_write(struct ctl_tls *t, const void *buf, size_t len);
/* Up to len bytes; 0 at the end of the stream; -errno (-ETIMEDOUT). */
ssize_t ctl_tls_read(struct ctl_tls *t, void *buf, size_t len);
/* The last error, for a person. */
const char *ctl_tls_error(struct ctl_tls *t);
void ctl_tls_close(struct ctl_tls *t);

/* SHA-256, for the upload checksum. */
struct ctl_sha256;
struct ctl_sha256 *ctl_sha256_new(void);
void ctl_sha256_update(struct ctl_sha256 *s, const void *p, size_t n);
/* 64 lower-case hex digits and a NUL; frees s. */
void ctl_sha256_final(struct ctl_sha256 *s, char hex[65]);

#endif
