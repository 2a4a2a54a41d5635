/* kvmbox ctl's HTTP response parser (vmm/ctl/ctl_http.c): framing by
 * Content-Length, chunked and the end of the connection, interim replies,
 * every refusal and limit, input in any split; plus the client's small
 * helpers (fingerprints, path segments, the key-value files). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ctl/ctl.h"
#include "ctl/ctl_http.h"

static struct ctl_http_resp r;

/* Parse s fed in pieces of step bytes (0: all at once), then EOF if eof.
 * Returns the final result; *used_total gets the bytes taken. */
static int parse_step(const char *s, size_t len, size_t step, bool eof, size_t *used_total)
{
	size_t off = 0;
	int ret = 0;
	ctl_http_free(&r);
	ctl_http_init(&r);
	*used_total = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off, used;
		ret = ctl_http_feed(&r, s + off, n, &used);
		*used_total += used;
		if (ret)
			return ret;
		off += n;
	}
	return eof ? ctl_http_eof(&r) : ret;
}

static int parse(const char *s, bool eof)
{
	size_t used;
	return parse_step(s, strlen(s), 0, eof, &used);
}

/* The same result and body fed whole, a byte at a time and 7 at a time. */
static bool all_splits(const char *s, bool eof, int want, const char *body)
{
	size_t steps[] = { 0, 1, 7 }, used;
	for (size_t i = 0; i < 3; i++) {
		int got = parse_step(s, strlen(s), steps[i], eof, &used);
		if (got != want)
			return false;
		if (body && (!r.body || r.body_len != strlen(body) || memcmp(r.body, body, r.body_len)))
			return false;
	}
	return true;
}

static void test_framing(void)
{
	CHECK("ctl_http_content_length",
	      all_splits("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", false,
			 1, "{\"a\":1}") &&
		      r.status == 200 && r.keep_alive && !strcmp(ctl_http_header(&r, "content-type"), "application/json"));
	CHECK("ctl_http_chunked",
	      all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n"
			 "A\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
			 false, 1, "abcd0123456789"));
	CHECK("ctl_http_chunked_upper_te", all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
						      false, 1, ""));
	CHECK("ctl_http_close_delimited",
	      all_splits("HTTP/1.1 200 OK\r\n\r\nuntil the end", true, 1, "until the end") && !r.keep_alive);
	CHECK("ctl_http_interim_skipped",
	      all_splits("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
			 "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
			 false, 1, "ok") &&
		      r.status == 201 && !ctl_http_header(&r, "Link"));
	CHECK("ctl_http_204_no_body", parse("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false) == 1 &&
					      r.body && r.body_len == 0);
	ctl_http_free(&r);
	ctl_http_init(&r);
	r.head_request = true;
	size_t used;
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
	CHECK("ctl_http_head_no_body", ctl_http_feed(&r, head, strlen(head), &used) == 1 && used == strlen(head));
	CHECK("ctl_http_lf_only", all_splits("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", false, 1, "hi"));
	const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200";
	CHECK("ctl_http_used_stops_at_end",
	      parse_step(two, strlen(two), 0, false, &used) == 1 && used == strlen(two) - 12 && r.body_len == 1);
	CHECK("ctl_http_10_closes", parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false) == 1 && !r.keep_alive);
	CHECK("ctl_http_10_keepalive",
	      parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", false) == 1 && r.keep_alive);
	CHECK("ctl_http_connection_close",
	      parse("HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n", false) == 1 &&
		      !r.keep_alive);
	CHECK("ctl_http_need_more", parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false) == 0);
	CHECK("ctl_http_same_cl_twice",
	      parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nz", false) == 1);
}

static void test_headers(void)
{
	int ok = parse("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Console-Offset:   42  \r\nset-cookie: "
		       "kvmbox_session=abc; HttpOnly\r\nContent-Length: 0\r\n\r\n",
		       false);
	int pos = -1;
	const char *a = ctl_http_header_next(&r, "Set-Cookie", &pos);
	const char *b = ctl_http_header_next(&r, "Set-Cookie", &pos);
	const char *c = ctl_http_header_next(&r, "Set-Cookie", &pos);
	CHECK("ctl_http_header_repeat", ok == 1 && a && !strcmp(a, "a=1") && b && !strncmp(b, "kvmbox_session=abc", 18) && !c);
	CHECK("ctl_http_header_trimmed", !strcmp(ctl_http_header(&r, "x-console-offset"), "42"));
	CHECK("ctl_http_header_missing", !ctl_http_header(&r, "Retry-After"));
}

