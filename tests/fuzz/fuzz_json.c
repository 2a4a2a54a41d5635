/* libFuzzer target for vmm/json.c. Any input: the parser must either accept
 * it or fail with a position and a printable message. On success every token
 * goes through every accessor, the document is written back out with the
 * writer and parsed again, and the two must agree (same shape, same decoded
 * strings, same integers), and writing the copy must give the same bytes.
 * The input is also fed to the writer as one raw string: valid UTF-8 must
 * round-trip exactly, anything else must be refused with -EILSEQ. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define NTOK 4096
static struct json_token tok_a[NTOK], tok_b[NTOK];

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static void check_error(const struct json_error *err, int rc, size_t size)
{
	ASSERT(rc == -EINVAL || rc == -E2BIG);
	ASSERT(err->line >= 1 && err->col >= 1 && err->offset <= size);
	size_t n = strnlen(err->msg, sizeof(err->msg));
	ASSERT(n > 0 && n < sizeof(err->msg));
	/* the message ends up in API responses: the writer must take it */
	char buf[sizeof(err->msg) * 6 + 3];
	struct json_writer w;
	json_w_init(&w, buf, sizeof(buf));
	ASSERT(json_w_string(&w, err->msg) == 0);
}

/* Every accessor on every token; checks that they agree with each other. */
static void walk(const struct json_doc *doc, char *scratch, size_t scratch_size)
{
	for (int i = 0; i < doc->ntok; i++) {
		const struct json_token *t = &doc->tok[i];
		ASSERT(t->start <= t->end && t->end <= doc->len);
		ASSERT(t->next > (uint32_t)i && t->next <= (uint32_t)doc->ntok);
		enum json_type type = json_type(doc, i);
		ASSERT(type >= JSON_OBJECT && type <= JSON_NULL);
		ASSERT(json_type_name(type) != NULL);

		int n = json_get_strn(doc, i, scratch, scratch_size);
		int s = json_get_string(doc, i, scratch, scratch_size);
		ASSERT((type == JSON_STRING) == (n >= 0));
		if (n >= 0) {
			ASSERT((size_t)n <= t->end - t->start);
			ASSERT(s == n || (s == -EILSEQ && memchr(scratch, 0, 1)));
			char tiny[3];
			int m = json_get_string(doc, i, tiny, sizeof(tiny));
			ASSERT(m == s || (m == -ENOSPC && s > 2) ||
			       (m == -EILSEQ && s == -EILSEQ) || (m == -ENOSPC && s == -EILSEQ));
			if (s >= 0) {
				json_get_string(doc, i, scratch, scratch_size);
				ASSERT(json_streq(doc, i, scratch));
			}
		}
		int64_t i64;
		uint64_t u64;
		double d;
		bool b;
		int ri = json_get_int64(doc, i, &i64);
		int ru = json_get_uint64(doc, i, &u64);
		int rd = json_get_double(doc, i, &d);
		if (type != JSON_NUMBER) {
			ASSERT(ri == -EINVAL && ru == -EINVAL && rd == -EINVAL);
		} else {
			ASSERT(rd == 0 || rd == -ERANGE);
			if (!(t->flags & JSON_TF_INT))
				ASSERT(ri == -EDOM && ru == -EDOM);
			if (ri == 0 && ru == 0)
				ASSERT(i64 >= 0 && (uint64_t)i64 == u64);
			if (ri == 0 && i64 > 0)
				ASSERT(ru == 0);
		}
		ASSERT((json_get_bool(doc, i, &b) == 0) == (type == JSON_BOOL));

		int len = json_array_len(doc, i);
		ASSERT((len >= 0) == (type == JSON_ARRAY));
		struct json_iter it;
		int k, v, count = 0;
		int ri2 = json_iter_init(&it, doc, i);
		ASSERT((ri2 == 0) == (type == JSON_ARRAY || type == JSON_OBJECT));
		while (json_iter_next(&it, &k, &v)) {
			ASSERT(v > i && v < doc->ntok);
			if (type == JSON_ARRAY) {
				ASSERT(k == -1 && json_array_at(doc, i, count) == v);
			} else {
				ASSERT(k == v - 1 && json_type(doc, k) == JSON_STRING);
				/* keys are unique, so a lookup by the decoded key
				 * must find this very member */
				if (json_get_string(doc, k, scratch, scratch_size) >= 0)
					ASSERT(json_get(doc, i, scratch) == v);
			}
			count++;
		}
		if (type == JSON_ARRAY || type == JSON_OBJECT)
			ASSERT((uint32_t)count == t->count);
		if (type == JSON_ARRAY)
			ASSERT(json_array_at(doc, i, count) == -1 &&
			       json_array_at(doc, i, -1) == -1);
		ASSERT(json_get(doc, i, "\xff") == -1);
	}
	ASSERT(json_type(doc, doc->ntok) == JSON_NONE && json_type(doc, -1) == JSON_NONE);
}

