/* vmm/auth/ without mbedtls: base64, the hash format, cookie and bearer
 * parsing, the session table, the failed-login limiter and the user store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_limit.h"
#include "auth/auth_session.h"
#include "auth/auth_store.h"
#include "check.h"
#include "init.h"

static void test_b64(void)
{
	char out[64];
	uint8_t bin[64];
	CHECK("b64_empty", auth_b64_encode("", 0, out, sizeof(out), false) == 0 && !out[0]);
	CHECK("b64_f", auth_b64_encode("f", 1, out, sizeof(out), false) == 4 && !strcmp(out, "Zg=="));
	CHECK("b64_fo", auth_b64_encode("fo", 2, out, sizeof(out), false) == 4 && !strcmp(out, "Zm8="));
	CHECK("b64_foobar", auth_b64_encode("foobar", 6, out, sizeof(out), false) == 8 && !strcmp(out, "Zm9vYmFy"));
	CHECK("b64url_nopad", auth_b64_encode("\xfb\xff", 2, out, sizeof(out), true) == 3 && !strcmp(out, "-_8"));
	CHECK("b64_std_chars", auth_b64_encode("\xfb\xff", 2, out, sizeof(out), false) == 4 && !strcmp(out, "+/8="));
	CHECK("b64_nospace", auth_b64_encode("foobar", 6, out, 8, false) == -ENOSPC);
	CHECK("b64_dec_fo", auth_b64_decode("Zm8=", 4, bin, sizeof(bin), false) == 2 && !memcmp(bin, "fo", 2));
	CHECK("b64_dec_f", auth_b64_decode("Zg==", 4, bin, sizeof(bin), false) == 1 && bin[0] == 'f');
	CHECK("b64_dec_url", auth_b64_decode("-_8", 3, bin, sizeof(bin), true) == 2 && bin[0] == 0xfb);
	CHECK("b64_dec_nopad_std", auth_b64_decode("Zm8", 3, bin, sizeof(bin), false) == -EINVAL);
	CHECK("b64_dec_pad_url", auth_b64_decode("Zm8=", 4, bin, sizeof(bin), true) == -EINVAL);
	CHECK("b64_dec_badchar", auth_b64_decode("Zm$=", 4, bin, sizeof(bin), false) == -EINVAL);
	CHECK("b64_dec_extra_bits", auth_b64_decode("Zh==", 4, bin, sizeof(bin), false) == -EINVAL);
	CHECK("b64_dec_len1", auth_b64_decode("Z", 1, bin, sizeof(bin), true) == -EINVAL);
	CHECK("b64_dec_toomuchpad", auth_b64_decode("Z===", 4, bin, sizeof(bin), false) == -EINVAL);
	CHECK("b64_dec_small", auth_b64_decode("Zm9vYmFy", 8, bin, 5, false) == -ENOSPC);
	uint8_t all[256];
	char enc[400];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	bool round = true;
	for (size_t n = 0; n < 40 && round; n++)
		for (int url = 0; url < 2; url++) {
			int e = auth_b64_encode(all + n, n, enc, sizeof(enc), url);
			round = round && e >= 0 &&
				auth_b64_decode(enc, (size_t)e, bin, sizeof(bin), url) == (int)n && !memcmp(bin, all + n, n);
		}
	CHECK("b64_roundtrip", round);
	char hx[9];
	auth_hex("\x01\xab\xff\x00", 4, hx);
	CHECK("hex", !strcmp(hx, "01abff00"));
	CHECK("ct_eq", auth_ct_eq("abcd", "abcd", 4) && !auth_ct_eq("abcd", "abce", 4) && auth_ct_eq("", "x", 0));
}

static void test_hash(void)
{
	struct auth_hash h;
	const char *good = "pbkdf2-sha256$1000$wuas20iWfC6zFrgxhHUWkA==$0SKpewc9j4Noa1s40XqdI9uLrxQerLNO+Z3Cq+Ld+3Q=";
	char out[AUTH_HASH_MAX];
	CHECK("hash_parse", !auth_hash_parse(good, &h) && h.iterations == 1000 && h.salt_len == 16 && h.key_len == 32);
	CHECK("hash_format_roundtrip", !auth_hash_format(&h, out, sizeof(out)) && !strcmp(out, good));
	CHECK("hash_bad_prefix", auth_hash_parse("pbkdf2-sha1$1000$wuas20iWfC6zFrgxhHUWkA==$0SKp", &h) == -EINVAL);
	CHECK("hash_few_rounds", auth_hash_parse("pbkdf2-sha256$999$wuas20iWfC6zFrgxhHUWkA==$0SKpewc9j4Noa1s40XqdI9uLrxQerLNO+Z3Cq+Ld+3Q=", &h) == -EINVAL);
	CHECK("hash_many_rounds", auth_hash_parse("pbkdf2-sha256$99999999$wuas20iWfC6zFrgxhHUWkA==$0SKpewc9j4Noa1s40XqdI9uLrxQerLNO+Z3Cq+Ld+3Q=", &h) == -EINVAL);
	CHECK("hash_leading_zero", auth_hash_parse("pbkdf2-sha256$01000$wuas20iWfC6zFrgxhHUWkA==$0SKpewc9j4Noa1s40XqdI9uLrxQerLNO+Z3Cq+Ld+3Q=", &h) == -EINVAL);
	CHECK("hash_no_key", auth_hash_parse("pbkdf2-sha256$1000$wuas20iWfC6zFrgxhHUWkA==", &h) == -EINVAL);
	CHECK("hash_short_key", auth_hash_parse("pbkdf2-sha256$1000$wuas20iWfC6zFrgxhHUWkA==$Zm8=", &h) == -EINVAL);
	CHECK("hash_extra_dollar", auth_hash_parse("pbkdf2-sha256$1000$wuas20iWfC6zFrgxhHUWkA==$0SKpewc9j4Noa1s40XqdI9uLrxQerLNO+Z3Cq+Ld+3Q=$", &h) == -EINVAL);
	/* Found by fuzz_auth: a 64-byte key parsed, but its string does not fit
	 * struct auth_user, so it would have been stored cut short. */
	CHECK("hash_too_long", auth_hash_parse("pbkdf2-sha256$1000$wuas20iWfC6zFrgxhHUWkA==$0SKpnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnNO+Z3Cq+Ld+3Q=", &h) == -EINVAL);
	/* The supervisor reads kvmbox.adminhash= with the kernel command line
	 * parser: the hash's '$', '+', '/' and '=' padding must come through. */
	char val[AUTH_HASH_MAX];
	char cmdline[300];
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 kvmbox.adminhash=%s quiet\n", good);
	CHECK("hash_from_cmdline", cmdline_get(cmdline, "kvmbox.adminhash", val, sizeof(val)) == 1 &&
					   !strcmp(val, good) && !auth_hash_parse(val, &h));
	CHECK("password_short", auth_password_problem("1234567") != NULL);
	CHECK("password_ok", auth_password_problem("12345678") == NULL);
}