static bool refused(const char *s, bool eof, int err)
{
	size_t used;
	for (size_t step = 0; step < 3; step += 2) {
		int got = parse_step(s, strlen(s), step, eof, &used);
		if (got != err || !r.why)
			return false;
		if (ctl_http_feed(&r, "x", 1, &used) >= 0) /* an error sticks */
			return false;
	}
	return true;
}

static void test_refusals(void)
{
	CHECK("ctl_http_cl_and_te",
	      refused("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_te_gzip", refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_te_twice", refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
					   false, -EPROTO));
	CHECK("ctl_http_cl_differ",
	      refused("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_cl_list", refused("HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_cl_sign", refused("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_cl_huge", refused("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_cl_over_max", refused("HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n", false, -E2BIG));
	CHECK("ctl_http_status_line", refused("HTTP/2 200 OK\r\n\r\n", false, -EPROTO) &&
					      refused("HTTP/1.1 20 OK\r\n\r\n", false, -EPROTO) &&
					      refused("HTTP/1.1 600 Odd\r\n\r\n", false, -EPROTO) &&
					      refused("HTTP/1.1 2000\r\n\r\n", false, -EPROTO) &&
					      refused("SSH-2.0-x\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_101", refused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_folded", refused("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_no_colon", refused("HTTP/1.1 200 OK\r\nA b\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_space_name", refused("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_bare_cr", refused("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", false, -EPROTO));
	static char nul[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";
	size_t used;
	CHECK("ctl_http_nul_head", parse_step(nul, sizeof(nul) - 1, 0, false, &used) == -EPROTO);
	CHECK("ctl_http_bad_chunk_size", refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, -EPROTO) &&
						 refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", false, -EPROTO) &&
						 refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", false, -EPROTO));
	CHECK("ctl_http_chunk_no_crlf",
	      refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", false, -EPROTO));
	CHECK("ctl_http_chunk_size_huge",
	      refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", false, -E2BIG));
	CHECK("ctl_http_truncated_body", refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true, -EPROTO));
	CHECK("ctl_http_truncated_head", refused("HTTP/1.1 200 OK\r\nContent-Len", true, -EPROTO));
	CHECK("ctl_http_truncated_chunked",
	      refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true, -EPROTO));
	CHECK("ctl_http_nothing", refused("", true, -EPROTO) && strstr(r.why, "without a response"));

	/* Limits. */
	char *big = malloc(CTL_HTTP_HEAD_MAX + 100);
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + strlen(big), 'a', CTL_HTTP_HEAD_MAX);
	strcpy(big + CTL_HTTP_HEAD_MAX, "\r\n\r\n");
	CHECK("ctl_http_head_too_big", refused(big, false, -E2BIG));
	size_t n = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= CTL_HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(big + n, "H%d: v\r\n", i);
	strcpy(big + n, "\r\n");
	CHECK("ctl_http_too_many_fields", refused(big, false, -E2BIG));
	n = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	memset(big + n, 'e', CTL_HTTP_LINE_MAX + 10);
	strcpy(big + n + CTL_HTTP_LINE_MAX + 10, "\r\n");
	CHECK("ctl_http_chunk_line_too_long", refused(big, false, -E2BIG));
	free(big);
	n = 0;
	static char interim[2048];
	for (int i = 0; i <= CTL_HTTP_INTERIM_MAX; i++)
		n += (size_t)sprintf(interim + n, "HTTP/1.1 100 Continue\r\n\r\n");
	CHECK("ctl_http_too_many_interim", refused(interim, false, -EPROTO));

	/* The body limit, for every framing. */
	const char *bodies[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n0123456789a",
	};
	for (int i = 0; i < 3; i++) {
		ctl_http_free(&r);
		ctl_http_init(&r);
		r.body_max = 10;
		int got = ctl_http_feed(&r, bodies[i], strlen(bodies[i]), &used);
		CHECK(i == 0 ? "ctl_http_body_max_len" : i == 1 ? "ctl_http_body_max_chunked" : "ctl_http_body_max_close",
		      got == -E2BIG && r.body_len <= 10);
	}
	ctl_http_free(&r);
	ctl_http_init(&r);
	r.body_max = 10;
	CHECK("ctl_http_body_at_max",
	      ctl_http_feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 49, &used) == 1 &&
		      r.body_len == 10);
}

static void test_helpers(void)
{
	char fp[CTL_FP_LEN], want[] = "9C:74:9E:13:A7:00:81:AA:98:8C:A8:F0:36:DE:84:CF:80:60:1D:FA:06:41:51:FA:74:8A:61:DC:77:10:84:99";
	CHECK("ctl_fingerprint_colons", !ctl_fingerprint_norm(want, fp) && !strcmp(fp, want));
	CHECK("ctl_fingerprint_plain_lower",
	      !ctl_fingerprint_norm("9c749e13a70081aa988ca8f036de84cf80601dfa064151fa748a61dc77108499", fp) &&
		      !strcmp(fp, want));
	CHECK("ctl_fingerprint_bad", ctl_fingerprint_norm("9c749e", fp) && ctl_fingerprint_norm("zz", fp) &&
					     ctl_fingerprint_norm("9c749e13a70081aa988ca8f036de84cf80601dfa064151fa748a61dc7710849900", fp));
	char path[32] = "/api/vms/";
	CHECK("ctl_path_plain", !ctl_path_add(path, sizeof(path), "web-1_a") && !strcmp(path, "/api/vms/web-1_a"));
	strcpy(path, "/x/");
	CHECK("ctl_path_encoded", !ctl_path_add(path, sizeof(path), "a b/../?#%") && !strcmp(path, "/x/a%20b%2F..%2F%3F%23%25"));
	strcpy(path, "/x/");
	CHECK("ctl_path_too_long", ctl_path_add(path, 8, "abcdefgh") == -ENOSPC);
	strcpy(path, "/x/");
	CHECK("ctl_path_dots", !ctl_path_add(path, sizeof(path), "..") && !strcmp(path, "/x/%2E%2E"));
	strcpy(path, "/x/");
	CHECK("ctl_path_dotted_name", !ctl_path_add(path, sizeof(path), "disk.img") && !strcmp(path, "/x/disk.img"));
	CHECK("ctl_path_empty", ctl_path_add(path, sizeof(path), "") == -EINVAL);

	char dir[] = "/tmp/ctl-test-XXXXXX", file[128], key[64], val[128];
	if (!mkdtemp(dir)) {
		CHECK("ctl_kv_tmpdir", 0);
		return;
	}
	snprintf(file, sizeof(file), "%s/sub/token", dir);
	CHECK("ctl_kv_missing", ctl_kv_get(file, "k", val, sizeof(val)) == -ENOENT);
	CHECK("ctl_kv_put", !ctl_kv_put(file, "https://a:443", "t1") && !ctl_kv_put(file, "https://b:443", "t2") &&
				    !ctl_kv_put(file, "https://a:4430", "t3"));
	struct stat st;
	CHECK("ctl_kv_mode_0600", !stat(file, &st) && (st.st_mode & 0777) == 0600);
	CHECK("ctl_kv_get", !ctl_kv_get(file, "https://a:443", val, sizeof(val)) && !strcmp(val, "t1") &&
				    !ctl_kv_get(file, "https://a:4430", val, sizeof(val)) && !strcmp(val, "t3") &&
				    ctl_kv_get(file, "https://a:44", val, sizeof(val)) == -ENOENT);
	CHECK("ctl_kv_first_is_latest", !ctl_kv_first(file, key, sizeof(key), val, sizeof(val)) &&
						!strcmp(key, "https://a:4430") && !strcmp(val, "t3"));
	CHECK("ctl_kv_replace", !ctl_kv_put(file, "https://b:443", "t4") && !ctl_kv_get(file, "https://b:443", val, sizeof(val)) &&
					!strcmp(val, "t4") && !ctl_kv_first(file, key, sizeof(key), val, sizeof(val)) &&
					!strcmp(key, "https://b:443"));
	char *text;
	size_t len;
	CHECK("ctl_kv_one_line_each", !ctl_read_file(file, 4096, &text, &len) &&
					      !strcmp(text, "https://b:443 t4\nhttps://a:4430 t3\nhttps://a:443 t1\n"));
	free(text);
	CHECK("ctl_kv_drop", !ctl_kv_put(file, "https://a:4430", NULL) &&
				     ctl_kv_get(file, "https://a:4430", val, sizeof(val)) == -ENOENT &&
				     !ctl_kv_get(file, "https://a:443", val, sizeof(val)));
	unlink(file);
	snprintf(file, sizeof(file), "%s/sub", dir);
	rmdir(file);
	rmdir(dir);
}

int main(void)
{
	test_framing();
	test_headers();
	test_refusals();
	test_helpers();
	ctl_http_free(&r);
	return CHECK_DONE();
}
