/* kvmbox JSON; see json.h for the contract. The parser is a recursive
 * descent whose depth is capped by JSON_MAX_DEPTH, so its stack use is
 * bounded; everything it produces goes into the caller's token array. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ---- */

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0. Follows RFC
 * 3629 table 3.7: no overlong forms, no UTF-16 surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF. Both the parser and the writer use it, so anything
 * the writer emits the parser accepts. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c < 0xC2 || c > 0xF4)
		return 0; /* stray continuation byte, overlong 2-byte lead, or > U+10FFFF */
	if (c < 0xE0)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		unsigned lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F would be overlong */
		unsigned hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF would be a surrogate */
		if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
			return 0;
		return 3;
	}
	unsigned lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F would be overlong */
	unsigned hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90.. would be above U+10FFFF */
	if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
		return 0;
	return 4;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at s[0..n) as a code unit, or -1. */
static long hex4(const unsigned char *s, size_t n)
{
	if (n < 4)
		return -1;
	long v = 0;
	for (int k = 0; k < 4; k++) {
		int h = hexval(s[k]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u

static uint32_t fnv_step(uint32_t h, unsigned char c)
{
	return (h ^ c) * FNV_PRIME;
}

/* Decodes the contents of a string token one byte at a time. The parser has
 * validated the escapes, so this trusts them; it lets key comparison and
 * hashing work on decoded bytes without a scratch buffer. */
struct sdec {
	const unsigned char *s;
	size_t pos, end;
	unsigned char pend[4]; /* UTF-8 bytes of a \u escape not yet returned */
	unsigned npend, ipend;
};

static void sdec_init(struct sdec *d, const struct json_doc *doc, int i)
{
	d->s = (const unsigned char *)doc->text;
	d->pos = doc->tok[i].start;
	d->end = doc->tok[i].end;
	d->npend = d->ipend = 0;
}

static unsigned utf8_put(unsigned char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = 0xC0 | cp >> 6;
		p[1] = 0x80 | (cp & 0x3F);
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = 0xE0 | cp >> 12;
		p[1] = 0x80 | (cp >> 6 & 0x3F);
		p[2] = 0x80 | (cp & 0x3F);
		return 3;
	}
	p[0] = 0xF0 | cp >> 18;
	p[1] = 0x80 | (cp >> 12 & 0x3F);
	p[2] = 0x80 | (cp >> 6 & 0x3F);
	p[3] = 0x80 | (cp & 0x3F);
	return 4;
}

/* Next decoded byte, or -1 at the end of the string. */
static int sdec_next(struct sdec *d)
{
	if (d->ipend < d->npend)
		return d->pend[d->ipend++];
	if (d->pos >= d->end)
		return -1;
	unsigned char c = d->s[d->pos];
	if (c != '\\') {
		d->pos++;
		return c;
	}
	unsigned char e = d->s[d->pos + 1];
	d->pos += 2;
	switch (e) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u': break;
	default: return e; /* '"', '\\', '/' */
	}
	uint32_t cp = hex4(d->s + d->pos, 4);
	d->pos += 4;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		/* validated: a "\uDC00".."\uDFFF" follows */
		uint32_t lo = hex4(d->s + d->pos + 2, 4);
		d->pos += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	d->npend = utf8_put(d->pend, cp);
	d->ipend = 1;
	return d->pend[0];
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = FNV_BASIS;
	for (size_t k = 0; k < n; k++)
		h = fnv_step(h, s[k]);
	return h;
}

static uint32_t hash_token(const struct json_doc *doc, int i)
{
	const struct json_token *t = &doc->tok[i];
	if (!(t->flags & JSON_TF_ESCAPED))
		return hash_bytes(doc->text + t->start, t->end - t->start);
	struct sdec d;
	sdec_init(&d, doc, i);
	uint32_t h = FNV_BASIS;
	for (int c; (c = sdec_next(&d)) >= 0;)
		h = fnv_step(h, c);
	return h;
}

/* Does string token i decode to exactly s[0..n)? */
static bool token_matches(const struct json_doc *doc, int i, const char *s, size_t n)
{
	const struct json_token *t = &doc->tok[i];
	if (!(t->flags & JSON_TF_ESCAPED))
		return t->end - t->start == n && memcmp(doc->text + t->start, s, n) == 0;
	/* an escape sequence is never shorter than what it decodes to, so a
	 * decoded string is at most as long as its source */
	if (n > t->end - t->start)
		return false;
	struct sdec d;
	sdec_init(&d, doc, i);
	size_t k = 0;
	for (int c; (c = sdec_next(&d)) >= 0; k++)
		if (k >= n || (unsigned char)s[k] != c)
			return false;
	return k == n;
}

/* Do string tokens a and b decode to the same bytes? */
static bool tokens_equal(const struct json_doc *doc, int a, int b)
{
	const struct json_token *ta = &doc->tok[a], *tb = &doc->tok[b];
	if (ta->hash != tb->hash)
		return false;
	if (!(ta->flags & JSON_TF_ESCAPED))
		return token_matches(doc, b, doc->text + ta->start, ta->end - ta->start);
	if (!(tb->flags & JSON_TF_ESCAPED))
		return token_matches(doc, a, doc->text + tb->start, tb->end - tb->start);
	struct sdec da, db;
	sdec_init(&da, doc, a);
	sdec_init(&db, doc, b);
	for (;;) {
		int ca = sdec_next(&da), cb = sdec_next(&db);
		if (ca != cb)
			return false;
		if (ca < 0)
			return true;
	}
}

/* ---- parser ---- */

struct parser {
	const unsigned char *s;
	size_t len, pos;
	struct json_doc *doc;
	size_t max_tok;
	struct json_error *err;
	int rc; /* -EINVAL or -E2BIG, set with the first error */
};

/* Line and column of byte offset `at`, counting UTF-8 sequences as one
 * column. Only runs on the error path, so the O(n) scan costs nothing on
 * good input. */
static void locate(const unsigned char *s, size_t at, struct json_error *err)
{
	int line = 1, col = 1;
	for (size_t k = 0; k < at; k++) {
		if (s[k] == '\n') {
			line++;
			col = 1;
		} else if ((s[k] & 0xC0) != 0x80) {
			col++;
		}
	}
	err->line = line;
	err->col = col;
	err->offset = at;
}

static int fail_at(struct parser *p, size_t at, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_at(struct parser *p, size_t at, int rc, const char *fmt, ...)
{
	p->rc = rc;
	if (p->err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
		va_end(ap);
		locate(p->s, at, p->err);
	}
	return rc;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int new_token(struct parser *p, enum json_type type)
{
	struct json_doc *doc = p->doc;
	if ((size_t)doc->ntok >= p->max_tok)
		return fail_at(p, p->pos, -E2BIG, "more than %zu values, keys and containers",
			       p->max_tok);
	int i = doc->ntok++;
	struct json_token *t = &doc->tok[i];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->start = p->pos;
	return i;
}

/* Describe the byte at pos for "unexpected ..." messages, without copying
 * raw attacker bytes (which may be control characters or broken UTF-8) into
 * a message that ends up in logs and API responses. */
static const char *describe(struct parser *p, char *buf, size_t size)
{
	if (p->pos >= p->len)
		return "end of input";
	unsigned char c = p->s[p->pos];
	if (c > 0x20 && c < 0x7F)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02X", c);
	return buf;
}

/* Explain why the bytes at pos do not start a value; says more than
 * "unexpected character" for the mistakes people actually make. */
static int fail_value(struct parser *p, const char *where)
{
	char b[16];
	const unsigned char *s = p->s + p->pos;
	size_t n = p->len - p->pos;

	if (n == 0)
		return fail_at(p, p->pos, -EINVAL, "unexpected end of input; expected %s", where);
	if (s[0] == '/')
		return fail_at(p, p->pos, -EINVAL, "comments are not allowed in JSON");
	if (s[0] == '\'')
		return fail_at(p, p->pos, -EINVAL, "strings take double quotes, not single quotes");
	if (s[0] == 'N' || s[0] == 'I' || (s[0] == '-' && n > 1 && s[1] == 'I') ||
	    (s[0] == '+' && n > 1 && s[1] == 'I'))
		return fail_at(p, p->pos, -EINVAL, "NaN and Infinity are not JSON numbers");
	if (s[0] == '+' || s[0] == '.')
		return fail_at(p, p->pos, -EINVAL, "a number starts with '-' or a digit");
	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		return fail_at(p, p->pos, -EINVAL, "byte order mark is not allowed");
	if ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))
		return fail_at(p, p->pos, -EINVAL,
			       "unknown literal; expected true, false, null, or a quoted string");
	return fail_at(p, p->pos, -EINVAL, "unexpected %s; expected %s", describe(p, b, sizeof(b)),
		       where);
}

/* The string whose opening quote is at pos. On success pos is past the
 * closing quote. */
static int parse_string(struct parser *p)
{
	size_t open = p->pos;
	p->pos++;
	int i = new_token(p, JSON_STRING);
	if (i < 0)
		return i;
	struct json_token *t = &p->doc->tok[i];
	const unsigned char *s = p->s;
	size_t len = p->len;

	for (;;) {
		if (p->pos >= len)
			return fail_at(p, open, -EINVAL, "unterminated string");
		unsigned char c = s[p->pos];
		if (c == '"')
			break;
		if (c < 0x20)
			return fail_at(p, p->pos, -EINVAL,
				       "control character U+%04X must be escaped in a string", c);
		if (c >= 0x80) {
			size_t n = utf8_seq(s + p->pos, len - p->pos);
			if (!n)
				return fail_at(p, p->pos, -EINVAL,
					       "invalid UTF-8 (byte 0x%02X) in a string", c);
			p->pos += n;
			continue;
		}
		if (c != '\\') {
			p->pos++;
			continue;
		}
		t->flags |= JSON_TF_ESCAPED;
		if (p->pos + 1 >= len)
			return fail_at(p, open, -EINVAL, "unterminated string");
		unsigned char e = s[p->pos + 1];
		if (e && strchr("\"\\/bfnrt", e)) {
			p->pos += 2;
			continue;
		}
		if (e != 'u') {
			char b[16];
			p->pos++;
			return fail_at(
				p, p->pos - 1, -EINVAL,
				"invalid escape '\\' followed by %s; valid: \\\" \\\\ \\/ \\b "
				"\\f \\n \\r \\t \\uXXXX",
				describe(p, b, sizeof(b)));
		}
		long cp = hex4(s + p->pos + 2, len - p->pos - 2);
		if (cp < 0)
			return fail_at(p, p->pos, -EINVAL, "\\u must be followed by 4 hex digits");
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return fail_at(
				p, p->pos, -EINVAL,
				"\\u%04lX is a low surrogate without a high surrogate before it",
				cp);
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			/* UTF-16 pair: the low half must follow at once, or the
			 * string has no Unicode value at all */
			size_t q = p->pos + 6;
			long lo = -1;
			if (q + 1 < len && s[q] == '\\' && s[q + 1] == 'u')
				lo = hex4(s + q + 2, len - q - 2);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return fail_at(p, p->pos, -EINVAL,
					       "high surrogate \\u%04lX must be followed by a low "
					       "surrogate \\uDC00..\\uDFFF",
					       cp);
			p->pos += 6;
		}
		p->pos += 6;
	}
	t->end = p->pos;
	t->next = i + 1;
	p->pos++; /* closing quote */
	return i;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else. */
static int parse_number(struct parser *p)
{
	const unsigned char *s = p->s;
	size_t len = p->len, start = p->pos, q = p->pos;

	if (q < len && s[q] == '-')
		q++;
	if (q >= len || s[q] < '0' || s[q] > '9') {
		if (q < len && s[q] == 'I')
			return fail_at(p, start, -EINVAL, "NaN and Infinity are not JSON numbers");
		return fail_at(p, q, -EINVAL, "expected a digit after '-'");
	}
	if (s[q] == '0') {
		q++;
		if (q < len && s[q] >= '0' && s[q] <= '9')
			return fail_at(p, q - 1, -EINVAL, "numbers must not have leading zeros");
	} else {
		while (q < len && s[q] >= '0' && s[q] <= '9')
			q++;
	}
	uint8_t flags = JSON_TF_INT;
	if (q < len && s[q] == '.') {
		q++;
		if (q >= len || s[q] < '0' || s[q] > '9')
			return fail_at(p, q, -EINVAL, "expected a digit after '.'");
		while (q < len && s[q] >= '0' && s[q] <= '9')
			q++;
		flags = 0;
	}
	if (q < len && (s[q] == 'e' || s[q] == 'E')) {
		q++;
		if (q < len && (s[q] == '+' || s[q] == '-'))
			q++;
		if (q >= len || s[q] < '0' || s[q] > '9')
			return fail_at(p, q, -EINVAL, "expected a digit in the exponent");
		while (q < len && s[q] >= '0' && s[q] <= '9')
			q++;
		flags = 0;
	}
	/* RFC 8259 section 9 lets us limit numbers; 64 characters is ample for
	 * any int64 or double, and json_get_double() copies into a fixed buffer */
	if (q - start > JSON_MAX_NUMBER_LEN)
		return fail_at(p, start, -E2BIG, "number longer than %d characters",
			       JSON_MAX_NUMBER_LEN);
	int i = new_token(p, JSON_NUMBER);
	if (i < 0)
		return i;
	struct json_token *t = &p->doc->tok[i];
	t->end = q;
	t->next = i + 1;
	t->flags = flags;
	p->pos = q;
	return i;
}

static int parse_literal(struct parser *p)
{
	static const struct {
		const char *word;
		enum json_type type;
	} lits[] = {{"true", JSON_BOOL}, {"false", JSON_BOOL}, {"null", JSON_NULL}};

	for (size_t k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
		size_t n = strlen(lits[k].word);
		if (p->len - p->pos < n || memcmp(p->s + p->pos, lits[k].word, n) != 0)
			continue;
		/* "trueish" must not parse as true followed by junk in a
		 * context that then reports a confusing separator error */
		size_t q = p->pos + n;
		if (q < p->len &&
		    ((p->s[q] >= 'a' && p->s[q] <= 'z') || (p->s[q] >= 'A' && p->s[q] <= 'Z') ||
		     (p->s[q] >= '0' && p->s[q] <= '9') || p->s[q] == '_'))
			break;
		int i = new_token(p, lits[k].type);
		if (i < 0)
			return i;
		p->doc->tok[i].end = q;
		p->doc->tok[i].next = i + 1;
		p->pos = q;
		return i;
	}
	return fail_value(p, "a value");
}

static int parse_value(struct parser *p, int depth);

static int parse_object(struct parser *p, int depth)
{
	int obj = new_token(p, JSON_OBJECT);
	if (obj < 0)
		return obj;
	struct json_token *tok = p->doc->tok;
	uint32_t count = 0;

	p->pos++; /* '{' */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		goto done;
	}
	for (;;) {
		if (p->pos >= p->len || p->s[p->pos] != '"') {
			if (p->pos < p->len && p->s[p->pos] == '}')
				return fail_at(p, p->pos, -EINVAL, "trailing comma before '}'");
			if (p->pos < p->len && p->s[p->pos] == '\'')
				return fail_value(p, "a key");
			char b[16];
			return fail_at(p, p->pos, -EINVAL,
				       "unexpected %s; expected a double-quoted key",
				       describe(p, b, sizeof(b)));
		}
		if (count >= JSON_MAX_MEMBERS)
			return fail_at(p, p->pos, -E2BIG, "object has more than %d members",
				       JSON_MAX_MEMBERS);
		size_t key_at = p->pos;
		int key = parse_string(p);
		if (key < 0)
			return key;
		tok[key].hash = hash_token(p->doc, key);
		/* Every earlier key of this object: walk key -> value -> next key.
		 * Quadratic, hence JSON_MAX_MEMBERS; the hash makes each step
		 * one compare unless the keys collide. */
		for (int k = obj + 1; k < key; k = tok[k + 1].next) {
			if (!tokens_equal(p->doc, k, key))
				continue;
			/* quote up to 32 bytes of the raw key, cut at a
			 * character boundary so msg stays valid UTF-8 */
			size_t n = tok[key].end - tok[key].start;
			if (n > 32) {
				n = 32;
				while (n > 0 && (p->s[tok[key].start + n] & 0xC0) == 0x80)
					n--;
			}
			return fail_at(p, key_at, -EINVAL, "duplicate key \"%.*s%s\"", (int)n,
				       (const char *)p->s + tok[key].start,
				       n < tok[key].end - tok[key].start ? "..." : "");
		}
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ':') {
			char b[16];
			return fail_at(p, p->pos, -EINVAL,
				       "unexpected %s; expected ':' after a key",
				       describe(p, b, sizeof(b)));
		}
		p->pos++;
		skip_ws(p);
		int val = parse_value(p, depth);
		if (val < 0)
			return val;
		count++;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			skip_ws(p);
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == '}') {
			p->pos++;
			break;
		}
		if (p->pos >= p->len)
			return fail_at(p, p->pos, -EINVAL,
				       "unexpected end of input; expected ',' or '}' after an "
				       "object member");
		return fail_at(p, p->pos, -EINVAL, "expected ',' or '}' after an object member");
	}