static bool cookie(const char *hdr, const char *name, const char *want)
{
	const char *v;
	size_t n;
	if (!auth_cookie_get(hdr, strlen(hdr), name, &v, &n))
		return want == NULL;
	return want && n == strlen(want) && !memcmp(v, want, n);
}

static bool bearer(const char *hdr, const char *want)
{
	const char *v;
	size_t n;
	if (!auth_bearer_get(hdr, strlen(hdr), &v, &n))
		return want == NULL;
	return want && n == strlen(want) && !memcmp(v, want, n);
}

static void test_headers(void)
{
	CHECK("cookie_only", cookie("kvmbox_session=abc", "kvmbox_session", "abc"));
	CHECK("cookie_among", cookie("a=1; kvmbox_session=abc; b=2", "kvmbox_session", "abc"));
	CHECK("cookie_prefix_name", cookie("xkvmbox_session=1; kvmbox_session=2", "kvmbox_session", "2"));
	CHECK("cookie_suffix_name", cookie("kvmbox_session2=1", "kvmbox_session", NULL));
	CHECK("cookie_absent", cookie("a=1; b=2", "kvmbox_session", NULL));
	CHECK("cookie_empty_value", cookie("kvmbox_session=", "kvmbox_session", ""));
	CHECK("cookie_trailing_space", cookie("kvmbox_session=abc ;x=1", "kvmbox_session", "abc"));
	CHECK("cookie_no_eq", cookie("kvmbox_session; x=1", "kvmbox_session", NULL));
	CHECK("cookie_empty", cookie("", "kvmbox_session", NULL));
	CHECK("cookie_semicolons", cookie(";;;", "kvmbox_session", NULL));
	CHECK("bearer", bearer("Bearer abc", "abc"));
	CHECK("bearer_case", bearer("bEaReR  abc  ", "abc"));
	CHECK("bearer_basic", bearer("Basic abc", NULL));
	CHECK("bearer_empty", bearer("Bearer ", NULL));
	CHECK("bearer_nospace", bearer("Bearerabc", NULL));
	CHECK("bearer_two_words", bearer("Bearer a b", NULL));
}

