/* The user's key and certificate on disk, and what the served certificate
 * says about itself; see tls_cert.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/x509.h>

#include "http/tls_cert.h"
#include "supervisor/state.h"

int tls_keys_store_user(const char *dir, const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, char *why, size_t why_size)
{
	int r = state_mkdirs(dir, 0700);
	/* The key first: a crash between the two leaves a pair that does not
	 * match, which the next start reports and replaces with the
	 * self-signed one, rather than a new certificate with the old key. The
	 * certificate is 0600 too: some tools treat the pair as one secret. */
	if (!r)
		r = state_write_file(dir, TLS_USER_KEY, key_pem, key_len, 0600);
	if (!r)
		r = state_write_file(dir, TLS_USER_CERT, cert_pem, cert_len, 0600);
	if (r)
		snprintf(why, why_size, "cannot store the key and certificate in %s: %s", dir, strerror(-r));
	return r;
}

int tls_keys_remove_user(const char *dir, char *why, size_t why_size)
{
	static const char *const names[] = { TLS_USER_CERT, TLS_USER_KEY };
	/* Moved aside rather than deleted, as the state files keep NAME.1: a
	 * mistaken DELETE can be undone by hand. The certificate goes first, so
	 * that a crash half way leaves no usable user pair behind. */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char from[PATH_MAX], to[PATH_MAX + 2];
		snprintf(from, sizeof(from), "%s/%s", dir, names[i]);
		snprintf(to, sizeof(to), "%s.1", from);
		if (rename(from, to) != 0 && errno != ENOENT) {
			int e = errno;
			snprintf(why, why_size, "cannot move %s aside: %s", from, strerror(e));
			return -e;
		}
	}
	state_sync_dir(dir); /* the renames are done; a failed fsync cannot undo them */
	return 0;
}

static void fmt_x509_time(char out[24], const mbedtls_x509_time *t)
{
	snprintf(out, 24, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)t->year % 10000u, (unsigned)t->mon % 100u,
		 (unsigned)t->day % 100u, (unsigned)t->hour % 100u, (unsigned)t->min % 100u, (unsigned)t->sec % 100u);
}

/* A certificate's string may hold anything: keep printable ASCII only, so
 * that the JSON reply and the log stay readable. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void san_entry(struct tls_cert_info *out, const mbedtls_x509_subject_alternative_name *san)
{
	char *dst = out->san[out->nsan];
	size_t size = sizeof(out->san[0]);
	const mbedtls_x509_buf *b = &san->san.unstructured_name;
	switch (san->type) {
	case MBEDTLS_X509_SAN_DNS_NAME:
	case MBEDTLS_X509_SAN_RFC822_NAME:
	case MBEDTLS_X509_SAN_UNIFORM_RESOURCE_IDENTIFIER:
		snprintf(dst, size, "%.*s", (int)(b->len < size ? b->len : size - 1), (const char *)b->p);
		break;
	case MBEDTLS_X509_SAN_IP_ADDRESS:
		if (b->len == 4 || b->len == 16)
			inet_ntop(b->len == 4 ? AF_INET : AF_INET6, b->p, dst, (socklen_t)size);
		else
			return;
		break;
	default:
		return; /* other kinds are not names a browser matches */
	}
	printable(dst);
	out->nsan++;
}

void tls_keys_info(const struct tls_keys *k, struct tls_cert_info *out)
{
	out->source = k->user ? "user" : "self-signed";
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", k->fingerprint);
	if (mbedtls_x509_dn_gets(out->subject, sizeof(out->subject), &k->crt.subject) < 0)
		out->subject[0] = '\0';
	printable(out->subject);
	fmt_x509_time(out->not_before, &k->crt.valid_from);
	fmt_x509_time(out->not_after, &k->crt.valid_to);
	out->nsan = 0;
	for (const mbedtls_x509_sequence *s = &k->crt.subject_alt_names; s && s->buf.p && out->nsan < TLS_INFO_SAN_MAX;
	     s = s->next) {
		mbedtls_x509_subject_alternative_name san;
		if (mbedtls_x509_parse_subject_alt_name(&s->buf, &san) == 0) {
			san_entry(out, &san);
			mbedtls_x509_free_subject_alt_name(&san);
		}
	}
}
