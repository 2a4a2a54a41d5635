/* kvmbox ctl: requests to the API over TLS, with the trust rules of
 * ctl_tls.h and the server's address and credentials from the options, the
 * environment or ~/.config/kvmbox. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

#ifndef KVMBOX_VERSION
#define KVMBOX_VERSION "dev"
#endif

/* Printable ASCII without spaces: safe inside a header field or a
 * request line. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* "https://HOST[:PORT][/]", "HOST[:PORT]"; HOST may be "[v6]". */
static int parse_url(struct ctl *c, const char *url)
{
	const char *p = url;
	if (!strncasecmp(p, "https://", 8))
		p += 8;
	else if (!strncasecmp(p, "http://", 7))
		return ctl_usage_error("%s: the API is HTTPS only; use https://", url);
	else if (strstr(p, "://"))
		return ctl_usage_error("%s: not an https:// URL", url);
	const char *hs = p, *he;
	if (*p == '[') {
		he = strchr(p, ']');
		if (!he)
			return ctl_usage_error("%s: no ']' after the IPv6 address", url);
		hs = p + 1;
		p = he + 1;
	} else {
		p += strcspn(p, ":/");
		he = p;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(c->host))
		return ctl_usage_error("%s: no host name", url);
	memcpy(c->host, hs, (size_t)(he - hs));
	c->host[he - hs] = '\0';
	snprintf(c->port, sizeof(c->port), "443");
	if (*p == ':') {
		char *end;
		long port = strtol(p + 1, &end, 10);
		if (end == p + 1 || port < 1 || port > 65535)
			return ctl_usage_error("%s: bad port", url);
		snprintf(c->port, sizeof(c->port), "%ld", port);
		p = end;
	}
	if (*p == '/')
		p++;
	if (*p)
		return ctl_usage_error("%s: give the server only (https://HOST[:PORT]), no path", url);
	if (!header_safe(c->host))
		return ctl_usage_error("%s: bad host name", url);
	for (char *h = c->host; *h; h++)
		*h = (char)tolower((unsigned char)*h);
	bool v6 = strchr(c->host, ':') != NULL;
	snprintf(c->hostport, sizeof(c->hostport), v6 ? "[%s]:%s" : "%s:%s", c->host, c->port);
	snprintf(c->url, sizeof(c->url), "https://%s", c->hostport);
	if (!strcmp(c->port, "443"))
		snprintf(c->host_header, sizeof(c->host_header), v6 ? "[%s]" : "%s", c->host);
	else
		snprintf(c->host_header, sizeof(c->host_header), "%s", c->hostport);
	return 0;
}

int ctl_server(struct ctl *c)
{
	if (c->server_ready)
		return 0;
	const char *url = c->url_arg ? c->url_arg : getenv("KVMBOX_URL");
	char file[512], first[CTL_URL_MAX], tok[CTL_TOKEN_MAX];
	if ((!url || !*url) && !ctl_config_path(file, sizeof(file), "token") &&
	    !ctl_kv_first(file, first, sizeof(first), tok, sizeof(tok)))
		url = first; /* the server of the latest login */
	if (!url || !*url)
		return ctl_usage_error("which server? pass --url https://HOST[:PORT] or set KVMBOX_URL");
	int r = parse_url(c, url);
	if (!r)
		c->server_ready = true;
	return r;
}

void ctl_credentials(struct ctl *c)
{
	const char *t = c->token_arg ? c->token_arg : getenv("KVMBOX_TOKEN");
	char file[512];
	c->token[0] = '\0';
	if (t && *t)
		snprintf(c->token, sizeof(c->token), "%s", t);
	else if (!ctl_config_path(file, sizeof(file), "token"))
		ctl_kv_get(file, c->url, c->token, sizeof(c->token));
}

