/* Keys and certificates for the HTTPS server; see tls.h and tls_cert.h. */
#include "http/tls_cert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "log.h"
#include "supervisor/state.h"

#define USER_CERT TLS_USER_CERT
#define USER_KEY TLS_USER_KEY
#define SELF_CERT "selfsigned-cert.pem"
#define SELF_KEY "selfsigned-key.pem"

void tls_fingerprint(const unsigned char *der, size_t len, char out[TLS_FINGERPRINT_LEN])
{
	unsigned char d[32];
	if (mbedtls_sha256(der, len, d, 0)) {
		snprintf(out, TLS_FINGERPRINT_LEN, "(unknown)");
		return;
	}
	for (int i = 0; i < 32; i++)
		snprintf(out + 3 * i, TLS_FINGERPRINT_LEN - 3 * (size_t)i, "%02X%s", d[i], i < 31 ? ":" : "");
}

static void mbed_why(char *why, size_t size, const char *what, int ret)
{
	char msg[128];
	mbedtls_strerror(ret, msg, sizeof(msg));
	snprintf(why, size, "%s: %s", what, msg);
}

void tls_keys_free(struct tls_keys *k)
{
	mbedtls_x509_crt_free(&k->crt);
	mbedtls_pk_free(&k->key);
}

int tls_keys_check(struct tls_keys *k, const char *cert_pem, size_t cert_len, const char *key_pem,
		   size_t key_len, mbedtls_ctr_drbg_context *drbg, char *why, size_t why_size)
{
	mbedtls_x509_crt_init(&k->crt);
	mbedtls_pk_init(&k->key);
	/* mbedtls wants PEM with its NUL counted in the length. */
	if (!cert_len || cert_pem[cert_len] != '\0' || !key_len || key_pem[key_len] != '\0') {
		snprintf(why, why_size, "the certificate or key is empty");
		goto fail;
	}
	if (!strstr(cert_pem, "-----BEGIN CERTIFICATE-----")) {
		snprintf(why, why_size, "the certificate is not PEM (no BEGIN CERTIFICATE line)");
		goto fail;
	}
	int r = mbedtls_x509_crt_parse(&k->crt, (const unsigned char *)cert_pem, cert_len + 1);
	if (r) {
		mbed_why(why, why_size, "the certificate does not parse (it must be PEM with an ECDSA P-256 key, signed with ECDSA)", r);
		goto fail;
	}
	r = mbedtls_pk_parse_key(&k->key, (const unsigned char *)key_pem, key_len + 1, NULL, 0,
				 mbedtls_ctr_drbg_random, drbg);
	if (r) {
		mbed_why(why, why_size, "the key does not parse (it must be unencrypted PEM)", r);
		goto fail;
	}
	if (mbedtls_pk_get_type(&k->key) != MBEDTLS_PK_ECKEY || mbedtls_pk_get_bitlen(&k->key) != 256 ||
	    mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(k->key)) != MBEDTLS_ECP_DP_SECP256R1) {
		snprintf(why, why_size, "the key is not ECDSA P-256, the only kind this server's TLS supports");
		goto fail;
	}
	r = mbedtls_pk_check_pair(&k->crt.pk, &k->key, mbedtls_ctr_drbg_random, drbg);
	if (r) {
		snprintf(why, why_size, "the key does not belong to the (first) certificate");
		goto fail;
	}
	tls_fingerprint(k->crt.raw.p, k->crt.raw.len, k->fingerprint);
	return 0;
fail:
	tls_keys_free(k);
	return -EINVAL;
}

/* Read and check the pair dir/cert_name + dir/key_name. -ENOENT when
 * neither file exists; -EINVAL (why filled) when they are not usable. */
