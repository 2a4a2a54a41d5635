/* The TLS transport for the HTTPS server; see tls.h. */
#include "http/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <psa/crypto.h>

#include "http/tls_cert.h"
#include "log.h"

struct tls_server {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	struct tls_keys keys;
	bool keys_loaded;
};

struct tls_conn {
	mbedtls_ssl_context ssl;
	int fd;
	int last; /* the last mbedtls error, for the log */
};

/* The suites, strongest first. TLS 1.3 suites are AEAD by definition; the
 * TLS 1.2 ones are ECDHE (forward secrecy) with an AEAD: no CBC (padding
 * oracles), no static RSA key exchange (no forward secrecy). */
static const int tls_suites[] = {
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	0,
};

/* X25519 first: browsers send that key share first, so TLS 1.3 needs no
 * HelloRetryRequest. P-256 for everyone else. */
static const uint16_t tls_groups[] = {
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

static const char *tls_alpn[] = { "http/1.1", NULL };

const char *tls_server_fingerprint(const struct tls_server *t)
{
	return t->keys.fingerprint;
}

const char *tls_server_cert_source(const struct tls_server *t)
{
	return t->keys.user ? "user" : "self-signed";
}

void tls_server_free(struct tls_server *t)
{
	if (!t)
		return;
	mbedtls_ssl_config_free(&t->conf);
	if (t->keys_loaded)
		tls_keys_free(&t->keys);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->entropy);
	free(t);
}

int tls_server_create(struct tls_server **out, const char *dir, char *why, size_t why_size)
{
	char msg[128];
	int r;
	*out = NULL;
	/* TLS 1.3 in mbedtls 3.6 runs through PSA, which must be up first. */
	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(why, why_size, "the crypto library did not start (psa_crypto_init)");
		return -EIO;
	}
	struct tls_server *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	mbedtls_ssl_config_init(&t->conf);
	r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
				  (const unsigned char *)"kvmbox https", 12);
	if (r) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, why_size, "seeding the random generator from getrandom(): %s", msg);
		goto fail;
	}
	r = tls_keys_load(&t->keys, dir, &t->drbg, why, why_size);
	if (r)
		goto fail;
	t->keys_loaded = true;

	r = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT);
	if (!r) {
		mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
		mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
		mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
		mbedtls_ssl_conf_ciphersuites(&t->conf, tls_suites);
		mbedtls_ssl_conf_groups(&t->conf, tls_groups);
		mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
		r = mbedtls_ssl_conf_alpn_protocols(&t->conf, tls_alpn);
	}
	if (!r)
		r = mbedtls_ssl_conf_own_cert(&t->conf, &t->keys.crt, &t->keys.key);
	if (r) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, why_size, "configuring TLS: %s", msg);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	tls_server_free(t);
	return r < 0 && r > -4096 ? r : -EINVAL;
}

/* The socket side, non-blocking: EAGAIN becomes WANT_READ/WANT_WRITE. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn *c = ctx;
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_conn *c = ctx;
	ssize_t n = recv(c->fd, buf, len, 0);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

static void *tls_open(void *tctx, int fd)
{
	struct tls_server *t = tctx;
	struct tls_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, &t->conf)) {
		mbedtls_ssl_free(&c->ssl);
		free(c);
		return NULL;
	}
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	return c;
}

static ssize_t tls_result(struct tls_conn *c, int r)
{
	if (r >= 0)
		return r;
	if (r == MBEDTLS_ERR_SSL_WANT_READ)
		return HTTP_WANT_READ;
	if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
		return HTTP_WANT_WRITE;
	c->last = r;
	if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return 0;
	return -EIO;
}

static int tls_handshake(void *conn)
{
	struct tls_conn *c = conn;
	return (int)tls_result(c, mbedtls_ssl_handshake(&c->ssl));
}

static ssize_t tls_recv(void *conn, void *buf, size_t len)
{
	struct tls_conn *c = conn;
	return tls_result(c, mbedtls_ssl_read(&c->ssl, buf, len));
}

static ssize_t tls_send(void *conn, const void *buf, size_t len)
{
	struct tls_conn *c = conn;
	return tls_result(c, mbedtls_ssl_write(&c->ssl, buf, len));
}

static void tls_shutdown(void *conn)
{
	struct tls_conn *c = conn;
	mbedtls_ssl_close_notify(&c->ssl); /* one try; a full socket buffer loses it */
}

static void tls_close(void *conn)
{
	struct tls_conn *c = conn;
	mbedtls_ssl_free(&c->ssl);
	free(c);
}

static const char *tls_error(void *conn, char *buf, size_t size)
{
	struct tls_conn *c = conn;
	mbedtls_strerror(c->last, buf, size);
	return buf;
}

const struct http_transport tls_transport = {
	.name = "https",
	.open = tls_open,
	.handshake = tls_handshake,
	.recv = tls_recv,
	.send = tls_send,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.error = tls_error,
};
