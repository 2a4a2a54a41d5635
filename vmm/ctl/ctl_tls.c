/* kvmbox ctl: the TLS client; see ctl_tls.h. */
#include "ctl/ctl_tls.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "http/tls_cert.h"

struct ctl_tls {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	mbedtls_x509_crt ca;
	int fd;
	int sock_errno; /* what the socket said last, for messages */
	char err[160];
};

/* Blocking socket with SO_RCVTIMEO/SO_SNDTIMEO: EAGAIN means the timeout. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct ctl_tls *t = ctx;
	for (;;) {
		ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		t->sock_errno = errno;
		return errno == EAGAIN || errno == EWOULDBLOCK ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_SEND_FAILED;
	}
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct ctl_tls *t = ctx;
	for (;;) {
		ssize_t n = recv(t->fd, buf, len, 0);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		t->sock_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_TIMEOUT;
		return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
	}
}

static void mbed_msg(struct ctl_tls *t, int r, char *buf, size_t size)
{
	if (r == MBEDTLS_ERR_SSL_TIMEOUT)
		snprintf(buf, size, "timed out");
	else if ((r == MBEDTLS_ERR_NET_SEND_FAILED || r == MBEDTLS_ERR_NET_RECV_FAILED ||
		  r == MBEDTLS_ERR_NET_CONN_RESET) && t->sock_errno)
		snprintf(buf, size, "%s", strerror(t->sock_errno));
	else if (r == MBEDTLS_ERR_SSL_CONN_EOF)
		snprintf(buf, size, "the server closed the connection");
	else
		mbedtls_strerror(r, buf, size);
}

static int tcp_connect(struct ctl_tls *t, const struct ctl_tls_opts *o, enum ctl_tls_fail *fail, char *why,
		       size_t why_size)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int r = getaddrinfo(o->host, o->port, &hints, &ai);
	if (r) {
		*fail = CTL_FAIL_DNS;
		snprintf(why, why_size, "cannot resolve %s: %s", o->host,
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -EHOSTUNREACH;
	}
	struct timeval tv = { .tv_sec = o->timeout_ms / 1000, .tv_usec = (o->timeout_ms % 1000) * 1000 };
	int err = ECONNREFUSED;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		/* Linux bounds connect() by the send timeout too. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			t->fd = fd;
			freeaddrinfo(ai);
			return 0;
		}
		err = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;
		close(fd);
	}
	freeaddrinfo(ai);
	*fail = CTL_FAIL_CONNECT;
	snprintf(why, why_size, "cannot connect to %s port %s: %s", o->host, o->port, strerror(err));
	return -err;
}

static void fingerprint(const mbedtls_x509_crt *c, char fp[CTL_FP_LEN])
{
	unsigned char d[32];
	if (mbedtls_sha256(c->raw.p, c->raw.len, d, 0)) {
		snprintf(fp, CTL_FP_LEN, "(unknown)");
		return;
	}
	for (int i = 0; i < 32; i++)
		snprintf(fp + 3 * i, CTL_FP_LEN - 3 * (size_t)i, "%02X%s", d[i], i < 31 ? ":" : "");
}

static int setup(struct ctl_tls *t, const struct ctl_tls_opts *o, enum ctl_tls_fail *fail, char *why,
		 size_t why_size)
{
	char msg[128];
	int r;
	*fail = CTL_FAIL_LOCAL;
	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(why, why_size, "the crypto library did not start (psa_crypto_init)");
		return -EIO;
	}
	r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
				  (const unsigned char *)"kvmbox ctl", 10);
	if (r) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, why_size, "seeding the random generator: %s", msg);
		return -EIO;
	}
	if (o->cacert) {
		r = mbedtls_x509_crt_parse_file(&t->ca, o->cacert);
		if (r < 0 || !t->ca.raw.len) {
			mbedtls_strerror(r, msg, sizeof(msg));
			snprintf(why, why_size, "cannot load the CA certificates in %s: %s (PEM or DER, ECDSA)",
				 o->cacert, r < 0 ? msg : "none of them parsed");
			return -EINVAL;
		}
	}
	r = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT);
	if (!r) {
		mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
		mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
		mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
		mbedtls_ssl_conf_ciphersuites(&t->conf, tls_suites);
		mbedtls_ssl_conf_groups(&t->conf, tls_groups);
		/* OPTIONAL: the handshake completes and the verdict is ours,
		 * after it (see ctl_tls.h), so that a failure can say why. */
		mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
		mbedtls_ssl_conf_ca_chain(&t->conf, o->cacert ? &t->ca : NULL, NULL);
		r = mbedtls_ssl_conf_alpn_protocols(&t->conf, tls_alpn);
	}
	if (!r)
		r = mbedtls_ssl_setup(&t->ssl, &t->conf);
	/* The name goes into SNI and is what --cacert checks the certificate for. */
	if (!r)
		r = mbedtls_ssl_set_hostname(&t->ssl, o->host);
	if (r) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, why_size, "configuring TLS: %s", msg);
		return -EINVAL;
	}
	mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
	return 0;
}

