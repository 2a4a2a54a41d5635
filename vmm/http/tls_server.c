/* The TLS transport for the HTTPS server; see tls.h. */
#include "http/tls.h"

#include <errno.h>
#include <limits.h>
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

/* One key pair and the TLS configuration that serves it. A new certificate
 * makes a new generation; connections keep a pointer to the one they were
 * set up with (mbedtls reads its conf during and after the handshake), so
 * an old generation lives on until its last connection closes. The server
 * runs in one thread, so the counts need no lock. */
struct tls_gen {
	mbedtls_ssl_config conf;
	struct tls_keys keys;
	unsigned conns;
	struct tls_gen *next; /* the server's list: current first */
};

struct tls_server {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	struct tls_gen *gens; /* gens is the one new connections get */
	char dir[PATH_MAX];
	char fingerprint[TLS_FINGERPRINT_LEN]; /* stays put: the API holds the pointer */
};

struct tls_conn {
	mbedtls_ssl_context ssl;
	int fd;
	int last; /* the last mbedtls error, for the log */
	struct tls_server *t;
	struct tls_gen *gen;
};

static struct tls_server *current_server;

/* The suites, strongest first. TLS 1.3 suites are AEAD by definition; the
 * TLS 1.2 ones are ECDHE (forward secrecy) with an AEAD: no CBC (padding
 * oracles), no static RSA key exchange (no forward secrecy). */
const int tls_suites[] = {
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
const uint16_t tls_groups[] = {
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

const char *tls_alpn[] = { "http/1.1", NULL };

const char *tls_server_fingerprint(const struct tls_server *t)
{
	return t->fingerprint;
}

const char *tls_server_cert_source(const struct tls_server *t)
{
	return t->gens->keys.user ? "user" : "self-signed";
}

struct tls_server *tls_server_current(void)
{
	return current_server;
}

void tls_server_cert_info(const struct tls_server *t, struct tls_cert_info *out)
{
	tls_keys_info(&t->gens->keys, out);
}

static void gen_free(struct tls_gen *g)
{
	mbedtls_ssl_config_free(&g->conf);
	tls_keys_free(&g->keys);
	free(g);
}

/* A generation with the pair tls_keys_load picks in t->dir. */
static int gen_create(struct tls_server *t, struct tls_gen **out, char *why, size_t why_size)
{
	char msg[128];
	struct tls_gen *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	mbedtls_ssl_config_init(&g->conf);
	int r = tls_keys_load(&g->keys, t->dir, &t->drbg, why, why_size);
	if (r) {
		mbedtls_ssl_config_free(&g->conf);
		free(g);
		return r;
	}
	r = mbedtls_ssl_config_defaults(&g->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT);
	if (!r) {
		mbedtls_ssl_conf_rng(&g->conf, mbedtls_ctr_drbg_random, &t->drbg);
		mbedtls_ssl_conf_min_tls_version(&g->conf, MBEDTLS_SSL_VERSION_TLS1_2);
		mbedtls_ssl_conf_max_tls_version(&g->conf, MBEDTLS_SSL_VERSION_TLS1_3);
		mbedtls_ssl_conf_ciphersuites(&g->conf, tls_suites);
		mbedtls_ssl_conf_groups(&g->conf, tls_groups);
		mbedtls_ssl_conf_authmode(&g->conf, MBEDTLS_SSL_VERIFY_NONE);
		r = mbedtls_ssl_conf_alpn_protocols(&g->conf, tls_alpn);
	}
	if (!r)
		r = mbedtls_ssl_conf_own_cert(&g->conf, &g->keys.crt, &g->keys.key);
	if (r) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, why_size, "configuring TLS: %s", msg);
		gen_free(g);
		return -EINVAL;
	}
	*out = g;
	return 0;
}

/* Serve what t->dir now holds to new connections. Generations no connection
 * uses any more are freed now; the others when their last one closes. */
int tls_server_reload(struct tls_server *t, char *why, size_t why_size)
{
	struct tls_gen *g;
	int r = gen_create(t, &g, why, why_size);
	if (r)
		return r;
	g->next = t->gens;
	t->gens = g;
	for (struct tls_gen **p = &g->next; *p;) {
		struct tls_gen *old = *p;
		if (old->conns) {
			p = &old->next;
			continue;
		}
		*p = old->next;
		gen_free(old);
	}
	snprintf(t->fingerprint, sizeof(t->fingerprint), "%s", g->keys.fingerprint);
	log_info("https: now serving the %s certificate, SHA-256 fingerprint %s, to new connections",
		 tls_server_cert_source(t), t->fingerprint);
	return 0;
}

int tls_server_set_user(struct tls_server *t, const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, char *why, size_t why_size)
{
	struct tls_keys k;
	int r = tls_keys_check(&k, cert_pem, cert_len, key_pem, key_len, &t->drbg, why, why_size);
	if (r)
		return -EINVAL;
	tls_keys_free(&k);
	r = tls_keys_store_user(t->dir, cert_pem, cert_len, key_pem, key_len, why, why_size);
	if (!r)
		r = tls_server_reload(t, why, why_size);
	if (!r && !t->gens->keys.user) { /* checked above, so only the disk can make this happen */
		snprintf(why, why_size, "the stored certificate did not load back from %s; see the log", t->dir);
		r = -EIO;
	}
	return r;
}

int tls_server_use_self_signed(struct tls_server *t, char *why, size_t why_size)
{
	int r = tls_keys_remove_user(t->dir, why, why_size);
	return r ? r : tls_server_reload(t, why, why_size);
}

int tls_server_regenerate(struct tls_server *t, char *why, size_t why_size)
{
	int r = tls_keys_remove_user(t->dir, why, why_size);
	if (!r)
		r = tls_keys_generate(t->dir, &t->drbg, why, why_size);
	return r ? r : tls_server_reload(t, why, why_size);
}

void tls_server_free(struct tls_server *t)
{
	if (!t)
		return;
	if (current_server == t)
		current_server = NULL;
	while (t->gens) {
		struct tls_gen *g = t->gens;
		t->gens = g->next;
		gen_free(g);
	}
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
	if (strlen(dir) >= sizeof(t->dir)) {
		free(t);
		snprintf(why, why_size, "the path %.80s... is too long", dir);
		return -ENAMETOOLONG;
	}
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
				  (const unsigned char *)"kvmbox https", 12);
	if (r) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, why_size, "seeding the random generator from getrandom(): %s", msg);
		r = -EIO;
		goto fail;
	}
	r = gen_create(t, &t->gens, why, why_size);
	if (r)
		goto fail;
	snprintf(t->fingerprint, sizeof(t->fingerprint), "%s", t->gens->keys.fingerprint);
	current_server = t;
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
	c->t = t;
	c->gen = t->gens;
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, &c->gen->conf)) {
		mbedtls_ssl_free(&c->ssl);
		free(c);
		return NULL;
	}
	c->gen->conns++;
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
	/* The last connection of a replaced generation takes it along. */
	if (--c->gen->conns == 0 && c->gen != c->t->gens) {
		for (struct tls_gen **p = &c->t->gens->next; *p; p = &(*p)->next)
			if (*p == c->gen) {
				*p = c->gen->next;
				gen_free(c->gen);
				break;
			}
	}
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