/* Decide how the certificate is judged, once per run. */
static int trust_setup(struct ctl *c)
{
	if (c->trust_ready)
		return 0;
	if (c->insecure && (c->fingerprint_arg || c->cacert))
		return ctl_usage_error("--insecure checks nothing; leave it out with --fingerprint or --cacert");
	if (c->fingerprint_arg) {
		if (ctl_fingerprint_norm(c->fingerprint_arg, c->pin))
			return ctl_usage_error("--fingerprint %s: want the 64 hex digits of a SHA-256 (colons optional)",
					       c->fingerprint_arg);
		c->pin_from_arg = true;
	} else if (!c->insecure && !c->cacert) {
		char file[512], fp[CTL_FP_LEN * 2];
		if (!ctl_config_path(file, sizeof(file), "known_hosts") &&
		    !ctl_kv_get(file, c->hostport, fp, sizeof(fp)) && !ctl_fingerprint_norm(fp, c->pin))
			c->pin_from_known = true;
	}
	if (c->insecure)
		fprintf(stderr, "kvmbox ctl: warning: --insecure: the server's certificate is not checked; anyone on "
				"the way can read the password or token and change the replies\n");
	c->trust_ready = true;
	return 0;
}

static int connect_failed(struct ctl *c, enum ctl_tls_fail fail, const char *fp, const char *why)
{
	char file[512] = "~/.config/kvmbox/known_hosts";
	ctl_config_path(file, sizeof(file), "known_hosts");
	if (fail == CTL_FAIL_UNKNOWN) {
		fprintf(stderr,
			"kvmbox ctl: %s is not known yet. Its certificate's SHA-256 fingerprint is\n"
			"  %s\n"
			"Check that it is the one the appliance shows on its console (\"https: certificate SHA-256\n"
			"fingerprint ...\") or in GET /api/host, then run the command again with\n"
			"  --fingerprint %s\n"
			"which is then remembered for %s in %s.\n"
			"(Or use --cacert FILE for a certificate signed by your own CA.)\n",
			c->hostport, fp, fp, c->hostport, file);
		return CTL_EXIT_CONN;
	}
	fprintf(stderr, "kvmbox ctl: %s\n", why);
	if (fail == CTL_FAIL_TRUST && c->pin_from_known)
		fprintf(stderr,
			"The expected fingerprint was remembered in %s. If the appliance's certificate\n"
			"really changed, check the new one on its console and run again with --fingerprint NEW.\n",
			file);
	return fail == CTL_FAIL_LOCAL ? CTL_EXIT_USAGE : CTL_EXIT_CONN;
}

static int open_conn(struct ctl *c, struct ctl_tls **t)
{
	int r = trust_setup(c);
	if (r)
		return r;
	struct ctl_tls_opts o = {
		.host = c->host,
		.port = c->port,
		.pin = c->pin_from_arg || c->pin_from_known ? c->pin : NULL,
		.cacert = c->cacert,
		.insecure = c->insecure,
		.timeout_ms = CTL_TIMEOUT_MS,
	};
	char fp[CTL_FP_LEN], why[512];
	enum ctl_tls_fail fail;
	if (ctl_tls_connect(t, &o, fp, &fail, why, sizeof(why)))
		return connect_failed(c, fail, fp, why);
	if (c->pin_from_arg && !c->pin_saved) {
		/* Only a fingerprint the user gave, and only once it matched. */
		char file[512];
		int e = ctl_config_path(file, sizeof(file), "known_hosts");
		if (!e)
			e = ctl_kv_put(file, c->hostport, c->pin);
		if (e)
			fprintf(stderr, "kvmbox ctl: warning: cannot remember the fingerprint in %s: %s\n", file,
				strerror(-e));
		c->pin_saved = true;
	}
	return 0;
}

static int add(char *buf, size_t size, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int add(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= size - *n)
		return -ENOSPC;
	*n += (size_t)k;
	return 0;
}

