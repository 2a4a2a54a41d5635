/* kvmbox JSON: a strict, allocation-free parser and a bounded writer.
 *
 * Every byte we parse comes from outside: the control socket (one message a
 * line), VM config files on /data and HTTPS API bodies. So the parser follows
 * RFC 8259 to the letter (no comments, trailing commas, NaN, leading zeros,
 * single quotes, BOM; valid UTF-8 only; \u escapes and surrogate pairs
 * checked; raw control characters in strings refused) and every resource it
 * uses is bounded by a named limit: input size, token count, nesting depth,
 * members per object, number length. It never calls malloc: the caller hands
 * it a token array, and recursion is bounded by JSON_MAX_DEPTH.
 *
 * Duplicate object keys are refused at parse time, comparing decoded keys
 * ("a" and "\u0061" are the same key): with duplicates, two readers (ours and
 * a validator, say) could see different values, which is how request
 * smuggling starts.
 *
 * The parse produces a flat array of tokens in document order. Token 0 is
 * the root. A container is followed by its children; an object's children
 * alternate key (a string token) and value. Every token's `next` is the index
 * just past its subtree, i.e. its next sibling, so walking a container is
 * O(children) and needs no allocation. A key's `next` is its value.
 *
 * Accessors take a token index and return 0 or -errno:
 *   -ENOENT  index < 0 (json_get() found no such key), so lookups chain:
 *            json_get_int64(doc, json_get(doc, 0, "mem_mib"), &v)
 *   -EINVAL  index out of range or the token has another type
 *   -EDOM    an integer getter met a fraction or exponent (1.0, 1e3)
 *   -ERANGE  the number does not fit the requested type
 *   -ENOSPC  the caller's buffer is too small
 *   -EILSEQ  a string holds U+0000 where a C string was asked for
 */
#ifndef KVMBOX_JSON_H
#define KVMBOX_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits. Callers pass smaller ones (max_len, max_tok) for each use. */
#define JSON_MAX_INPUT (16u << 20)   /* bytes; keeps offsets and lengths in an int */
#define JSON_MAX_TOKENS 65536        /* tokens per document, whatever the array size */
#define JSON_MAX_DEPTH 32            /* nested objects/arrays; bounds the recursion */
#define JSON_MAX_MEMBERS 1024        /* per object; bounds the O(n^2) duplicate-key check */
#define JSON_MAX_NUMBER_LEN 64       /* characters in one number literal */

enum json_type {
	JSON_NONE = 0, /* what json_type() says of a bad index */
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_BOOL,
	JSON_NULL,
};

/* Token flags. */
#define JSON_TF_ESCAPED 0x01 /* string: has backslash escapes (decoding needed) */
#define JSON_TF_INT 0x02     /* number: no fraction or exponent */

struct json_token {
	uint32_t start; /* offset of the first byte; strings: just after the quote */
	uint32_t end;   /* offset one past the last byte; strings: the closing quote */
	uint32_t next;  /* index of the next sibling (one past this subtree) */
	union {
		uint32_t count; /* objects: members; arrays: elements */
		uint32_t hash;  /* strings: FNV-1a of the decoded bytes, for fast key lookup */
	};
	uint8_t type;  /* enum json_type */
	uint8_t flags; /* JSON_TF_* */
};

struct json_doc {
	const char *text; /* the caller's input; must outlive the doc */
	size_t len;
	struct json_token *tok;
	int ntok;
};

/* Where and why a parse failed, e.g. "line 1, column 17: expected ',' or '}'
 * after an object member". line and col are 1-based; col counts characters
 * (UTF-8 sequences), not bytes, so it matches an editor. msg never holds a
 * position and is always valid UTF-8 and NUL-terminated. */
struct json_error {
	int line, col;
	size_t offset; /* byte offset of the error */
	char msg[96];
};

/* Parse text[0..len) (no NUL needed) into tok[0..max_tok). Fails with -E2BIG
 * when len > max_len or another limit is crossed, -EINVAL when the text is
 * not JSON; err (may be NULL) then says where and why. On success doc->tok
 * holds doc->ntok tokens and doc->text points at text. */
int json_parse(struct json_doc *doc, const char *text, size_t len, size_t max_len,
	       struct json_token *tok, size_t max_tok, struct json_error *err);

/* Format "line L, column C: msg" into buf (always NUL-terminated). */
void json_error_format(const struct json_error *err, char *buf, size_t size);

enum json_type json_type(const struct json_doc *doc, int i);
const char *json_type_name(enum json_type type); /* "object", "string", ... */