done:
	tok[obj].end = p->pos;
	tok[obj].count = count;
	tok[obj].next = p->doc->ntok;
	return obj;
}

static int parse_array(struct parser *p, int depth)
{
	int arr = new_token(p, JSON_ARRAY);
	if (arr < 0)
		return arr;
	struct json_token *tok = p->doc->tok;
	uint32_t count = 0;

	p->pos++; /* '[' */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		goto done;
	}
	for (;;) {
		if (p->pos < p->len && p->s[p->pos] == ']' && count > 0)
			return fail_at(p, p->pos, -EINVAL, "trailing comma before ']'");
		int val = parse_value(p, depth);
		if (val < 0)
			return val;
		count++; /* cannot overflow: each element is a token */
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			skip_ws(p);
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == ']') {
			p->pos++;
			break;
		}
		if (p->pos >= p->len)
			return fail_at(p, p->pos, -EINVAL,
				       "unexpected end of input; expected ',' or ']' after an "
				       "array element");
		return fail_at(p, p->pos, -EINVAL, "expected ',' or ']' after an array element");
	}
done:
	tok[arr].end = p->pos;
	tok[arr].count = count;
	tok[arr].next = p->doc->ntok;
	return arr;
}

/* depth: containers already open around this value. */
static int parse_value(struct parser *p, int depth)
{
	if (p->pos >= p->len)
		return fail_value(p, "a value");
	unsigned char c = p->s[p->pos];
	if (c == '{' || c == '[') {
		if (depth >= JSON_MAX_DEPTH)
			return fail_at(p, p->pos, -E2BIG, "nested deeper than %d levels",
				       JSON_MAX_DEPTH);
		return c == '{' ? parse_object(p, depth + 1) : parse_array(p, depth + 1);
	}
	if (c == '"')
		return parse_string(p);
	if (c == '-' || (c >= '0' && c <= '9'))
		return parse_number(p);
	if (c == 't' || c == 'f' || c == 'n')
		return parse_literal(p);
	return fail_value(p, "a value");
}

