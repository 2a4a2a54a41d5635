/* Unit tests for vmm/json.c: what the parser accepts and refuses (with the
 * error position on a few), the limits, the accessors, and the writer,
 * including escapes that must survive a write-then-parse round trip. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

#define NTOK 256
static struct json_token tok[NTOK];
static struct json_doc doc;
static struct json_error err;

static int parse_n(const char *s, size_t n)
{
	return json_parse(&doc, s, n, 1 << 20, tok, NTOK, &err);
}
static int parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* Parse s, expect rc; print the message so a reader of the test log sees
 * what users would see. */
static int rejects(const char *s, int rc)
{
	int got = parse(s);
	if (got != rc)
		printf("# %s: got %d (%s)\n", s, got, err.msg);
	return got == rc;
}

static int error_at(const char *s, int line, int col, const char *msg_part)
{
	if (parse(s) >= 0)
		return 0;
	char buf[160];
	json_error_format(&err, buf, sizeof(buf));
	printf("# %s\n", buf);
	return err.line == line && err.col == col && strstr(err.msg, msg_part);
}

static void test_valid(void)
{
	CHECK("scalar true",
	      parse("true") == 0 && doc.ntok == 1 && json_type(&doc, 0) == JSON_BOOL);
	CHECK("scalar null", parse(" null ") == 0 && json_type(&doc, 0) == JSON_NULL);
	CHECK("scalar number", parse("-12.5e+3") == 0 && json_type(&doc, 0) == JSON_NUMBER);
	CHECK("scalar string", parse("\"hi\"") == 0 && json_type(&doc, 0) == JSON_STRING);
	CHECK("empty object", parse("{}") == 0 && doc.ntok == 1 && tok[0].count == 0);
	CHECK("empty array", parse("[ ]") == 0 && json_array_len(&doc, 0) == 0);
	CHECK("whitespace", parse(" \t\r\n{ \"a\" :\n1 , \"b\":[ ] }\r\n") == 0);

	const char *cfg = "{\"name\":\"web1\",\"mem_mib\":2048,\"vcpus\":4,\"balloon\":false,"
			  "\"kernel\":null,\"ratio\":0.75,"
			  "\"disks\":[{\"path\":\"/data/web1.img\",\"ro\":true},{\"path\":\"b\"}],"
			  "\"net\":{\"mode\":\"nat\",\"mac\":\"52:54:00:12:34:56\"}}";
	CHECK("vm config parses", parse(cfg) == 0);
	char s[64];
	int64_t i64;
	uint64_t u64;
	bool b;
	double d;
	CHECK("get string", json_get_string(&doc, json_get(&doc, 0, "name"), s, sizeof(s)) == 4 &&
				    strcmp(s, "web1") == 0);
	CHECK("get int64",
	      json_get_int64(&doc, json_get(&doc, 0, "mem_mib"), &i64) == 0 && i64 == 2048);
	CHECK("get uint64",
	      json_get_uint64(&doc, json_get(&doc, 0, "vcpus"), &u64) == 0 && u64 == 4);
	CHECK("get bool", json_get_bool(&doc, json_get(&doc, 0, "balloon"), &b) == 0 && !b);
	CHECK("get null", json_type(&doc, json_get(&doc, 0, "kernel")) == JSON_NULL);
	CHECK("get double",
	      json_get_double(&doc, json_get(&doc, 0, "ratio"), &d) == 0 && d == 0.75);
	CHECK("missing key is -1", json_get(&doc, 0, "nope") == -1);
	CHECK("missing key chains to -ENOENT",
	      json_get_int64(&doc, json_get(&doc, 0, "nope"), &i64) == -ENOENT);
	CHECK("wrong type is -EINVAL",
	      json_get_int64(&doc, json_get(&doc, 0, "name"), &i64) == -EINVAL);
	CHECK("fraction is -EDOM", json_get_int64(&doc, json_get(&doc, 0, "ratio"), &i64) == -EDOM);
	CHECK("json_get on a non-object", json_get(&doc, json_get(&doc, 0, "disks"), "path") == -1);
	CHECK("key prefix does not match",
	      json_get(&doc, 0, "nam") == -1 && json_get(&doc, 0, "names") == -1);

	int disks = json_get(&doc, 0, "disks");
	CHECK("array len", json_array_len(&doc, disks) == 2);
	int d1 = json_array_at(&doc, disks, 1);
	CHECK("array at", json_streq(&doc, json_get(&doc, d1, "path"), "b"));
	CHECK("array at out of range",
	      json_array_at(&doc, disks, 2) == -1 && json_array_at(&doc, disks, -1) == -1);
	CHECK("nested get",
	      json_streq(&doc, json_get(&doc, json_get(&doc, 0, "net"), "mode"), "nat"));
	CHECK("streq mismatch", !json_streq(&doc, json_get(&doc, 0, "name"), "web") &&
					!json_streq(&doc, json_get(&doc, 0, "name"), "web12"));
	CHECK("type names", strcmp(json_type_name(json_type(&doc, disks)), "array") == 0 &&
				    json_type(&doc, 9999) == JSON_NONE &&
				    json_type(&doc, -1) == JSON_NONE);

	/* iterator: keys in document order, siblings skip whole subtrees */
	struct json_iter it;
	int k, v, n = 0, ok = 1;
	static const char *const keys[] = {"name",   "mem_mib", "vcpus", "balloon",
					   "kernel", "ratio",	"disks", "net"};
	CHECK("iter init", json_iter_init(&it, &doc, 0) == 0);
	while (json_iter_next(&it, &k, &v)) {
		if (n >= 8 || !json_streq(&doc, k, keys[n]) || json_get(&doc, 0, keys[n]) != v)
			ok = 0;
		n++;
	}
	CHECK("iter object members", ok && n == 8);
	n = 0;
	json_iter_init(&it, &doc, disks);
	while (json_iter_next(&it, &k, &v))
		ok &= k == -1 && json_type(&doc, v) == JSON_OBJECT &&
		      v == json_array_at(&doc, disks, n++);
	CHECK("iter array elements", ok && n == 2);
	CHECK("iter on scalar fails, loop empty",
	      json_iter_init(&it, &doc, json_get(&doc, 0, "name")) == -EINVAL &&
		      !json_iter_next(&it, &k, &v));
	CHECK("iter on missing",
	      json_iter_init(&it, &doc, -1) == -ENOENT && !json_iter_next(&it, &k, &v));
	CHECK("next skips subtree", tok[disks].next == (uint32_t)json_get(&doc, 0, "net") - 1);

	CHECK("control message", parse("{\"cmd\":\"status\"}") == 0 &&
					 json_streq(&doc, json_get(&doc, 0, "cmd"), "status"));
	CHECK("input need not be NUL-terminated",
	      parse_n("[1,2]xyz", 5) == 0 && json_array_len(&doc, 0) == 2);
}