static int format_head(struct ctl *c, const struct ctl_call *q, char *buf, size_t size, size_t *n)
{
	*n = 0;
	uint64_t blen = q->upload_fd >= 0 ? q->upload_len : q->body_len;
	int e = add(buf, size, n,
		    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kvmbox-ctl/%s\r\n"
		    "Accept: application/json, text/plain;q=0.9, */*;q=0.1\r\nConnection: close\r\n",
		    q->method, q->path, c->host_header, KVMBOX_VERSION);
	if (!e && !q->no_auth && c->token[0])
		e = add(buf, size, n, "Authorization: Bearer %s\r\n", c->token);
	if (!e && !q->no_auth && !c->token[0] && c->cookie[0])
		e = add(buf, size, n, "Cookie: %s\r\nX-CSRF-Token: %s\r\n", c->cookie, c->csrf);
	if (!e && q->ctype && (q->body || q->upload_fd >= 0))
		e = add(buf, size, n, "Content-Type: %s\r\n", q->ctype);
	if (!e && q->upload_sha256)
		e = add(buf, size, n, "X-Checksum-SHA256: %s\r\n", q->upload_sha256);
	if (!e && (blen || q->body || q->upload_fd >= 0 || strcmp(q->method, "GET")))
		e = add(buf, size, n, "Content-Length: %llu\r\n", (unsigned long long)blen);
	if (!e)
		e = add(buf, size, n, "\r\n");
	return e;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(const struct ctl_call *q, uint64_t done, double start, bool last)
{
	char a[32], b[32], s[32];
	double t = now_s() - start;
	ctl_fmt_bytes(done, a, sizeof(a));
	ctl_fmt_bytes(q->upload_len, b, sizeof(b));
	ctl_fmt_bytes(t > 0.01 ? (uint64_t)((double)done / t) : 0, s, sizeof(s));
	fprintf(stderr, "\r\033[Kupload %s: %s of %s (%d%%), %s/s%s", q->upload_name ? q->upload_name : "",
		a, b, q->upload_len ? (int)(done * 100 / q->upload_len) : 100, s, last ? "\n" : "");
}

/* Stream the upload; a short file is an error (the length is promised). */
static int send_file(struct ctl_tls *t, const struct ctl_call *q, char *why, size_t why_size)
{
	static char buf[64 * 1024];
	bool tty = isatty(2);
	double start = now_s(), shown = 0;
	uint64_t done = 0;
	while (done < q->upload_len) {
		size_t want = q->upload_len - done < sizeof(buf) ? (size_t)(q->upload_len - done) : sizeof(buf);
		ssize_t n = read(q->upload_fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, why_size, "reading the file: %s", n ? strerror(errno) : "it got shorter");
			return -EIO;
		}
		if (ctl_tls_write(t, buf, (size_t)n)) {
			if (tty)
				fprintf(stderr, "\n");
			snprintf(why, why_size, "sending the file: %s", ctl_tls_error(t));
			return -EPIPE;
		}
		done += (uint64_t)n;
		if (tty && now_s() - shown > 0.25) {
			shown = now_s();
			progress(q, done, start, false);
		}
	}
	if (tty)
		progress(q, done, start, true);
	return 0;
}

static int read_reply(struct ctl_tls *t, struct ctl_http_resp *resp, char *why, size_t why_size)
{
	static char buf[16 * 1024];
	for (;;) {
		ssize_t n = ctl_tls_read(t, buf, sizeof(buf));
		int r;
		size_t used;
		if (n < 0) {
			snprintf(why, why_size, "reading the reply: %s", ctl_tls_error(t));
			return (int)n;
		}
		r = n ? ctl_http_feed(resp, buf, (size_t)n, &used) : ctl_http_eof(resp);
		if (r == 1)
			return 0;
		if (r < 0) {
			snprintf(why, why_size, "a bad reply: %s", resp->why ? resp->why : "malformed");
			return r;
		}
	}
}

