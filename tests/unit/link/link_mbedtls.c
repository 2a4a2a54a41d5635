/*
 * Link test: the sysroot's mbedtls, built with musl and kvmbox's config,
 * does real work in a static binary. It covers what the supervisor will do:
 * hash, derive a password key, make a P-256 key and a self-signed
 * certificate, read both back, and serve TLS 1.3 (and 1.2) to a client.
 * Client and server run in one thread over a nonblocking socketpair, taking
 * turns, so the test is deterministic and needs no threads.
 *
 * Prints "ok NAME" or "not ok NAME: reason" per check; exits 1 on a failure.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#define HOST "kvmbox.test"

static struct {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context key;
	mbedtls_x509_crt crt;
	unsigned char pem[4096];
} t;

static int failures;
static char why[256];

static void result(const char *name, const char *err)
{
	if (err) {
		printf("not ok %s: %s\n", name, err);
		failures++;
	} else {
		printf("ok %s\n", name);
	}
}

static const char *mbed_err(const char *what, int ret)
{
	char msg[96];
	mbedtls_strerror(ret, msg, sizeof(msg));
	snprintf(why, sizeof(why), "%.100s returned -0x%04x (%s)", what, (unsigned)-ret, msg);
	return why;
}

/* Each check keeps `const char *err` and an `out:` label that frees. */
#define TRY(call) do { int r_ = (call); if (r_ != 0) { err = mbed_err(#call, r_); goto out; } } while (0)
#define EXPECT(cond) do { if (!(cond)) { err = "expected " #cond; goto out; } } while (0)

static int hex_eq(const unsigned char *got, const char *hex, size_t len)
{
	char buf[2 * 64 + 1];
	for (size_t i = 0; i < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", got[i]);
	return strcmp(buf, hex) == 0;
}

static const char *check_sha256(void)
{
	const char *err = NULL;
	unsigned char d[32];
	TRY(mbedtls_sha256((const unsigned char *)"abc", 3, d, 0));
	EXPECT(hex_eq(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 32));
out:
	return err;
}

static const char *check_pbkdf2(void)
{
	const char *err = NULL;
	unsigned char d[32];
	TRY(mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, (const unsigned char *)"password", 8,
					  (const unsigned char *)"salt", 4, 4096, sizeof(d), d));
	EXPECT(hex_eq(d, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a", 32));
out:
	return err;
}

/* Seeding pulls from the getrandom() source in the library. */
static const char *check_rng(void)
{
	const char *err = NULL;
	unsigned char a[32], b[32];
	TRY(mbedtls_ctr_drbg_seed(&t.drbg, mbedtls_entropy_func, &t.entropy,
				  (const unsigned char *)"link_mbedtls", 12));
	TRY(mbedtls_ctr_drbg_random(&t.drbg, a, sizeof(a)));
	TRY(mbedtls_ctr_drbg_random(&t.drbg, b, sizeof(b)));
	EXPECT(memcmp(a, b, sizeof(a)) != 0);
out:
	return err;
}

static const char *check_keygen(void)
{
	const char *err = NULL;
	TRY(mbedtls_pk_setup(&t.key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)));
	TRY(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(t.key),
				mbedtls_ctr_drbg_random, &t.drbg));
	EXPECT(mbedtls_pk_get_bitlen(&t.key) == 256);
out:
	return err;
}

static const char *check_cert_write(void)
{
	const char *err = NULL;
	mbedtls_x509write_cert w;
	unsigned char serial[] = { 0x4b, 0x56, 0x4d };
	mbedtls_x509_san_list san = {
		.node = { .type = MBEDTLS_X509_SAN_DNS_NAME,
			  .san.unstructured_name = { .len = strlen(HOST), .p = (unsigned char *)HOST } },
	};
	mbedtls_x509write_crt_init(&w);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &t.key);
	mbedtls_x509write_crt_set_issuer_key(&w, &t.key);
	TRY(mbedtls_x509write_crt_set_subject_name(&w, "CN=" HOST ",O=kvmbox"));
	TRY(mbedtls_x509write_crt_set_issuer_name(&w, "CN=" HOST ",O=kvmbox"));
	TRY(mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof(serial)));
	TRY(mbedtls_x509write_crt_set_validity(&w, "20240101000000", "20991231235959"));
	TRY(mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1));
	TRY(mbedtls_x509write_crt_set_subject_alternative_name(&w, &san));
	TRY(mbedtls_x509write_crt_pem(&w, t.pem, sizeof(t.pem), mbedtls_ctr_drbg_random, &t.drbg));
	EXPECT(strstr((char *)t.pem, "-----BEGIN CERTIFICATE-----") != NULL);