/* Write token i and its subtree; returns the index after it. */
static int emit(const struct json_doc *doc, int i, struct json_writer *w, char *scratch,
		size_t scratch_size)
{
	const struct json_token *t = &doc->tok[i];
	int n;
	int64_t i64;
	uint64_t u64;
	bool b;

	switch (t->type) {
	case JSON_OBJECT:
	case JSON_ARRAY: {
		t->type == JSON_OBJECT ? json_w_begin_object(w) : json_w_begin_array(w);
		struct json_iter it;
		int k, v;
		json_iter_init(&it, doc, i);
		while (json_iter_next(&it, &k, &v)) {
			if (k >= 0) {
				n = json_get_strn(doc, k, scratch, scratch_size);
				ASSERT(n >= 0);
				json_w_key_n(w, scratch, n);
			}
			emit(doc, v, w, scratch, scratch_size);
		}
		json_w_end(w);
		break;
	}
	case JSON_STRING:
		n = json_get_strn(doc, i, scratch, scratch_size);
		ASSERT(n >= 0);
		json_w_string_n(w, scratch, n);
		break;
	case JSON_NUMBER:
		if (json_get_int64(doc, i, &i64) == 0)
			json_w_int(w, i64);
		else if (json_get_uint64(doc, i, &u64) == 0)
			json_w_uint(w, u64);
		else
			json_w_raw(w, doc->text + t->start, t->end - t->start);
		break;
	case JSON_BOOL:
		ASSERT(json_get_bool(doc, i, &b) == 0);
		json_w_bool(w, b);
		break;
	default: json_w_null(w);
	}
	return t->next;
}

/* Same shape, same decoded strings, same numbers. */
static void compare(const struct json_doc *a, const struct json_doc *b, char *s1, char *s2,
		    size_t size)
{
	ASSERT(a->ntok == b->ntok);
	for (int i = 0; i < a->ntok; i++) {
		const struct json_token *ta = &a->tok[i], *tb = &b->tok[i];
		ASSERT(ta->type == tb->type && ta->next == tb->next);
		if (ta->type == JSON_OBJECT || ta->type == JSON_ARRAY)
			ASSERT(ta->count == tb->count);
		if (ta->type == JSON_STRING) {
			int n1 = json_get_strn(a, i, s1, size), n2 = json_get_strn(b, i, s2, size);
			ASSERT(n1 >= 0 && n1 == n2 && memcmp(s1, s2, n1) == 0);
			ASSERT(ta->hash == tb->hash);
		}
		if (ta->type == JSON_NUMBER) {
			int64_t x, y;
			uint64_t u, v;
			int r1 = json_get_int64(a, i, &x), r2 = json_get_int64(b, i, &y);
			ASSERT(r1 == r2 && (r1 || x == y));
			r1 = json_get_uint64(a, i, &u), r2 = json_get_uint64(b, i, &v);
			ASSERT(r1 == r2 && (r1 || u == v));
		}
	}
}