static void test_numbers(void)
{
	int64_t i;
	uint64_t u;
	double d;
	CHECK("int64 max", parse("9223372036854775807") == 0 && json_get_int64(&doc, 0, &i) == 0 &&
				   i == INT64_MAX);
	CHECK("int64 min", parse("-9223372036854775808") == 0 && json_get_int64(&doc, 0, &i) == 0 &&
				   i == INT64_MIN);
	CHECK("int64 over",
	      parse("9223372036854775808") == 0 && json_get_int64(&doc, 0, &i) == -ERANGE);
	CHECK("int64 under",
	      parse("-9223372036854775809") == 0 && json_get_int64(&doc, 0, &i) == -ERANGE);
	CHECK("uint64 max", parse("18446744073709551615") == 0 &&
				    json_get_uint64(&doc, 0, &u) == 0 && u == UINT64_MAX);
	CHECK("uint64 over",
	      parse("18446744073709551616") == 0 && json_get_uint64(&doc, 0, &u) == -ERANGE);
	CHECK("uint64 huge",
	      parse("99999999999999999999999") == 0 && json_get_uint64(&doc, 0, &u) == -ERANGE);
	CHECK("uint64 negative", parse("-1") == 0 && json_get_uint64(&doc, 0, &u) == -ERANGE);
	CHECK("minus zero", parse("-0") == 0 && json_get_int64(&doc, 0, &i) == 0 && i == 0 &&
				    json_get_uint64(&doc, 0, &u) == 0 && u == 0);
	CHECK("1.0 is not an int", parse("1.0") == 0 && json_get_int64(&doc, 0, &i) == -EDOM);
	CHECK("1e3 is not an int", parse("1e3") == 0 && json_get_uint64(&doc, 0, &u) == -EDOM);
	CHECK("double exp", parse("1E-2") == 0 && json_get_double(&doc, 0, &d) == 0 && d == 0.01);
	CHECK("double of int", parse("-7") == 0 && json_get_double(&doc, 0, &d) == 0 && d == -7.0);
	CHECK("double overflow", parse("1e400") == 0 && json_get_double(&doc, 0, &d) == -ERANGE);
	CHECK("double underflow is 0",
	      parse("1e-400") == 0 && json_get_double(&doc, 0, &d) == 0 && d == 0);
	CHECK("0 alone", parse("[0,0.5,0e1,-0.0]") == 0 && json_array_len(&doc, 0) == 4);
	char big[80];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK("number length limit", rejects(big, -E2BIG));
	big[JSON_MAX_NUMBER_LEN] = '\0';
	CHECK("number at length limit", parse(big) == 0);
}

