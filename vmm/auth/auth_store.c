/* The user and token store; see auth_store.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_store.h"
#include "json.h"
#include "supervisor/state.h"

#define STORE_MAX_TOKENS 2048 /* JSON tokens: a full store needs about 300 */

static int fail(char *why, size_t size, int err, const char *fmt, const char *arg)
{
	snprintf(why, size, fmt, arg);
	return err;
}

static int get_str(const struct json_doc *d, int obj, const char *key, char *out, size_t size)
{
	return json_get_string(d, json_get(d, obj, key), out, size) < 0 ? -EINVAL : 0;
}

static bool hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return false;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return true;
}

static bool id_ok(const char *s)
{
	uint8_t b[8];
	return hex_decode(s, b, sizeof(b));
}

int auth_store_parse(struct auth_store *st, const char *text, size_t len, char *why, size_t whysize)
{
	static struct json_token tok[STORE_MAX_TOKENS]; /* one thread; too big for the stack */
	struct json_doc d;
	struct json_error je;
	char msg[160];
	st->nusers = st->ntokens = 0;
	if (json_parse(&d, text, len, AUTH_STORE_MAX_BYTES, tok, STORE_MAX_TOKENS, &je)) {
		json_error_format(&je, msg, sizeof(msg));
		return fail(why, whysize, -EINVAL, "not valid JSON: %s", msg);
	}
	int64_t version;
	if (json_get_int64(&d, json_get(&d, 0, "version"), &version) || version < 1)
		return fail(why, whysize, -EINVAL, "%s", "no valid \"version\" (a positive integer)");
	if (version > AUTH_STORE_VERSION) {
		snprintf(msg, sizeof(msg), "%lld", (long long)version);
		snprintf(why, whysize, "version %s is newer than this kvmbox understands (%d); "
			 "use a newer kvmbox or restore users.json.1", msg, AUTH_STORE_VERSION);
		return -EPROTO;
	}
	struct json_iter it;
	int k, v;
	int users = json_get(&d, 0, "users");
	if (json_type(&d, users) != JSON_ARRAY)
		return fail(why, whysize, -EINVAL, "%s", "\"users\" must be an array");
	json_iter_init(&it, &d, users);
	while (json_iter_next(&it, &k, &v)) {
		if (st->nusers == AUTH_USERS_MAX)
			return fail(why, whysize, -EINVAL, "more than %s users", "4");
		struct auth_user *u = &st->users[st->nusers];
		struct auth_hash h;
		if (get_str(&d, v, "name", u->name, sizeof(u->name)) || !u->name[0])
			return fail(why, whysize, -EINVAL, "%s", "a user without a valid \"name\"");
		if (get_str(&d, v, "hash", u->hash, sizeof(u->hash)) || auth_hash_parse(u->hash, &h))
			return fail(why, whysize, -EINVAL, "user %s: \"hash\" is not pbkdf2-sha256$ITER$SALT$HASH",
				    u->name);
		for (unsigned i = 0; i < st->nusers; i++)
			if (!strcmp(st->users[i].name, u->name))
				return fail(why, whysize, -EINVAL, "user %s is listed twice", u->name);
		st->nusers++;
	}
	int tokens = json_get(&d, 0, "tokens");
	if (json_type(&d, tokens) != JSON_ARRAY)
		return fail(why, whysize, -EINVAL, "%s", "\"tokens\" must be an array");
	json_iter_init(&it, &d, tokens);
	while (json_iter_next(&it, &k, &v)) {
		if (st->ntokens == AUTH_TOKENS_MAX)
			return fail(why, whysize, -EINVAL, "more than %s tokens", "32");
		struct auth_token *t = &st->tokens[st->ntokens];
		char hex[65];
		if (get_str(&d, v, "id", t->id, sizeof(t->id)) || !id_ok(t->id) ||
		    get_str(&d, v, "name", t->name, sizeof(t->name)) ||
		    get_str(&d, v, "user", t->user, sizeof(t->user)) ||
		    get_str(&d, v, "sha256", hex, sizeof(hex)) || !hex_decode(hex, t->sha256, 32) ||
		    json_get_int64(&d, json_get(&d, v, "created"), &t->created))
			return fail(why, whysize, -EINVAL, "%s",
				    "a token needs \"id\" (16 hex digits), \"name\", \"user\", "
				    "\"sha256\" (64 hex digits) and \"created\"");
		st->ntokens++;
	}
	return 0;
}