static void round_trip(const struct json_doc *doc, const uint8_t *data, size_t size)
{
	size_t scratch_size = size + 1, out_size = 2 * size + 64;
	char *scratch = malloc(scratch_size), *scratch2 = malloc(scratch_size);
	char *out = malloc(out_size), *out2 = malloc(out_size);
	ASSERT(scratch && scratch2 && out && out2);

	walk(doc, scratch, scratch_size);

	struct json_writer w;
	json_w_init(&w, out, out_size);
	emit(doc, 0, &w, scratch, scratch_size);
	ASSERT(json_w_finish(&w) == 0 && strlen(out) == w.len);

	struct json_doc doc2;
	struct json_error err;
	int rc = json_parse(&doc2, out, w.len, out_size, tok_b, NTOK, &err);
	ASSERT(rc == 0);
	compare(doc, &doc2, scratch, scratch2, scratch_size);

	/* writing the copy gives the same bytes: the writer's output is a
	 * fixed point */
	struct json_writer w2;
	json_w_init(&w2, out2, out_size);
	emit(&doc2, 0, &w2, scratch, scratch_size);
	ASSERT(json_w_finish(&w2) == 0 && w2.len == w.len && memcmp(out, out2, w.len) == 0);

	/* too small a buffer: -ENOSPC, a NUL-terminated prefix, no overflow
	 * (the malloc'd size is exact, so ASan sees any stray byte) */
	size_t small = (data[0] * w.len) / 256 + 1;
	if (small <= w.len) {
		char *buf = malloc(small);
		ASSERT(buf);
		json_w_init(&w2, buf, small);
		emit(doc, 0, &w2, scratch, scratch_size);
		ASSERT(json_w_finish(&w2) == -ENOSPC && w2.len < small && strlen(buf) == w2.len &&
		       memcmp(buf, out, w2.len) == 0);
		free(buf);
	}
	(void)data;
	free(scratch);
	free(scratch2);
	free(out);
	free(out2);
}

/* The raw input as one string value. */
static void writer_string(const uint8_t *data, size_t size)
{
	size_t out_size = 6 * size + 3;
	char *out = malloc(out_size), *back = malloc(size + 1);
	ASSERT(out && back);
	struct json_writer w;
	json_w_init(&w, out, out_size);
	int rc = json_w_string_n(&w, (const char *)data, size);
	struct json_token t[1];
	struct json_doc doc;
	if (rc == 0) {
		ASSERT(json_w_finish(&w) == 0);
		ASSERT(json_parse(&doc, out, w.len, out_size, t, 1, NULL) == 0);
		ASSERT(json_get_strn(&doc, 0, back, size + 1) == (int)size);
		ASSERT(memcmp(back, data, size) == 0);
	} else {
		ASSERT(rc == -EILSEQ && w.len == 0);
		/* then the parser must refuse the same bytes in quotes */
		char *q = malloc(size + 2);
		ASSERT(q);
		q[0] = '"';
		memcpy(q + 1, data, size);
		q[size + 1] = '"';
		ASSERT(json_parse(&doc, q, size + 2, size + 2, t, 1, NULL) == -EINVAL);
		free(q);
	}
	free(out);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc doc;
	struct json_error err;
	int rc = json_parse(&doc, (const char *)data, size, 1 << 20, tok_a, NTOK, &err);
	if (rc) {
		check_error(&err, rc, size);
	} else {
		/* the limits are exact: one token or one byte fewer fails */
		struct json_doc tmp;
		ASSERT(json_parse(&tmp, (const char *)data, size, size, tok_b, doc.ntok, &err) ==
		       0);
		ASSERT(json_parse(&tmp, (const char *)data, size, size, tok_b, doc.ntok - 1,
				  &err) == -E2BIG);
		check_error(&err, -E2BIG, size);
		ASSERT(json_parse(&tmp, (const char *)data, size, size - 1, tok_b, NTOK, &err) ==
		       -E2BIG);
		check_error(&err, -E2BIG, size);
		round_trip(&doc, data, size);
	}
	writer_string(data, size);
	return 0;
}