static void test_rejects(void)
{
	CHECK("empty", rejects("", -EINVAL));
	CHECK("only spaces", rejects("   ", -EINVAL));
	CHECK("trailing comma object", rejects("{\"a\":1,}", -EINVAL));
	CHECK("trailing comma array", rejects("[1,]", -EINVAL));
	CHECK("leading comma", rejects("[,1]", -EINVAL));
	CHECK("double comma", rejects("[1,,2]", -EINVAL));
	CHECK("missing comma", rejects("[1 2]", -EINVAL));
	CHECK("missing colon", rejects("{\"a\" 1}", -EINVAL));
	CHECK("unquoted key", rejects("{a:1}", -EINVAL));
	CHECK("single quotes", rejects("['a']", -EINVAL));
	CHECK("line comment", rejects("[1] // x", -EINVAL));
	CHECK("block comment", rejects("/* x */ 1", -EINVAL));
	CHECK("NaN", rejects("NaN", -EINVAL));
	CHECK("Infinity", rejects("[-Infinity]", -EINVAL));
	CHECK("nan lower", rejects("nan", -EINVAL));
	CHECK("leading zero", rejects("01", -EINVAL));
	CHECK("leading zero neg", rejects("-01", -EINVAL));
	CHECK("plus sign", rejects("+1", -EINVAL));
	CHECK("bare dot", rejects(".5", -EINVAL));
	CHECK("dot no digits", rejects("1.", -EINVAL));
	CHECK("exp no digits", rejects("1e", -EINVAL));
	CHECK("exp sign no digits", rejects("1e+", -EINVAL));
	CHECK("minus alone", rejects("-", -EINVAL));
	CHECK("hex number", rejects("0x10", -EINVAL));
	CHECK("True", rejects("True", -EINVAL));
	CHECK("truex", rejects("truex", -EINVAL));
	CHECK("tru", rejects("tru", -EINVAL));
	CHECK("two values", rejects("1 2", -EINVAL));
	CHECK("two objects", rejects("{}{}", -EINVAL));
	CHECK("unclosed object", rejects("{\"a\":1", -EINVAL));
	CHECK("unclosed array", rejects("[1", -EINVAL));
	CHECK("extra close", rejects("[1]]", -EINVAL));
	CHECK("mismatched close", rejects("[1}", -EINVAL));
	CHECK("unterminated string", rejects("\"abc", -EINVAL));
	CHECK("unterminated escape", rejects("\"abc\\", -EINVAL));
	CHECK("raw newline in string", rejects("\"a\nb\"", -EINVAL));
	CHECK("raw tab in string", rejects("\"a\tb\"", -EINVAL));
	CHECK("raw NUL in string", parse_n("\"a\0b\"", 5) == -EINVAL);
	CHECK("NUL after value", parse_n("1\0", 2) == -EINVAL);
	CHECK("DEL in string is fine", parse("\"a\x7f\"") == 0);
	CHECK("bad escape", rejects("\"\\x41\"", -EINVAL));
	CHECK("escaped single quote", rejects("\"\\'\"", -EINVAL));
	CHECK("short \\u", rejects("\"\\u12\"", -EINVAL));
	CHECK("non-hex \\u", rejects("\"\\u12G4\"", -EINVAL));
	CHECK("lone high surrogate", rejects("\"\\uD83D\"", -EINVAL));
	CHECK("high + non-surrogate", rejects("\"\\uD83D\\u0041\"", -EINVAL));
	CHECK("high + high", rejects("\"\\uD83D\\uD83D\"", -EINVAL));
	CHECK("high + text", rejects("\"\\uD83Dxx\\uDE00\"", -EINVAL));
	CHECK("lone low surrogate", rejects("\"\\uDE00\"", -EINVAL));
	CHECK("BOM", rejects("\xEF\xBB\xBF{}", -EINVAL));
	/* UTF-8: stray continuation, overlong, encoded surrogate, > U+10FFFF,
	 * truncated sequences, invalid lead bytes */
	CHECK("utf8 continuation", rejects("\"\x80\"", -EINVAL));
	CHECK("utf8 overlong 2", rejects("\"\xC0\xAF\"", -EINVAL));
	CHECK("utf8 overlong 3", rejects("\"\xE0\x80\xAF\"", -EINVAL));
	CHECK("utf8 overlong 4", rejects("\"\xF0\x80\x80\xAF\"", -EINVAL));
	CHECK("utf8 surrogate", rejects("\"\xED\xA0\x80\"", -EINVAL));
	CHECK("utf8 above 10FFFF", rejects("\"\xF4\x90\x80\x80\"", -EINVAL));
	CHECK("utf8 F5", rejects("\"\xF5\x80\x80\x80\"", -EINVAL));
	CHECK("utf8 truncated", rejects("\"\xE2\x82\"", -EINVAL));
	CHECK("utf8 truncated at end", parse_n("\"\xE2\x82", 3) == -EINVAL);
	CHECK("utf8 outside string", rejects("\xC3\xA9", -EINVAL));
	CHECK("utf8 valid 2,3,4",
	      parse("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"") == 0);
	CHECK("utf8 edges",
	      parse("\"\xC2\x80\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\"") == 0);
	/* duplicate keys, also when they differ only in escaping */
	CHECK("duplicate key", rejects("{\"a\":1,\"a\":2}", -EINVAL));
	CHECK("duplicate key escaped", rejects("{\"a\":1,\"\\u0061\":2}", -EINVAL));
	CHECK("duplicate key both escaped", rejects("{\"\\/\":1,\"b\":{},\"\\u002f\":2}", -EINVAL));
	CHECK("duplicate key after subtree",
	      rejects("{\"x\":[1,{\"x\":1}],\"y\":1,\"x\":2}", -EINVAL));
	CHECK("same key in different objects", parse("{\"x\":{\"x\":1},\"y\":{\"x\":2}}") == 0);
	CHECK("keys sharing a prefix", parse("{\"a\":1,\"ab\":2,\"\\u0061b\\u0063\":3}") == 0);
}

static void test_positions(void)
{
	CHECK("pos missing comma", error_at("{\"cmd\":\"status\" \"x\":1}", 1, 17,
					    "expected ',' or '}' after an object member"));
	CHECK("pos line 2", error_at("{\n  \"a\": 1,\n  \"b\": tru\n}", 3, 8, "literal"));
	CHECK("pos trailing comma", error_at("[1,2,]", 1, 6, "trailing comma"));
	CHECK("pos duplicate", error_at("{\"a\":1,\n\"a\":2}", 2, 1, "duplicate key \"a\""));
	CHECK("pos counts characters", error_at("[\"\xC3\xA9\xC3\xA9\",x]", 1, 7, "literal"));
	CHECK("pos leading zero", error_at("[007]", 1, 2, "leading zeros"));
	CHECK("pos surrogate", error_at("\"ab\\uD800\"", 1, 4, "high surrogate"));
	CHECK("pos control char", error_at("\"ab\x01\"", 1, 4, "U+0001"));
	CHECK("pos unterminated", error_at("[1, \"abc", 1, 5, "unterminated"));
	CHECK("pos eof", error_at("[1,", 1, 4, "end of input"));
	CHECK("offset", parse("[1,x]") < 0 && err.offset == 3);
	char dup[200];
	snprintf(dup, sizeof(dup), "{\"%s\":1,\"%s\":2}",
		 "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		 "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9xyz",
		 "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		 "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9xyz");
	/* a long key is quoted in part, cut on a character boundary */
	CHECK("dup message truncated", parse(dup) == -EINVAL && strstr(err.msg, "...") &&
					       !strstr(err.msg, "xyz") &&
					       !strstr(err.msg, "\xC3\""));
	char small[8];
	json_error_format(&err, small, sizeof(small));
	CHECK("error format truncates", strlen(small) == 7);
}

static void test_limits(void)
{
	char buf[256];
	int n = 0;
	/* depth: JSON_MAX_DEPTH arrays nest, one more does not */
	for (int k = 0; k < JSON_MAX_DEPTH; k++)
		buf[n++] = '[';
	for (int k = 0; k < JSON_MAX_DEPTH; k++)
		buf[n++] = ']';
	CHECK("depth at limit", parse_n(buf, n) == 0 && doc.ntok == JSON_MAX_DEPTH);
	n = 0;
	for (int k = 0; k <= JSON_MAX_DEPTH; k++)
		buf[n++] = '[';
	for (int k = 0; k <= JSON_MAX_DEPTH; k++)
		buf[n++] = ']';
	CHECK("depth over limit", parse_n(buf, n) == -E2BIG && strstr(err.msg, "deeper") &&
					  err.col == JSON_MAX_DEPTH + 1);
	static char deep[100000];
	memset(deep, '[', sizeof(deep));
	CHECK("very deep input fails fast", parse_n(deep, sizeof(deep)) == -E2BIG);

	/* tokens: the caller's array bounds the document */
	struct json_token few[3];
	CHECK("tokens at limit",
	      json_parse(&doc, "[1,2]", 5, 100, few, 3, &err) == 0 && doc.ntok == 3);
	CHECK("tokens over limit", json_parse(&doc, "[1,2,3]", 7, 100, few, 3, &err) == -E2BIG &&
					   err.col == 6 && doc.ntok == 0);
	CHECK("zero tokens", json_parse(&doc, "1", 1, 100, NULL, 0, &err) == -E2BIG);

	/* size: the caller's max_len */
	CHECK("size at limit", json_parse(&doc, "[1, 2]", 6, 6, tok, NTOK, &err) == 0);
	CHECK("size over limit", json_parse(&doc, "[1, 2]", 6, 5, tok, NTOK, &err) == -E2BIG &&
					 strstr(err.msg, "larger than 5 bytes"));

	/* members per object */
	static char obj[JSON_MAX_MEMBERS * 16 + 64];
	static struct json_token mtok[JSON_MAX_MEMBERS * 2 + 8];
	for (int extra = 0; extra <= 1; extra++) {
		n = 0;
		obj[n++] = '{';
		for (int k = 0; k < JSON_MAX_MEMBERS + extra; k++)
			n += sprintf(obj + n, "%s\"k%d\":0", k ? "," : "", k);
		obj[n++] = '}';
		int rc = json_parse(&doc, obj, n, sizeof(obj), mtok, sizeof(mtok) / sizeof(mtok[0]),
				    &err);
		if (!extra)
			CHECK("members at limit", rc == 0 && json_get(&doc, 0, "k1023") > 0);
		else
			CHECK("members over limit", rc == -E2BIG && strstr(err.msg, "members"));
	}
	CHECK("bad args", json_parse(&doc, NULL, 3, 10, tok, NTOK, &err) == -EINVAL);
	CHECK("NULL err is fine", json_parse(&doc, "[", 1, 10, tok, NTOK, NULL) == -EINVAL);
}

static void test_strings(void)
{
	char s[64];
	CHECK("escapes parse", parse("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"") == 0 &&
				       (tok[0].flags & JSON_TF_ESCAPED));
	CHECK("escapes decode", json_get_string(&doc, 0, s, sizeof(s)) == 14 &&
					strcmp(s, "q\" b\\ s/ \b\f\n\r\t") == 0);
	CHECK("\\u BMP", parse("\"\\u00e9\\u20AC\\u0041\"") == 0 &&
				 json_get_string(&doc, 0, s, sizeof(s)) == 6 &&
				 strcmp(s, "\xC3\xA9\xE2\x82\xAC"
					   "A") == 0);
	CHECK("surrogate pair", parse("\"\\uD83D\\uDE00\"") == 0 &&
					json_get_string(&doc, 0, s, sizeof(s)) == 4 &&
					strcmp(s, "\xF0\x9F\x98\x80") == 0);
	CHECK("max surrogate pair", parse("\"\\uDBFF\\uDFFF\"") == 0 &&
					    json_get_string(&doc, 0, s, sizeof(s)) == 4 &&
					    strcmp(s, "\xF4\x8F\xBF\xBF") == 0);
	CHECK("streq decodes",
	      json_streq(&doc, 0, "\xF4\x8F\xBF\xBF") && !json_streq(&doc, 0, "\xF4\x8F\xBF"));
	CHECK("embedded NUL refused", parse("\"a\\u0000b\"") == 0 &&
					      json_get_string(&doc, 0, s, sizeof(s)) == -EILSEQ &&
					      s[0] == '\0');
	CHECK("embedded NUL via strn",
	      json_get_strn(&doc, 0, s, sizeof(s)) == 3 && memcmp(s, "a\0b", 4) == 0);
	CHECK("streq NUL", !json_streq(&doc, 0, "a"));
	CHECK("size exact", parse("\"abcd\"") == 0 && json_get_string(&doc, 0, s, 5) == 4);
	CHECK("size short", json_get_string(&doc, 0, s, 4) == -ENOSPC && s[0] == '\0');
	CHECK("size zero", json_get_string(&doc, 0, s, 0) == -ENOSPC);
	CHECK("escaped size exact",
	      parse("\"\\u00e9\"") == 0 && json_get_string(&doc, 0, s, 3) == 2);
	CHECK("escaped size short", json_get_string(&doc, 0, s, 2) == -ENOSPC && s[0] == '\0');
	CHECK("not a string", parse("1") == 0 && json_get_string(&doc, 0, s, sizeof(s)) == -EINVAL);
	CHECK("bad index", json_get_string(&doc, 5, s, sizeof(s)) == -EINVAL &&
				   json_get_string(&doc, -1, s, sizeof(s)) == -ENOENT);
	CHECK("key with escapes found",
	      parse("{\"a\\nb\":1}") == 0 && json_get(&doc, 0, "a\nb") == 2);
	CHECK("key read as string",
	      json_get_string(&doc, 1, s, sizeof(s)) == 3 && strcmp(s, "a\nb") == 0);
	CHECK("empty key", parse("{\"\":5}") == 0 && json_get(&doc, 0, "") == 2);
}

/* Write s with the writer, parse it back, decode: must give s again. */
static int round_trip(const char *s, size_t n)
{
	char out[512], back[256];
	struct json_writer w;
	json_w_init(&w, out, sizeof(out));
	json_w_begin_object(&w);
	json_w_key_n(&w, s, n);
	json_w_string_n(&w, s, n);
	json_w_end(&w);
	if (json_w_finish(&w) != 0)
		return 0;
	if (parse(out) != 0)
		return 0;
	int len = json_get_strn(&doc, 1, back, sizeof(back));
	int len2 = json_get_strn(&doc, 2, back + 128, 128);
	return len == (int)n && len2 == (int)n && memcmp(back, s, n) == 0 &&
	       memcmp(back + 128, s, n) == 0;
}

static void test_writer(void)
{
	char buf[256];
	struct json_writer w;
	json_w_init(&w, buf, sizeof(buf));
	json_w_begin_object(&w);
	json_w_key(&w, "cmd");
	json_w_string(&w, "status");
	json_w_key(&w, "n");
	json_w_int(&w, -42);
	json_w_key(&w, "u");
	json_w_uint(&w, UINT64_MAX);
	json_w_key(&w, "min");
	json_w_int(&w, INT64_MIN);
	json_w_key(&w, "ok");
	json_w_bool(&w, true);
	json_w_key(&w, "no");
	json_w_bool(&w, false);
	json_w_key(&w, "x");
	json_w_null(&w);
	json_w_key(&w, "d");
	json_w_double(&w, 0.5);
	json_w_key(&w, "a");
	json_w_begin_array(&w);
	json_w_int(&w, 1);
	json_w_begin_object(&w);
	json_w_end(&w);
	json_w_begin_array(&w);
	json_w_end(&w);
	json_w_raw(&w, "{\"r\":1}", 7);
	json_w_end(&w);
	json_w_end(&w);
	CHECK("writer ok", json_w_finish(&w) == 0 && w.len == strlen(buf));
	CHECK("writer output",
	      strcmp(buf, "{\"cmd\":\"status\",\"n\":-42,\"u\":18446744073709551615,"
			  "\"min\":-9223372036854775808,\"ok\":true,\"no\":false,\"x\":null,"
			  "\"d\":0.5,\"a\":[1,{},[],{\"r\":1}]}") == 0);
	printf("# %s\n", buf);
	int64_t i;
	uint64_t u;
	CHECK("writer output parses",
	      parse(buf) == 0 && json_get_int64(&doc, json_get(&doc, 0, "min"), &i) == 0 &&
		      i == INT64_MIN && json_get_uint64(&doc, json_get(&doc, 0, "u"), &u) == 0 &&
		      u == UINT64_MAX);

	json_w_init(&w, buf, sizeof(buf));
	json_w_string_n(&w, "q\"b\\\x01\x1f\n\t\x7f\0/\xC3\xA9", 13);
	CHECK("escaping",
	      json_w_finish(&w) == 0 &&
		      strcmp(buf, "\"q\\\"b\\\\\\u0001\\u001f\\n\\t\x7f\\u0000/\xC3\xA9\"") == 0);

	CHECK("round trip ascii", round_trip("hello", 5));
	CHECK("round trip controls", round_trip("\x01\x02\b\f\n\r\t\x1f\"\\", 10));
	CHECK("round trip NUL", round_trip("a\0b", 3));
	CHECK("round trip utf8",
	      round_trip("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF", 13));
	CHECK("round trip empty", round_trip("", 0));
	/* surrogate pair in, UTF-8 out, and back again */
	char s[16];
	CHECK("pair to utf8",
	      parse("\"\\ud83d\\ude00\"") == 0 && json_get_string(&doc, 0, s, sizeof(s)) == 4);
	CHECK("pair round trip", round_trip(s, 4));

	json_w_init(&w, buf, sizeof(buf));
	CHECK("invalid utf8 refused", json_w_string(&w, "\xC0\xAF") == -EILSEQ && w.len == 0 &&
					      json_w_finish(&w) == -EILSEQ);
	json_w_init(&w, buf, sizeof(buf));
	CHECK("surrogate utf8 refused", json_w_string(&w, "\xED\xA0\x80") == -EILSEQ);

	/* misuse */
	json_w_init(&w, buf, sizeof(buf));
	CHECK("key at top level", json_w_key(&w, "a") == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	json_w_begin_object(&w);
	CHECK("value without key", json_w_int(&w, 1) == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	json_w_begin_object(&w);
	json_w_key(&w, "a");
	CHECK("end after key", json_w_end(&w) == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	json_w_begin_array(&w);
	CHECK("key in array", json_w_key(&w, "a") == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	CHECK("end with nothing open", json_w_end(&w) == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	json_w_int(&w, 1);
	CHECK("two top-level values", json_w_int(&w, 2) == -EINVAL && strcmp(buf, "1") == 0);
	json_w_init(&w, buf, sizeof(buf));
	json_w_begin_array(&w);
	CHECK("unclosed at finish", json_w_finish(&w) == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	CHECK("nothing written", json_w_finish(&w) == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	CHECK("NaN refused", json_w_double(&w, 0.0 / 0.0) == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	CHECK("NULL string", json_w_string(&w, NULL) == -EINVAL);
	json_w_init(&w, buf, sizeof(buf));
	int rc = 0;
	for (int k = 0; k < JSON_MAX_DEPTH; k++)
		rc |= json_w_begin_array(&w);
	CHECK("writer depth at limit", rc == 0);
	CHECK("writer depth over limit", json_w_begin_array(&w) == -E2BIG);

	/* overflow: every prefix size of a document fails cleanly, with
	 * nothing written past the buffer (ASan watches the malloc'd edge) */
	int bad = 0;
	for (size_t size = 0; size <= 40; size++) {
		char *small = malloc(size ? size : 1);
		json_w_init(&w, size ? small : NULL, size);
		json_w_begin_object(&w);
		json_w_key(&w, "cmd");
		json_w_string(&w, "st\"atus\n");
		json_w_key(&w, "v");
		json_w_int(&w, -1234567);
		json_w_end(&w);
		rc = json_w_finish(&w);
		size_t need = strlen("{\"cmd\":\"st\\\"atus\\n\",\"v\":-1234567}");
		if (size > need ? rc != 0 : rc != -ENOSPC)
			bad++;
		if (size && (strlen(small) != w.len || w.len >= size))
			bad++;
		free(small);
	}
	CHECK("writer overflow", bad == 0);
	json_w_init(&w, buf, 4);
	CHECK("sticky ENOSPC", json_w_string(&w, "abcdef") == -ENOSPC &&
				       json_w_null(&w) == -ENOSPC && strlen(buf) == w.len &&
				       w.len < 4);
	json_w_init(&w, buf, 2);
	CHECK("fits exactly",
	      json_w_int(&w, 7) == 0 && json_w_finish(&w) == 0 && strcmp(buf, "7") == 0);
	json_w_init(&w, buf, 1);
	CHECK("one byte buffer", json_w_int(&w, 7) == -ENOSPC && buf[0] == '\0');
}

int main(void)
{
	test_valid();
	test_numbers();
	test_rejects();
	test_positions();
	test_limits();
	test_strings();
	test_writer();
	return CHECK_DONE();
}