int auth_store_load(struct auth_store *st, const char *dir, char *why, size_t whysize)
{
	char path[4200];
	char *text;
	size_t len;
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	st->nusers = st->ntokens = 0;
	snprintf(path, sizeof(path), "%s/" AUTH_STORE_FILE, dir);
	int r = state_read_file(path, AUTH_STORE_MAX_BYTES, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r) {
		snprintf(why, whysize, "%s: %s", path, r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
		return r;
	}
	char inner[400];
	r = auth_store_parse(st, text, len, inner, sizeof(inner));
	free(text);
	if (r)
		snprintf(why, whysize, "%s: %s", path, inner);
	return r;
}

int auth_store_save(const struct auth_store *st)
{
	static char buf[AUTH_STORE_MAX_BYTES];
	struct json_writer w;
	json_w_init(&w, buf, sizeof(buf));
	json_w_begin_object(&w);
	json_w_key(&w, "version");
	json_w_int(&w, AUTH_STORE_VERSION);
	json_w_key(&w, "users");
	json_w_begin_array(&w);
	for (unsigned i = 0; i < st->nusers; i++) {
		json_w_begin_object(&w);
		json_w_key(&w, "name");
		json_w_string(&w, st->users[i].name);
		json_w_key(&w, "hash");
		json_w_string(&w, st->users[i].hash);
		json_w_end(&w);
	}
	json_w_end(&w);
	json_w_key(&w, "tokens");
	json_w_begin_array(&w);
	for (unsigned i = 0; i < st->ntokens; i++) {
		const struct auth_token *t = &st->tokens[i];
		char hex[65];
		auth_hex(t->sha256, 32, hex);
		json_w_begin_object(&w);
		json_w_key(&w, "id");
		json_w_string(&w, t->id);
		json_w_key(&w, "name");
		json_w_string(&w, t->name);
		json_w_key(&w, "user");
		json_w_string(&w, t->user);
		json_w_key(&w, "sha256");
		json_w_string(&w, hex);
		json_w_key(&w, "created");
		json_w_int(&w, t->created);
		json_w_end(&w);
	}
	json_w_end(&w);
	json_w_end(&w);
	int r = json_w_finish(&w);
	if (r)
		return r;
	buf[w.len++] = '\n';
	if ((r = state_mkdirs(st->dir, 0700)))
		return r;
	return state_write_file(st->dir, AUTH_STORE_FILE, buf, w.len, 0600);
}

struct auth_user *auth_store_user(struct auth_store *st, const char *name)
{
	for (unsigned i = 0; i < st->nusers; i++)
		if (!strcmp(st->users[i].name, name))
			return &st->users[i];
	return NULL;
}

int auth_store_set_user(struct auth_store *st, const char *name, const char *hash)
{
	struct auth_user *u = auth_store_user(st, name);
	if (!u) {
		if (st->nusers == AUTH_USERS_MAX)
			return -ENOSPC;
		u = &st->users[st->nusers++];
		snprintf(u->name, sizeof(u->name), "%s", name);
	}
	snprintf(u->hash, sizeof(u->hash), "%s", hash);
	return 0;
}

struct auth_token *auth_store_token_by_hash(struct auth_store *st, const uint8_t h[32])
{
	struct auth_token *found = NULL;
	for (unsigned i = 0; i < st->ntokens; i++)
		if (auth_ct_eq(st->tokens[i].sha256, h, 32))
			found = &st->tokens[i];
	return found;
}

struct auth_token *auth_store_token_by_id(struct auth_store *st, const char *id, size_t len)
{
	for (unsigned i = 0; i < st->ntokens; i++)
		if (strlen(st->tokens[i].id) == len && !memcmp(st->tokens[i].id, id, len))
			return &st->tokens[i];
	return NULL;
}

void auth_store_token_remove(struct auth_store *st, struct auth_token *t)
{
	size_t i = (size_t)(t - st->tokens);
	memmove(t, t + 1, (st->ntokens - i - 1) * sizeof(*t));
	st->ntokens--;
	memset(&st->tokens[st->ntokens], 0, sizeof(*t));
}