int ctl_request(struct ctl *c, const struct ctl_call *q, struct ctl_http_resp *resp)
{
	int r = ctl_server(c);
	if (r)
		return r;
	if (!c->creds_ready) {
		ctl_credentials(c);
		c->creds_ready = true;
	}
	if (!header_safe(q->path) || q->path[0] != '/')
		return ctl_usage_error("%s: a path starts with / and has no spaces or control characters", q->path);
	if (!header_safe(c->token))
		return ctl_usage_error("the token has spaces or control characters in it");
	static char head[8192];
	size_t hn;
	if (format_head(c, q, head, sizeof(head), &hn))
		return ctl_usage_error("the request is too large");
	struct ctl_tls *t;
	r = open_conn(c, &t);
	if (r)
		return r;
	ctl_http_init(resp);
	if (q->body_max)
		resp->body_max = q->body_max;
	resp->head_request = !strcmp(q->method, "HEAD");
	char why[256];
	int e = ctl_tls_write(t, head, hn);
	if (e)
		snprintf(why, sizeof(why), "sending the request: %s", ctl_tls_error(t));
	if (!e && q->body_len)
		e = ctl_tls_write(t, q->body, q->body_len);
	if (e)
		snprintf(why, sizeof(why), "sending the request: %s", ctl_tls_error(t));
	if (!e && q->upload_fd >= 0)
		e = send_file(t, q, why, sizeof(why));
	/* A server that refuses a request may answer before it has all of
	 * the body, and close: its answer says more than the failed write. */
	char why2[256];
	int e2 = read_reply(t, resp, why2, sizeof(why2));
	ctl_tls_close(t);
	if (!e2)
		return 0;
	ctl_http_free(resp);
	fprintf(stderr, "kvmbox ctl: %s %s on %s: %s\n", q->method, q->path, c->hostport, e ? why : why2);
	return CTL_EXIT_CONN;
}

int ctl_api(struct ctl *c, const char *method, const char *path, const char *json_body, struct ctl_http_resp *resp)
{
	struct ctl_call q = {
		.method = method,
		.path = path,
		.ctype = json_body ? "application/json" : NULL,
		.body = json_body,
		.body_len = json_body ? strlen(json_body) : 0,
		.upload_fd = -1,
	};
	int r = ctl_request(c, &q, resp);
	if (r)
		return r;
	if (resp->status >= 200 && resp->status < 300)
		return 0;
	r = ctl_api_error(resp);
	ctl_http_free(resp);
	return r;
}

int ctl_api_error(const struct ctl_http_resp *resp)
{
	struct ctl_json j;
	char msg[1024] = "", code[64] = "";
	const char *ct = ctl_http_header(resp, "Content-Type");
	if (ct && !strncasecmp(ct, "application/json", 16) && !ctl_json_parse(&j, resp->body, resp->body_len)) {
		int e = json_get(&j.d, 0, "error");
		json_get_string(&j.d, json_get(&j.d, e, "message"), msg, sizeof(msg));
		json_get_string(&j.d, json_get(&j.d, e, "code"), code, sizeof(code));
		ctl_json_free(&j);
	}
	if (!msg[0]) {
		/* Not the API's error shape: the first line of whatever came. */
		size_t n = strcspn(resp->body ? resp->body : "", "\r\n");
		snprintf(msg, sizeof(msg), "%.*s", (int)(n > 200 ? 200 : n), resp->body ? resp->body : "");
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	fprintf(stderr, "kvmbox ctl: %s (HTTP %d%s%s)\n", msg[0] ? msg : "the server gave no reason", resp->status,
		code[0] ? " " : "", code);
	if (resp->status == 401)
		fprintf(stderr, "Log in with `kvmbox ctl login`, or pass an API token with --token or KVMBOX_TOKEN.\n");
	const char *ra = ctl_http_header(resp, "Retry-After");
	if (resp->status == 429 && ra)
		fprintf(stderr, "Try again in %s s.\n", ra);
	return CTL_EXIT_API;
}