out:
	mbedtls_x509write_crt_free(&w);
	return err;
}

static const char *check_cert_parse(void)
{
	const char *err = NULL;
	char dn[256];
	uint32_t flags = 0;
	TRY(mbedtls_x509_crt_parse(&t.crt, t.pem, strlen((char *)t.pem) + 1));
	EXPECT(mbedtls_x509_dn_gets(dn, sizeof(dn), &t.crt.subject) > 0);
	EXPECT(strcmp(dn, "CN=" HOST ", O=kvmbox") == 0);
	EXPECT(MBEDTLS_OID_CMP(MBEDTLS_OID_ECDSA_SHA256, &t.crt.sig_oid) == 0);
	EXPECT(mbedtls_pk_get_type(&t.crt.pk) == MBEDTLS_PK_ECKEY);
	TRY(mbedtls_pk_check_pair(&t.crt.pk, &t.key, mbedtls_ctr_drbg_random, &t.drbg));
	/* Trusted as itself, for the name in its subjectAltName. */
	TRY(mbedtls_x509_crt_verify(&t.crt, &t.crt, NULL, HOST, &flags, NULL, NULL));
out:
	return err;
}

/* The supervisor stores its key as PEM on /data and reads it at boot. */
static const char *check_key_pem(void)
{
	const char *err = NULL;
	unsigned char pem[1024];
	mbedtls_pk_context k;
	mbedtls_pk_init(&k);
	TRY(mbedtls_pk_write_key_pem(&t.key, pem, sizeof(pem)));
	TRY(mbedtls_pk_parse_key(&k, pem, strlen((char *)pem) + 1, NULL, 0,
				 mbedtls_ctr_drbg_random, &t.drbg));
	TRY(mbedtls_pk_check_pair(&t.crt.pk, &k, mbedtls_ctr_drbg_random, &t.drbg));
out:
	mbedtls_pk_free(&k);
	return err;
}