static void test_sessions(void)
{
	static struct auth_sessions t;
	char c1[AUTH_ID_B64], c2[AUTH_ID_B64];
	auth_sessions_init(&t, 1000, 5000);
	struct auth_session *s1 = auth_session_new(&t, "admin", 100, c1);
	struct auth_session *s2 = auth_session_new(&t, "admin", 100, c2);
	CHECK("session_new", s1 && s2 && s1 != s2 && strlen(c1) == 43 && strcmp(c1, c2));
	CHECK("session_csrf", s1 && strlen(s1->csrf) == 43 && strcmp(s1->csrf, c1));
	CHECK("session_find", auth_session_find(&t, c1, strlen(c1), 500) == s1);
	CHECK("session_find_bad", !auth_session_find(&t, "x", 1, 500));
	char wrong[AUTH_ID_B64];
	memcpy(wrong, c1, sizeof(wrong));
	wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
	CHECK("session_find_wrong", !auth_session_find(&t, wrong, strlen(wrong), 500));
	/* s1 was touched at 500, so it lives to 1499; s2 idles out at 1100. */
	CHECK("session_idle_alive", auth_session_find(&t, c1, strlen(c1), 1400) == s1);
	CHECK("session_idle_dead", !auth_session_find(&t, c2, strlen(c2), 1400));
	CHECK("session_idle_gone", !auth_session_find(&t, c2, strlen(c2), 200));
	/* Absolute lifetime: touched every 900 ms, still gone at 5100. */
	uint64_t now = 1400;
	bool alive = true;
	for (; now + 900 < 5100; now += 900)
		alive = alive && auth_session_find(&t, c1, strlen(c1), now + 900);
	CHECK("session_life_alive", alive);
	CHECK("session_life_dead", !auth_session_find(&t, c1, strlen(c1), 5100));
	s1 = auth_session_new(&t, "admin", 6000, c1);
	auth_session_end(s1);
	CHECK("session_logout", !auth_session_find(&t, c1, strlen(c1), 6001));
	/* A full table evicts the least recently used, and never grows. */
	char first[AUTH_ID_B64], c[AUTH_ID_B64];
	auth_sessions_init(&t, 100000, 1000000);
	auth_session_new(&t, "admin", 10, first);
	for (unsigned i = 0; i < AUTH_SESSION_MAX; i++)
		auth_session_new(&t, "admin", 20 + i, c);
	CHECK("session_evict_lru", !auth_session_find(&t, first, strlen(first), 1000) &&
				   auth_session_find(&t, c, strlen(c), 1000));
	CHECK("session_count_bounded", auth_sessions_count(&t, 1000) == AUTH_SESSION_MAX);
	auth_session_new(&t, "other", 2000, c);
	auth_sessions_end_user(&t, "admin");
	CHECK("session_end_user", auth_sessions_count(&t, 2000) == 1 && auth_session_find(&t, c, strlen(c), 2001));
}

static void test_limit(void)
{
	static struct auth_limit l;
	uint8_t a[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 }, b[16] = { 0x20, 0x01, [15] = 9 };
	memset(&l, 0, sizeof(l));
	bool free_ok = true;
	for (int i = 0; i < AUTH_LIMIT_FREE - 1; i++) {
		free_ok = free_ok && auth_limit_wait(&l, a, 1000) == 0;
		auth_limit_fail(&l, a, 1000);
	}
	CHECK("limit_free_tries", free_ok && auth_limit_wait(&l, a, 1000) == 0);
	auth_limit_fail(&l, a, 1000); /* the fifth */
	CHECK("limit_locked", auth_limit_wait(&l, a, 1000) == 1000);
	CHECK("limit_other_addr", auth_limit_wait(&l, b, 1000) == 0);
	CHECK("limit_unlocks", auth_limit_wait(&l, a, 2000) == 0);
	auth_limit_fail(&l, a, 2000);
	CHECK("limit_doubles", auth_limit_wait(&l, a, 2000) == 2000);
	for (int i = 0; i < 40; i++)
		auth_limit_fail(&l, a, 3000);
	CHECK("limit_capped", auth_limit_wait(&l, a, 3000) == AUTH_LIMIT_MAX_MS);
	auth_limit_ok(&l, a);
	CHECK("limit_ok_clears", auth_limit_wait(&l, a, 3000) == 0);
	/* A flood of addresses: the table stays fixed, the newest stay known. */
	memset(&l, 0, sizeof(l));
	for (unsigned i = 0; i < 3 * AUTH_LIMIT_ENTRIES; i++) {
		uint8_t x[16] = { 0xfd, [12] = (uint8_t)(i >> 8), [13] = (uint8_t)i };
		for (int k = 0; k < AUTH_LIMIT_FREE; k++)
			auth_limit_fail(&l, x, 10000 + i);
	}
	uint8_t last[16] = { 0xfd, [12] = (uint8_t)((3 * AUTH_LIMIT_ENTRIES - 1) >> 8),
			     [13] = (uint8_t)(3 * AUTH_LIMIT_ENTRIES - 1) };
	CHECK("limit_flood_newest_locked", auth_limit_wait(&l, last, 10000 + 3 * AUTH_LIMIT_ENTRIES) > 0);
	/* Forgotten after an hour without failures. */
	CHECK("limit_forget", auth_limit_wait(&l, last, 20000 + AUTH_LIMIT_FORGET_MS + 3 * AUTH_LIMIT_ENTRIES) == 0);
}