int json_parse(struct json_doc *doc, const char *text, size_t len, size_t max_len,
	       struct json_token *tok, size_t max_tok, struct json_error *err)
{
	struct parser p = {
		.s = (const unsigned char *)text,
		.len = len,
		.doc = doc,
		.max_tok = max_tok < JSON_MAX_TOKENS ? max_tok : JSON_MAX_TOKENS,
		.err = err,
	};

	if (err)
		memset(err, 0, sizeof(*err));
	if (!doc || (!text && len) || (!tok && max_tok)) {
		if (err)
			snprintf(err->msg, sizeof(err->msg), "invalid arguments");
		return -EINVAL;
	}
	doc->text = text;
	doc->len = len;
	doc->tok = tok;
	doc->ntok = 0;
	if (max_len > JSON_MAX_INPUT)
		max_len = JSON_MAX_INPUT;
	if (len > max_len) {
		/* report where the limit was crossed; never scan more than that */
		p.len = max_len;
		return fail_at(&p, max_len, -E2BIG, "document larger than %zu bytes", max_len);
	}
	skip_ws(&p);
	if (p.pos >= len) {
		fail_at(&p, p.pos, -EINVAL, "empty document; expected a value");
		return p.rc;
	}
	if (parse_value(&p, 0) < 0) {
		doc->ntok = 0;
		return p.rc;
	}
	skip_ws(&p);
	if (p.pos < len) {
		char b[16];
		if (p.s[p.pos] == '/')
			fail_value(&p, "the end of the document"); /* says "comments" */
		else
			fail_at(&p, p.pos, -EINVAL, "unexpected %s after the end of the document",
				describe(&p, b, sizeof(b)));
		doc->ntok = 0;
		return p.rc;
	}
	return 0;
}