/* Index of the value of member `key` in object obj, or -1 (not an object,
 * bad index, or no such key). key is compared with the decoded member name. */
int json_get(const struct json_doc *doc, int obj, const char *key);

/* Decode string token i into buf (NUL-terminated). Returns the length in
 * bytes (>= 0) or -errno; on error buf holds "". json_get_string refuses
 * U+0000 (-EILSEQ) because callers use the result as a C string;
 * json_get_strn lets it through for callers that use the length. Keys are
 * string tokens too. */
int json_get_string(const struct json_doc *doc, int i, char *buf, size_t size);
int json_get_strn(const struct json_doc *doc, int i, char *buf, size_t size);
/* 1 if string token i decodes to exactly s, else 0. */
bool json_streq(const struct json_doc *doc, int i, const char *s);

/* Numbers. The integer getters accept integer literals only: "1.0" and
 * "1e3" are -EDOM, because a config that says 1.5 CPUs is a mistake we should
 * report, not round. "-0" is 0. */
int json_get_int64(const struct json_doc *doc, int i, int64_t *out);
int json_get_uint64(const struct json_doc *doc, int i, uint64_t *out);
/* Any number; -ERANGE when it overflows a double (1e400). */
int json_get_double(const struct json_doc *doc, int i, double *out);
int json_get_bool(const struct json_doc *doc, int i, bool *out);

/* Number of elements, or -errno. */
int json_array_len(const struct json_doc *doc, int arr);
/* Index of element n (0-based) of array arr, or -1. O(n). */
int json_array_at(const struct json_doc *doc, int arr, int n);

/* Walk an object's members (key and value indices) or an array's elements
 * (key is -1):
 *	struct json_iter it;
 *	int k, v;
 *	json_iter_init(&it, doc, obj);
 *	while (json_iter_next(&it, &k, &v))
 *		...
 * If init fails (-ENOENT, -EINVAL) the loop runs zero times. */
struct json_iter {
	const struct json_doc *doc;
	int next; /* token index of the next child */
	int left; /* children not yet returned */
	bool object;
};
int json_iter_init(struct json_iter *it, const struct json_doc *doc, int i);
bool json_iter_next(struct json_iter *it, int *key, int *val);

/* Writer: builds one JSON value into a caller buffer. It never writes past
 * buf[size - 1] and keeps buf NUL-terminated. Errors are sticky, so a caller
 * can make a run of calls and check only json_w_finish():
 *   -ENOSPC  the buffer is full (what is there is a truncated prefix)
 *   -EINVAL  misuse: a key outside an object, a value without a key, end()
 *            with nothing open, a second top-level value, NaN or infinity
 *   -E2BIG   deeper than JSON_MAX_DEPTH (the parser would refuse it)
 *   -EILSEQ  a string or key is not valid UTF-8
 * Strings are escaped ('"', '\\', control characters); valid UTF-8 is
 * copied as is. Duplicate keys are the caller's business. */
struct json_writer {
	char *buf;
	size_t size;
	size_t len;        /* bytes written, not counting the NUL */
	int err;           /* first error, 0 if none */
	unsigned depth;    /* open containers */
	uint64_t objects;  /* bit d set: the container at depth d+1 is an object */
	bool first;        /* nothing written yet in the innermost container */
	bool want_value;   /* a key was written; its value must follow */
	bool done;         /* the top-level value is complete */
};

void json_w_init(struct json_writer *w, char *buf, size_t size);
int json_w_begin_object(struct json_writer *w);
int json_w_begin_array(struct json_writer *w);
int json_w_end(struct json_writer *w); /* closes the innermost object or array */
int json_w_key(struct json_writer *w, const char *key);
int json_w_key_n(struct json_writer *w, const char *key, size_t len);
int json_w_string(struct json_writer *w, const char *s);
int json_w_string_n(struct json_writer *w, const char *s, size_t len); /* NUL becomes \u0000 */
int json_w_int(struct json_writer *w, int64_t v);
int json_w_uint(struct json_writer *w, uint64_t v);
int json_w_double(struct json_writer *w, double v); /* 17 significant digits */
int json_w_bool(struct json_writer *w, bool v);
int json_w_null(struct json_writer *w);
/* Insert already-serialized JSON as one value, unchecked: only pass output of
 * this writer or a document that json_parse() accepted. */
int json_w_raw(struct json_writer *w, const char *text, size_t len);
/* 0 if one complete value was written (w->len is its length), else the
 * sticky error, or -EINVAL if containers are still open. */
int json_w_finish(struct json_writer *w);

#endif