static void test_store(void)
{
	static struct auth_store st, st2;
	char why[400];
	const char *good = "{\"version\":1,\"users\":[{\"name\":\"admin\",\"hash\":\"pbkdf2-sha256$1000$wuas20iWfC6zFrgxhHUWkA==$0SKpewc9j4Noa1s40XqdI9uLrxQerLNO+Z3Cq+Ld+3Q=\"}],"
			   "\"tokens\":[{\"id\":\"0123456789abcdef\",\"name\":\"ci\",\"user\":\"admin\",\"sha256\":\""
			   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\",\"created\":5}]}";
	CHECK("store_parse", !auth_store_parse(&st, good, strlen(good), why, sizeof(why)) && st.nusers == 1 &&
				     st.ntokens == 1 && st.tokens[0].sha256[1] == 0x11 && st.tokens[0].created == 5);
	CHECK("store_user", auth_store_user(&st, "admin") && !auth_store_user(&st, "root"));
	CHECK("store_token_id", auth_store_token_by_id(&st, "0123456789abcdef", 16) == &st.tokens[0]);
	uint8_t h[32];
	memcpy(h, st.tokens[0].sha256, 32);
	CHECK("store_token_hash", auth_store_token_by_hash(&st, h) == &st.tokens[0]);
	h[31] ^= 1;
	CHECK("store_token_hash_wrong", !auth_store_token_by_hash(&st, h));

	const char *future = "{\"version\":2,\"users\":[],\"tokens\":[]}";
	CHECK("store_future", auth_store_parse(&st2, future, strlen(future), why, sizeof(why)) == -EPROTO &&
				      strstr(why, "newer"));
	const char *bad[] = {
		"not json", "{}", "{\"version\":1}", "{\"version\":0,\"users\":[],\"tokens\":[]}",
		"{\"version\":1,\"users\":[{\"name\":\"admin\",\"hash\":\"plain\"}],\"tokens\":[]}",
		"{\"version\":1,\"users\":[],\"tokens\":[{\"id\":\"xyz\"}]}",
		"{\"version\":\"1\",\"users\":[],\"tokens\":[]}",
	};
	bool all = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		all = all && auth_store_parse(&st2, bad[i], strlen(bad[i]), why, sizeof(why)) == -EINVAL && why[0];
	CHECK("store_corrupt", all);

	char dir[] = "/tmp/test_auth.XXXXXX";
	CHECK("store_tmpdir", mkdtemp(dir) != NULL);
	char sub[64], path[96];
	snprintf(sub, sizeof(sub), "%s/auth", dir);
	CHECK("store_load_absent", !auth_store_load(&st2, sub, why, sizeof(why)) && st2.nusers == 0);
	snprintf(st.dir, sizeof(st.dir), "%s", sub);
	CHECK("store_save", !auth_store_save(&st));
	CHECK("store_reload", !auth_store_load(&st2, sub, why, sizeof(why)) && st2.nusers == 1 && st2.ntokens == 1 &&
				      !strcmp(st2.users[0].hash, st.users[0].hash) &&
				      !memcmp(st2.tokens[0].sha256, st.tokens[0].sha256, 32));
	snprintf(path, sizeof(path), "%s/users.json", sub);
	struct stat sb;
	CHECK("store_mode_0600", !stat(path, &sb) && (sb.st_mode & 0777) == 0600);
	auth_store_token_remove(&st2, &st2.tokens[0]);
	CHECK("store_token_remove", st2.ntokens == 0);
	FILE *f = fopen(path, "w");
	fputs("{\"version\":1,", f);
	fclose(f);
	CHECK("store_load_corrupt", auth_store_load(&st2, sub, why, sizeof(why)) == -EINVAL && strstr(why, path));
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK("store_cleanup", system(path) == 0);
}

int main(void)
{
	test_b64();
	test_hash();
	test_headers();
	test_sessions();
	test_limit();
	test_store();
	return CHECK_DONE();
}