static int want_io(int r)
{
	return r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/*
 * One handshake and one echoed message. max_version caps the client;
 * group, if not NONE, is the only key-exchange group the client offers.
 */
static const char *tls(uint16_t max_version, uint16_t group, uint16_t want_version)
{
	const char *err = NULL;
	int sv[2] = { -1, -1 };
	mbedtls_net_context cn = { -1 }, sn = { -1 };
	mbedtls_ssl_config cc, sc;
	mbedtls_ssl_context cli, srv;
	uint16_t groups[] = { group, MBEDTLS_SSL_IANA_TLS_GROUP_NONE };
	unsigned char buf[16];
	int cdone = 0, sdone = 0, r = 0;

	mbedtls_ssl_config_init(&cc);
	mbedtls_ssl_config_init(&sc);
	mbedtls_ssl_init(&cli);
	mbedtls_ssl_init(&srv);
	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	cn.fd = sv[0];
	sn.fd = sv[1];
	TRY(mbedtls_net_set_nonblock(&cn));
	TRY(mbedtls_net_set_nonblock(&sn));

	TRY(mbedtls_ssl_config_defaults(&sc, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT));
	mbedtls_ssl_conf_rng(&sc, mbedtls_ctr_drbg_random, &t.drbg);
	TRY(mbedtls_ssl_conf_own_cert(&sc, &t.crt, &t.key));

	TRY(mbedtls_ssl_config_defaults(&cc, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT));
	mbedtls_ssl_conf_rng(&cc, mbedtls_ctr_drbg_random, &t.drbg);
	mbedtls_ssl_conf_authmode(&cc, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&cc, &t.crt, NULL);
	mbedtls_ssl_conf_max_tls_version(&cc, max_version);
	if (group != MBEDTLS_SSL_IANA_TLS_GROUP_NONE)
		mbedtls_ssl_conf_groups(&cc, groups);

	TRY(mbedtls_ssl_setup(&srv, &sc));
	TRY(mbedtls_ssl_setup(&cli, &cc));
	TRY(mbedtls_ssl_set_hostname(&cli, HOST));
	mbedtls_ssl_set_bio(&srv, &sn, mbedtls_net_send, mbedtls_net_recv, NULL);
	mbedtls_ssl_set_bio(&cli, &cn, mbedtls_net_send, mbedtls_net_recv, NULL);

	for (int turn = 0; turn < 1000 && !(cdone && sdone); turn++) {
		if (!cdone && (r = mbedtls_ssl_handshake(&cli)) == 0)
			cdone = 1;
		else if (!cdone && !want_io(r))
			TRY(r);
		if (!sdone && (r = mbedtls_ssl_handshake(&srv)) == 0)
			sdone = 1;
		else if (!sdone && !want_io(r))
			TRY(r);
	}
	EXPECT(cdone && sdone);
	EXPECT(mbedtls_ssl_get_version_number(&cli) == want_version);
	EXPECT(mbedtls_ssl_get_version_number(&srv) == want_version);

	EXPECT(mbedtls_ssl_write(&cli, (const unsigned char *)"ping", 4) == 4);
	for (int turn = 0; turn < 100 && want_io(r = mbedtls_ssl_read(&srv, buf, sizeof(buf))); turn++)
		;
	EXPECT(r == 4 && memcmp(buf, "ping", 4) == 0);
	EXPECT(mbedtls_ssl_write(&srv, (const unsigned char *)"pong", 4) == 4);
	for (int turn = 0; turn < 100 && want_io(r = mbedtls_ssl_read(&cli, buf, sizeof(buf))); turn++)
		;
	EXPECT(r == 4 && memcmp(buf, "pong", 4) == 0);
out:
	mbedtls_ssl_free(&cli);
	mbedtls_ssl_free(&srv);
	mbedtls_ssl_config_free(&cc);
	mbedtls_ssl_config_free(&sc);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return err;
}

int main(void)
{
	const char *err = NULL;
	psa_status_t ps;

	mbedtls_entropy_init(&t.entropy);
	mbedtls_ctr_drbg_init(&t.drbg);
	mbedtls_pk_init(&t.key);
	mbedtls_x509_crt_init(&t.crt);

	/* TLS 1.3 in mbedtls 3.6 runs on PSA, which must be up first. */
	ps = psa_crypto_init();
	if (ps != PSA_SUCCESS) {
		snprintf(why, sizeof(why), "psa_crypto_init returned %d", (int)ps);
		err = why;
	}
	result("psa_crypto_init", err);
	result("sha256_abc", check_sha256());
	result("pbkdf2_hmac_sha256", check_pbkdf2());
	result("ctr_drbg_getrandom", check_rng());
	result("ecdsa_p256_keygen", check_keygen());
	result("x509_write_self_signed", check_cert_write());
	result("x509_parse_verify", check_cert_parse());
	result("key_pem_roundtrip", check_key_pem());
	result("tls13_handshake_p256", tls(MBEDTLS_SSL_VERSION_TLS1_3, MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
					   MBEDTLS_SSL_VERSION_TLS1_3));
	result("tls13_handshake_x25519", tls(MBEDTLS_SSL_VERSION_TLS1_3, MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
					     MBEDTLS_SSL_VERSION_TLS1_3));
	result("tls12_handshake", tls(MBEDTLS_SSL_VERSION_TLS1_2, MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
				      MBEDTLS_SSL_VERSION_TLS1_2));

	mbedtls_x509_crt_free(&t.crt);
	mbedtls_pk_free(&t.key);
	mbedtls_ctr_drbg_free(&t.drbg);
	mbedtls_entropy_free(&t.entropy);
	mbedtls_psa_crypto_free();
	return failures ? 1 : 0;
}