void json_error_format(const struct json_error *err, char *buf, size_t size)
{
	if (!size)
		return;
	snprintf(buf, size, "line %d, column %d: %s", err->line, err->col, err->msg);
}

/* ---- accessors ---- */

/* 0 if token i exists and has `type`, else -ENOENT (i < 0: a failed
 * lookup, so accessors chain) or -EINVAL. */
static int check(const struct json_doc *doc, int i, enum json_type type)
{
	if (i < 0)
		return -ENOENT;
	if (!doc || i >= doc->ntok || doc->tok[i].type != type)
		return -EINVAL;
	return 0;
}

enum json_type json_type(const struct json_doc *doc, int i)
{
	if (!doc || i < 0 || i >= doc->ntok)
		return JSON_NONE;
	return doc->tok[i].type;
}

const char *json_type_name(enum json_type type)
{
	switch (type) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_NUMBER: return "number";
	case JSON_BOOL: return "boolean";
	case JSON_NULL: return "null";
	default: return "nothing";
	}
}

int json_get(const struct json_doc *doc, int obj, const char *key)
{
	if (check(doc, obj, JSON_OBJECT) || !key)
		return -1;
	const struct json_token *t = &doc->tok[obj];
	size_t n = strlen(key);
	uint32_t h = hash_bytes(key, n);
	int k = obj + 1;
	for (uint32_t m = 0; m < t->count; m++, k = doc->tok[k + 1].next)
		if (doc->tok[k].hash == h && token_matches(doc, k, key, n))
			return k + 1;
	return -1;
}