static int keys_load_pair(struct tls_keys *k, const char *dir, const char *cert_name, const char *key_name,
			  mbedtls_ctr_drbg_context *drbg, char *why, size_t why_size)
{
	char cpath[PATH_MAX], kpath[PATH_MAX];
	char *cert = NULL, *key = NULL;
	size_t clen, klen;
	snprintf(cpath, sizeof(cpath), "%s/%s", dir, cert_name);
	snprintf(kpath, sizeof(kpath), "%s/%s", dir, key_name);
	int rc = state_read_file(cpath, TLS_MAX_PEM, &cert, &clen);
	int rk = state_read_file(kpath, TLS_MAX_PEM, &key, &klen);
	int r;
	if (rc == -ENOENT && rk == -ENOENT) {
		r = -ENOENT;
	} else if (rc || rk) {
		snprintf(why, why_size, "%s: %s", rc ? cpath : kpath,
			 (rc ? rc : rk) == -EFBIG ? "larger than a key or certificate can be" : strerror(-(rc ? rc : rk)));
		r = -EINVAL;
	} else {
		char inner[320];
		r = tls_keys_check(k, cert, clen, key, klen, drbg, inner, sizeof(inner));
		if (r)
			snprintf(why, why_size, "%s and %s: %s", cpath, kpath, inner);
	}
	if (key) {
		/* The key must not linger in freed memory. */
		mbedtls_platform_zeroize(key, klen);
		free(key);
	}
	free(cert);
	return r;
}

/* The names and addresses the certificate is good for. */
struct san_set {
	mbedtls_x509_san_list node[TLS_MAX_SAN];
	unsigned char ip[TLS_MAX_SAN][16];
	char host[64];
	unsigned n;
};

static void san_add(struct san_set *s, int type, const void *p, size_t len)
{
	if (s->n >= TLS_MAX_SAN || !len)
		return;
	for (unsigned i = 0; i < s->n; i++)
		if (s->node[i].node.type == type && s->node[i].node.san.unstructured_name.len == len &&
		    !memcmp(s->node[i].node.san.unstructured_name.p, p, len))
			return;
	mbedtls_x509_san_list *n = &s->node[s->n];
	n->node.type = type;
	n->node.san.unstructured_name.p = (unsigned char *)p;
	n->node.san.unstructured_name.len = len;
	n->next = NULL;
	if (s->n)
		s->node[s->n - 1].next = n;
	s->n++;
}

static void san_add_ip(struct san_set *s, const void *addr, size_t len)
{
	if (s->n >= TLS_MAX_SAN)
		return;
	memcpy(s->ip[s->n], addr, len);
	san_add(s, MBEDTLS_X509_SAN_IP_ADDRESS, s->ip[s->n], len);
}

static void san_collect(struct san_set *s)
{
	static const unsigned char lo6[16] = { [15] = 1 };
	const unsigned char lo4[4] = { 127, 0, 0, 1 };
	memset(s, 0, sizeof(*s));
	/* Only name characters: the host name also goes into the subject DN,
	 * where ',' or '=' would change its meaning. */
	if (gethostname(s->host, sizeof(s->host) - 1) == 0 && s->host[0]) {
		for (char *p = s->host; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			      *p == '-' || *p == '.'))
				*p = '-';
		san_add(s, MBEDTLS_X509_SAN_DNS_NAME, s->host, strlen(s->host));
	} else {
		snprintf(s->host, sizeof(s->host), "kvmbox");
	}
	san_add(s, MBEDTLS_X509_SAN_DNS_NAME, "kvmbox", 6);
	san_add(s, MBEDTLS_X509_SAN_DNS_NAME, "localhost", 9);
	san_add_ip(s, lo4, 4);
	san_add_ip(s, lo6, 16);
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa))
		return;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			san_add_ip(s, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			if (!IN6_IS_ADDR_LINKLOCAL(a)) /* needs a zone; browsers cannot use it */
				san_add_ip(s, a, 16);
		}
	}
	freeifaddrs(ifa);
}