/* Whether the certificate that the handshake authenticated is acceptable. */
static int judge(struct ctl_tls *t, const struct ctl_tls_opts *o, const char *fp, enum ctl_tls_fail *fail,
		 char *why, size_t why_size)
{
	if (o->insecure)
		return 0;
	if (!o->pin && !o->cacert) {
		*fail = CTL_FAIL_UNKNOWN;
		snprintf(why, why_size, "the server's certificate is not trusted yet");
		return -ENOKEY;
	}
	if (o->pin && strcmp(fp, o->pin)) {
		*fail = CTL_FAIL_TRUST;
		snprintf(why, why_size,
			 "certificate mismatch: the server %s presents SHA-256 fingerprint\n  %s\nbut the expected one is\n  %s",
			 o->host, fp, o->pin);
		return -EKEYREJECTED;
	}
	if (o->cacert) {
		uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
		if (flags) {
			char info[512];
			int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
			for (int i = 0; i < n && info[i]; i++)
				if (info[i] == '\n')
					info[i] = i == n - 1 ? '\0' : ';';
			*fail = CTL_FAIL_TRUST;
			snprintf(why, why_size, "the server's certificate does not verify against %s for %s: %s",
				 o->cacert, o->host, n > 0 ? info : "unknown reason");
			return -EKEYREJECTED;
		}
	}
	return 0;
}

int ctl_tls_connect(struct ctl_tls **out, const struct ctl_tls_opts *o, char fp[CTL_FP_LEN],
		    enum ctl_tls_fail *fail, char *why, size_t why_size)
{
	*out = NULL;
	fp[0] = '\0';
	*fail = CTL_FAIL_NONE;
	struct ctl_tls *t = calloc(1, sizeof(*t));
	if (!t) {
		*fail = CTL_FAIL_LOCAL;
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	t->fd = -1;
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_ssl_init(&t->ssl);
	mbedtls_x509_crt_init(&t->ca);
	int r = setup(t, o, fail, why, why_size);
	if (!r)
		r = tcp_connect(t, o, fail, why, why_size);
	if (!r) {
		int m;
		do
			m = mbedtls_ssl_handshake(&t->ssl);
		while (m == MBEDTLS_ERR_SSL_WANT_READ || m == MBEDTLS_ERR_SSL_WANT_WRITE);
		const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&t->ssl);
		if (peer)
			fingerprint(peer, fp);
		if (m) {
			char msg[128];
			mbed_msg(t, m, msg, sizeof(msg));
			*fail = CTL_FAIL_TLS;
			snprintf(why, why_size, "TLS handshake with %s port %s failed: %s", o->host, o->port, msg);
			r = -EPROTO;
		} else if (!peer) {
			*fail = CTL_FAIL_TLS;
			snprintf(why, why_size, "the server %s sent no certificate", o->host);
			r = -EPROTO;
		} else {
			r = judge(t, o, fp, fail, why, why_size);
		}
	}
	if (r) {
		ctl_tls_close(t);
		return r;
	}
	*out = t;
	return 0;
}

int ctl_tls_write(struct ctl_tls *t, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len) {
		int n = mbedtls_ssl_write(&t->ssl, p, len);
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (n < 0) {
			mbed_msg(t, n, t->err, sizeof(t->err));
			return n == MBEDTLS_ERR_SSL_TIMEOUT ? -ETIMEDOUT : -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t ctl_tls_read(struct ctl_tls *t, void *buf, size_t len)
{
	for (;;) {
		int n = mbedtls_ssl_read(&t->ssl, buf, len);
		if (n >= 0)
			return n;
		if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
			return 0;
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE ||
		    n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
		mbed_msg(t, n, t->err, sizeof(t->err));
		return n == MBEDTLS_ERR_SSL_TIMEOUT ? -ETIMEDOUT : n == MBEDTLS_ERR_NET_CONN_RESET ? -ECONNRESET : -EIO;
	}
}

const char *ctl_tls_error(struct ctl_tls *t)
{
	return t->err[0] ? t->err : "unknown error";
}

void ctl_tls_close(struct ctl_tls *t)
{
	if (!t)
		return;
	if (t->fd >= 0) {
		mbedtls_ssl_close_notify(&t->ssl); /* one try; the reply is already read */
		close(t->fd);
	}
	mbedtls_ssl_free(&t->ssl);
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->ca);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->entropy);
	free(t);
}