static int get_string(const struct json_doc *doc, int i, char *buf, size_t size, bool allow_nul)
{
	int rc = check(doc, i, JSON_STRING);
	if (!buf || !size)
		return rc ? rc : -ENOSPC;
	buf[0] = '\0';
	if (rc)
		return rc;
	const struct json_token *t = &doc->tok[i];
	if (!(t->flags & JSON_TF_ESCAPED)) {
		/* no escapes: the raw bytes are the value, and the parser
		 * refused raw control characters, so there is no NUL */
		size_t n = t->end - t->start;
		if (n >= size)
			return -ENOSPC;
		memcpy(buf, doc->text + t->start, n);
		buf[n] = '\0';
		return n;
	}
	struct sdec d;
	sdec_init(&d, doc, i);
	size_t n = 0;
	for (int c; (c = sdec_next(&d)) >= 0;) {
		if (c == 0 && !allow_nul) {
			buf[0] = '\0';
			return -EILSEQ;
		}
		if (n + 1 >= size) {
			buf[0] = '\0';
			return -ENOSPC;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	return n;
}

int json_get_string(const struct json_doc *doc, int i, char *buf, size_t size)
{
	return get_string(doc, i, buf, size, false);
}

int json_get_strn(const struct json_doc *doc, int i, char *buf, size_t size)
{
	return get_string(doc, i, buf, size, true);
}

bool json_streq(const struct json_doc *doc, int i, const char *s)
{
	if (!s || check(doc, i, JSON_STRING))
		return false;
	return token_matches(doc, i, s, strlen(s));
}

/* Magnitude and sign of integer token i. */
static int get_integer(const struct json_doc *doc, int i, uint64_t *mag, bool *neg)
{
	int rc = check(doc, i, JSON_NUMBER);
	if (rc)
		return rc;
	const struct json_token *t = &doc->tok[i];
	if (!(t->flags & JSON_TF_INT))
		return -EDOM;
	const char *s = doc->text + t->start, *e = doc->text + t->end;
	*neg = *s == '-';
	if (*neg)
		s++;
	uint64_t v = 0;
	for (; s < e; s++) {
		unsigned d = *s - '0';
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*mag = v;
	return 0;
}

int json_get_int64(const struct json_doc *doc, int i, int64_t *out)
{
	uint64_t mag;
	bool neg;
	int rc = get_integer(doc, i, &mag, &neg);
	if (rc)
		return rc;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		/* written so that -2^63 needs no signed overflow */
		*out = mag ? -(int64_t)(mag - 1) - 1 : 0;
	} else {
		if (mag > INT64_MAX)
			return -ERANGE;
		*out = mag;
	}
	return 0;
}

int json_get_uint64(const struct json_doc *doc, int i, uint64_t *out)
{
	uint64_t mag;
	bool neg;
	int rc = get_integer(doc, i, &mag, &neg);
	if (rc)
		return rc;
	if (neg && mag)
		return -ERANGE;
	*out = mag;
	return 0;
}

int json_get_double(const struct json_doc *doc, int i, double *out)
{
	int rc = check(doc, i, JSON_NUMBER);
	if (rc)
		return rc;
	const struct json_token *t = &doc->tok[i];
	/* strtod needs a terminated string; the parser capped the length. JSON
	 * number syntax is a subset of strtod's in the C locale, which is the
	 * only locale kvmbox runs in. */
	char buf[JSON_MAX_NUMBER_LEN + 1];
	size_t n = t->end - t->start;
	memcpy(buf, doc->text + t->start, n);
	buf[n] = '\0';
	double v = strtod(buf, NULL);
	if (isinf(v))
		return -ERANGE;
	*out = v;
	return 0;
}

int json_get_bool(const struct json_doc *doc, int i, bool *out)
{
	int rc = check(doc, i, JSON_BOOL);
	if (rc)
		return rc;
	const struct json_token *t = &doc->tok[i];
	*out = doc->text[t->start] == 't';
	return 0;
}

int json_array_len(const struct json_doc *doc, int arr)
{
	int rc = check(doc, arr, JSON_ARRAY);
	return rc ? rc : (int)doc->tok[arr].count;
}

int json_array_at(const struct json_doc *doc, int arr, int n)
{
	if (check(doc, arr, JSON_ARRAY) || n < 0 || (uint32_t)n >= doc->tok[arr].count)
		return -1;
	int k = arr + 1;
	while (n--)
		k = doc->tok[k].next;
	return k;
}

int json_iter_init(struct json_iter *it, const struct json_doc *doc, int i)
{
	it->doc = doc;
	it->next = i + 1;
	it->left = 0;
	it->object = false;
	if (i < 0)
		return -ENOENT;
	enum json_type type = json_type(doc, i);
	if (type != JSON_OBJECT && type != JSON_ARRAY)
		return -EINVAL;
	it->left = doc->tok[i].count;
	it->object = type == JSON_OBJECT;
	return 0;
}

bool json_iter_next(struct json_iter *it, int *key, int *val)
{
	if (it->left <= 0)
		return false;
	it->left--;
	int k = it->next;
	if (it->object) {
		*key = k;
		*val = k + 1;
	} else {
		*key = -1;
		*val = k;
	}
	it->next = it->doc->tok[*val].next;
	return true;
}

/* ---- writer ---- */

void json_w_init(struct json_writer *w, char *buf, size_t size)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->size = buf ? size : 0;
	w->first = true;
	if (w->size)
		buf[0] = '\0';
}

static int w_fail(struct json_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

/* Append n bytes, all or nothing, keeping one byte for the NUL. */
static int w_put(struct json_writer *w, const char *s, size_t n)
{
	if (w->err)
		return w->err;
	if (!n)
		return 0; /* also keeps memcpy away from a NULL source */
	if (!w->size || n > w->size - 1 - w->len)
		return w_fail(w, -ENOSPC);
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
	return 0;
}

static bool w_in_object(const struct json_writer *w)
{
	return w->depth && (w->objects >> (w->depth - 1) & 1);
}

/* Checks and the separator before any value. */
static int w_before_value(struct json_writer *w)
{
	if (w->err)
		return w->err;
	if (w->depth == 0)
		return w->done ? w_fail(w, -EINVAL) : 0;
	if (w_in_object(w))
		return w->want_value ? 0 : w_fail(w, -EINVAL);
	return w->first ? 0 : w_put(w, ",", 1);
}

static void w_after_value(struct json_writer *w)
{
	w->first = false;
	w->want_value = false;
	if (w->depth == 0)
		w->done = true;
}

static int w_value(struct json_writer *w, const char *s, size_t n)
{
	int rc = w_before_value(w);
	if (!rc)
		rc = w_put(w, s, n);
	if (!rc)
		w_after_value(w);
	return rc;
}

static int w_begin(struct json_writer *w, bool object)
{
	int rc = w_before_value(w);
	if (rc)
		return rc;
	if (w->depth >= JSON_MAX_DEPTH)
		return w_fail(w, -E2BIG);
	rc = w_put(w, object ? "{" : "[", 1);
	if (rc)
		return rc;
	if (object)
		w->objects |= (uint64_t)1 << w->depth;
	else
		w->objects &= ~((uint64_t)1 << w->depth);
	w->depth++;
	w->first = true;
	w->want_value = false;
	return 0;
}

int json_w_begin_object(struct json_writer *w)
{
	return w_begin(w, true);
}
int json_w_begin_array(struct json_writer *w)
{
	return w_begin(w, false);
}

int json_w_end(struct json_writer *w)
{
	if (w->err)
		return w->err;
	if (!w->depth || w->want_value)
		return w_fail(w, -EINVAL);
	int rc = w_put(w, w_in_object(w) ? "}" : "]", 1);
	if (rc)
		return rc;
	w->depth--;
	w_after_value(w); /* the parent now holds this container */
	return 0;
}

/* Quote and escape s[0..n). Valid UTF-8 passes through: escaping it would
 * only make the output bigger and harder to read. */
static int w_quoted(struct json_writer *w, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;

	if (!s && n)
		return w_fail(w, -EINVAL);
	/* validate first, so a bad string leaves no half-written output */
	for (size_t k = 0; k < n;) {
		size_t m = utf8_seq(s + k, n - k);
		if (!m)
			return w_fail(w, -EILSEQ);
		k += m;
	}
	int rc = w_put(w, "\"", 1);
	size_t run = 0; /* start of bytes not yet copied */
	for (size_t k = 0; k < n && !rc; k++) {
		unsigned char c = s[k];
		char esc[6];
		size_t elen = 2;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c >= 0x20)
				continue;
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		rc = w_put(w, str + run, k - run);
		if (!rc)
			rc = w_put(w, esc, elen);
		run = k + 1;
	}
	if (!rc)
		rc = w_put(w, str + run, n - run);
	if (!rc)
		rc = w_put(w, "\"", 1);
	return rc;
}

int json_w_key_n(struct json_writer *w, const char *key, size_t len)
{
	if (w->err)
		return w->err;
	if (!w_in_object(w) || w->want_value)
		return w_fail(w, -EINVAL);
	int rc = w->first ? 0 : w_put(w, ",", 1);
	if (!rc)
		rc = w_quoted(w, key, len);
	if (!rc)
		rc = w_put(w, ":", 1);
	if (!rc)
		w->want_value = true;
	return rc;
}

int json_w_key(struct json_writer *w, const char *key)
{
	if (!key)
		return w_fail(w, -EINVAL);
	return json_w_key_n(w, key, strlen(key));
}

int json_w_string_n(struct json_writer *w, const char *s, size_t len)
{
	int rc = w_before_value(w);
	if (!rc)
		rc = w_quoted(w, s, len);
	if (!rc)
		w_after_value(w);
	return rc;
}

int json_w_string(struct json_writer *w, const char *s)
{
	if (!s)
		return w_fail(w, -EINVAL);
	return json_w_string_n(w, s, strlen(s));
}

/* Decimal digits of v, right-aligned in buf[0..24); returns the first. */
static char *u64_digits(char buf[24], uint64_t v)
{
	char *p = buf + 24;
	do {
		*--p = '0' + v % 10;
		v /= 10;
	} while (v);
	return p;
}

int json_w_uint(struct json_writer *w, uint64_t v)
{
	char buf[24];
	char *p = u64_digits(buf, v);
	return w_value(w, p, buf + 24 - p);
}

int json_w_int(struct json_writer *w, int64_t v)
{
	char buf[24];
	/* magnitude in unsigned arithmetic, so INT64_MIN does not overflow */
	uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
	char *p = u64_digits(buf, mag);
	if (v < 0)
		*--p = '-';
	return w_value(w, p, buf + 24 - p);
}

int json_w_double(struct json_writer *w, double v)
{
	if (!isfinite(v))
		return w_fail(w, -EINVAL); /* JSON has no NaN or Infinity */
	char buf[32];
	/* %.17g round-trips every double, and its output ("1e+300", "-0",
	 * "0.5") is always JSON number syntax */
	int n = snprintf(buf, sizeof(buf), "%.17g", v);
	return w_value(w, buf, n);
}

int json_w_bool(struct json_writer *w, bool v)
{
	return v ? w_value(w, "true", 4) : w_value(w, "false", 5);
}

int json_w_null(struct json_writer *w)
{
	return w_value(w, "null", 4);
}

int json_w_raw(struct json_writer *w, const char *text, size_t len)
{
	if (!text || !len)
		return w_fail(w, -EINVAL); /* empty would leave a bare separator */
	return w_value(w, text, len);
}

int json_w_finish(struct json_writer *w)
{
	if (w->err)
		return w->err;
	if (!w->done)
		return w_fail(w, -EINVAL);
	return 0;
}
