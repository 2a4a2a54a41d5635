/* kvmbox ctl: replies as text for people (--json prints them as they came). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

#define PRINT_STR_MAX 4096
#define TABLE_COLS 12
#define TABLE_ROWS 4096

int ctl_json_parse(struct ctl_json *j, const char *text, size_t len)
{
	/* A token per two bytes is the most JSON can need, within the cap. */
	size_t ntok = len / 2 + 2;
	if (ntok > JSON_MAX_TOKENS)
		ntok = JSON_MAX_TOKENS;
	j->tok = calloc(ntok, sizeof(*j->tok));
	if (!j->tok)
		return -ENOMEM;
	struct json_error je;
	int r = json_parse(&j->d, text ? text : "", len, JSON_MAX_INPUT, j->tok, ntok, &je);
	if (r) {
		char msg[160];
		json_error_format(&je, msg, sizeof(msg));
		fprintf(stderr, "kvmbox ctl: the reply is not the JSON expected: %s\n", msg);
		free(j->tok);
		j->tok = NULL;
	}
	return r;
}

void ctl_json_free(struct ctl_json *j)
{
	free(j->tok);
	j->tok = NULL;
}

/* Scalar i as text; NULL for objects and arrays. */
static const char *scalar(const struct json_doc *d, int i, char *buf, size_t size)
{
	switch (json_type(d, i)) {
	case JSON_STRING:
		if (json_get_strn(d, i, buf, size) < 0)
			snprintf(buf, size, "(too long)");
		for (char *p = buf; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?'; /* the terminal is not the server's to control */
		return buf;
	case JSON_NUMBER:
	case JSON_BOOL: {
		size_t n = d->tok[i].end - d->tok[i].start;
		if (d->tok[i].type == JSON_BOOL)
			return d->text[d->tok[i].start] == 't' ? "yes" : "no";
		snprintf(buf, size, "%.*s", (int)n, d->text + d->tok[i].start);
		return buf;
	}
	case JSON_NULL:
		return "-";
	default:
		return NULL;
	}
}

const char *ctl_jtext(const struct json_doc *d, int obj, const char *key, char *buf, size_t size)
{
	int i = key ? json_get(d, obj, key) : obj;
	const char *s = i >= 0 ? scalar(d, i, buf, size) : NULL;
	return s && *s ? s : "-";
}

void ctl_print_value(const struct json_doc *d, int i, int indent)
{
	static char buf[PRINT_STR_MAX];
	struct json_iter it;
	int k, v;
	enum json_type t = json_type(d, i);
	if (t != JSON_OBJECT && t != JSON_ARRAY) {
		printf("%*s%s\n", indent, "", scalar(d, i, buf, sizeof(buf)));
		return;
	}
	json_iter_init(&it, d, i);
	while (json_iter_next(&it, &k, &v)) {
		enum json_type vt = json_type(d, v);
		bool nested = vt == JSON_OBJECT || vt == JSON_ARRAY;
		if (k >= 0) {
			char key[128];
			if (json_get_string(d, k, key, sizeof(key)) < 0)
				snprintf(key, sizeof(key), "?");
			if (nested && !d->tok[v].count) {
				printf("%*s%s: %s\n", indent, "", key, vt == JSON_OBJECT ? "{}" : "[]");
				continue;
			}
			if (nested)
				printf("%*s%s:\n", indent, "", key);
			else
				printf("%*s%-20s %s\n", indent, "", key, scalar(d, v, buf, sizeof(buf)));
		} else if (!nested) {
			printf("%*s- %s\n", indent, "", scalar(d, v, buf, sizeof(buf)));
			continue;
		} else {
			printf("%*s-\n", indent, "");
		}
		if (nested)
			ctl_print_value(d, v, indent + 2);
	}
}

void ctl_print_table(const struct json_doc *d, int arr, const char *const *cols, const char *const *heads)
{
	const char *names[TABLE_COLS];
	char own[TABLE_COLS][64];
	int ncol = 0, nrow = json_array_len(d, arr);
	if (nrow <= 0) {
		printf("(none)\n");
		return;
	}
	if (nrow > TABLE_ROWS)
		nrow = TABLE_ROWS;
	if (cols) {
		for (; cols[ncol] && ncol < TABLE_COLS; ncol++)
			names[ncol] = cols[ncol];
	} else {
		struct json_iter it;
		int k, v;
		json_iter_init(&it, d, json_array_at(d, arr, 0));
		while (json_iter_next(&it, &k, &v) && ncol < TABLE_COLS) {
			enum json_type vt = json_type(d, v);
			if (k < 0 || vt == JSON_OBJECT || vt == JSON_ARRAY ||
			    json_get_string(d, k, own[ncol], sizeof(own[ncol])) < 0)
				continue;
			names[ncol] = own[ncol];
			ncol++;
		}
	}
	/* Two passes: the widths, then the rows. */
	size_t width[TABLE_COLS];
	char buf[256];
	for (int c = 0; c < ncol; c++)
		width[c] = strlen(heads ? heads[c] : names[c]);
	for (int r = 0; r < nrow; r++)
		for (int c = 0; c < ncol; c++) {
			size_t n = strlen(ctl_jtext(d, json_array_at(d, arr, r), names[c], buf, sizeof(buf)));
			if (n > width[c])
				width[c] = n;
		}
	for (int c = 0; c < ncol; c++) {
		char h[64];
		snprintf(h, sizeof(h), "%s", heads ? heads[c] : names[c]);
		if (!heads)
			for (char *p = h; *p; p++)
				*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		printf("%-*s%s", c + 1 < ncol ? (int)width[c] : 0, h, c + 1 < ncol ? "  " : "\n");
	}
	for (int r = 0; r < nrow; r++) {
		int row = json_array_at(d, arr, r);
		for (int c = 0; c < ncol; c++)
			printf("%-*s%s", c + 1 < ncol ? (int)width[c] : 0, ctl_jtext(d, row, names[c], buf, sizeof(buf)),
			       c + 1 < ncol ? "  " : "\n");
	}
}

void ctl_print_raw(const struct ctl_http_resp *r)
{
	if (!r->body_len)
		return;
	fwrite(r->body, 1, r->body_len, stdout);
	if (r->body[r->body_len - 1] != '\n')
		putchar('\n');
}

void ctl_fmt_bytes(uint64_t n, char *buf, size_t size)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, size, "%" PRIu64 " B", n);
	else
		snprintf(buf, size, "%.1f %s", v, unit[u]);
}

void ctl_fmt_duration(double s, char *buf, size_t size)
{
	uint64_t t = s > 0 ? (uint64_t)s : 0;
	if (t >= 86400)
		snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", t / 86400, t / 3600 % 24, t / 60 % 60);
	else if (t >= 3600)
		snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m", t / 3600, t / 60 % 60);
	else if (t >= 60)
		snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", t / 60, t % 60);
	else
		snprintf(buf, size, "%.1fs", s > 0 ? s : 0);
}