static void fmt_time(char out[16], time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* Make an ECDSA P-256 key and a self-signed certificate for it; store both.
 * The key is written first: a crash between the two leaves a pair that does
 * not match, which the next start detects and replaces. */
int tls_keys_generate(const char *dir, mbedtls_ctr_drbg_context *drbg, char *why, size_t why_size)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert w;
	static unsigned char keypem[2048], certpem[8192];
	struct san_set *san = calloc(1, sizeof(*san));
	int r = -EINVAL, m;

	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&w);
	if (!san) {
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
#define MB(call, what)                                          \
	if ((m = (call)) != 0) {                                \
		mbed_why(why, why_size, what, m);               \
		goto out;                                       \
	}
	MB(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "making the key");
	MB(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, drbg),
	   "making the key");
	MB(mbedtls_pk_write_key_pem(&key, keypem, sizeof(keypem)), "writing the key");

	san_collect(san);
	char dn[128], from[16], to[16];
	snprintf(dn, sizeof(dn), "CN=%s,O=kvmbox", san->host);
	time_t now = time(NULL);
	/* A day of slack for a clock that is a little behind the client's. */
	fmt_time(from, now - 24 * 3600);
	fmt_time(to, now + (time_t)TLS_CERT_YEARS * 365 * 24 * 3600);
	unsigned char serial[16];
	MB(mbedtls_ctr_drbg_random(drbg, serial, sizeof(serial)), "making a serial number");
	serial[0] = (serial[0] & 0x7f) | 0x40; /* positive, and 16 bytes long */
	static const char server_auth[] = MBEDTLS_OID_SERVER_AUTH;
	mbedtls_asn1_sequence eku = {
		.buf = { .tag = MBEDTLS_ASN1_OID, .len = sizeof(server_auth) - 1, .p = (unsigned char *)server_auth },
	};

	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &key);
	mbedtls_x509write_crt_set_issuer_key(&w, &key);
	MB(mbedtls_x509write_crt_set_subject_name(&w, dn), "setting the subject");
	MB(mbedtls_x509write_crt_set_issuer_name(&w, dn), "setting the issuer");
	MB(mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof(serial)), "setting the serial");
	MB(mbedtls_x509write_crt_set_validity(&w, from, to), "setting the validity");
	MB(mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1), "setting basic constraints");
	MB(mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE), "setting key usage");
	MB(mbedtls_x509write_crt_set_ext_key_usage(&w, &eku), "setting extended key usage");
	MB(mbedtls_x509write_crt_set_subject_alternative_name(&w, san->node), "setting the names");
	MB(mbedtls_x509write_crt_pem(&w, certpem, sizeof(certpem), mbedtls_ctr_drbg_random, drbg),
	   "signing the certificate");
#undef MB

	r = state_write_file(dir, SELF_KEY, keypem, strlen((char *)keypem), 0600);
	if (!r)
		r = state_write_file(dir, SELF_CERT, certpem, strlen((char *)certpem), 0644);
	if (r)
		snprintf(why, why_size, "storing the key and certificate in %s: %s", dir, strerror(-r));
	else
		log_info("https: made a new ECDSA P-256 key and self-signed certificate for %s (%u names "
			 "and addresses), valid %d years", san->host, san->n, TLS_CERT_YEARS);
out:
	mbedtls_platform_zeroize(keypem, sizeof(keypem));
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&key);
	free(san);
	return r;
}

int tls_keys_load(struct tls_keys *k, const char *dir, mbedtls_ctr_drbg_context *drbg, char *why, size_t why_size)
{
	char inner[512];
	int r = state_mkdirs(dir, 0700);
	if (r) {
		snprintf(why, why_size, "cannot make %s: %s", dir, strerror(-r));
		return r;
	}
	r = keys_load_pair(k, dir, USER_CERT, USER_KEY, drbg, inner, sizeof(inner));
	if (r == 0) {
		k->user = true;
		log_info("https: serving the certificate in %s/%s", dir, USER_CERT);
		return 0;
	}
	if (r != -ENOENT)
		log_error("https: %s; serving the self-signed certificate instead. Replace both files with a "
			  "matching PEM certificate and unencrypted ECDSA P-256 key, or remove them.", inner);

	k->user = false;
	r = keys_load_pair(k, dir, SELF_CERT, SELF_KEY, drbg, inner, sizeof(inner));
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		log_warn("https: %s; making a new self-signed certificate", inner);
	r = tls_keys_generate(dir, drbg, why, why_size);
	if (r)
		return r;
	r = keys_load_pair(k, dir, SELF_CERT, SELF_KEY, drbg, why, why_size);
	return r == -ENOENT ? -EIO : r;
}
