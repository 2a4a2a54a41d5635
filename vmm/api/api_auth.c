/* /api/auth/...: first-boot setup, login, logout, the session, password
 * change and API tokens. What the gate (api_auth_gate.c) let through. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "log.h"

#define AUTH_BODY_MAX 4096
#define AUTH_BODY_TOKENS 32
#define AUTH_TOKEN_PREFIX "kvmbox_"
#define AUTH_JSON_MAX 16384

uint64_t api_auth_now_ms(void);

static const char *peer_str(const struct api_who *w, char *buf, size_t size)
{
	static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (!memcmp(w->peer, v4, 12))
		inet_ntop(AF_INET, w->peer + 12, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET6, w->peer, buf, (socklen_t)size);
	return buf;
}

/* A client's string, made safe for one log line: printable ASCII only. */
static const char *log_safe(const char *in, char *out, size_t size)
{
	size_t i = 0;
	for (; in[i] && i + 1 < size; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
	return out;
}

/* The request's JSON object body into d. Only application/json: a
 * cross-site HTML form cannot send that type without asking first (CORS),
 * so login and setup cannot be forged from another page either. */
static int body_json(const struct http_request *req, struct http_response *resp, struct json_doc *d,
		     struct json_token *tok)
{
	if (api_need_json(req, resp))
		return -1;
	struct json_error je;
	char msg[160];
	if (json_parse(d, req->body.p, req->body.len, AUTH_BODY_MAX, tok, AUTH_BODY_TOKENS, &je)) {
		json_error_format(&je, msg, sizeof(msg));
		http_resp_error(resp, 400, "the body is not valid JSON (at most %d bytes): %s", AUTH_BODY_MAX, msg);
		return -1;
	}
	if (json_type(d, 0) != JSON_OBJECT) {
		http_resp_error(resp, 400, "the body must be a JSON object");
		return -1;
	}
	return 0;
}

static int body_str(const struct json_doc *d, const char *key, char *buf, size_t size, struct http_response *resp)
{
	int i = json_get(d, 0, key);
	int r = json_get_string(d, i, buf, size);
	if (r >= 0)
		return 0;
	if (r == -ENOSPC)
		http_resp_error(resp, 422, "\"%s\" is too long (at most %zu bytes)", key, size - 1);
	else if (i < 0)
		http_resp_error(resp, 422, "\"%s\" is missing", key);
	else
		http_resp_error(resp, 422, "\"%s\" must be a string", key);
	return -1;
}

/* Save the store; on failure put back the copy taken before the change, so
 * memory and disk never disagree. */
static int save_or_undo(struct api_auth *au, const struct auth_store *before, struct http_response *resp)
{
	int r = auth_store_save(&au->store);
	if (!r)
		return 0;
	au->store = *before;
	log_error("auth: cannot write %s/" AUTH_STORE_FILE ": %s", au->store.dir, strerror(-r));
	http_resp_error(resp, 500, "cannot save %s/" AUTH_STORE_FILE ": %s; nothing was changed", au->store.dir,
			strerror(-r));
	return -1;
}

static struct auth_store undo; /* one request at a time: see struct api_who */

static void reply_ok(struct http_response *resp, int status, const char *key, const char *value)
{
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, 512)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	json_w_key(&w, key);
	json_w_string(&w, value);
	json_w_end(&w);
	http_resp_json_end(resp, &w, status);
}

int api_auth_new_setup_code(struct api_auth *au)
{
	/* 8 characters from 32 that are hard to confuse on a screen: 40 bits,
	 * and every wrong try counts against the source in the limiter. */
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	uint8_t rnd[8];
	int r = auth_random(rnd, sizeof(rnd));
	if (r)
		return r;
	for (int i = 0, o = 0; i < 8; i++) {
		if (i == 4)
			au->setup_code[o++] = '-';
		au->setup_code[o++] = alphabet[rnd[i] & 31];
	}
	au->setup_code[API_SETUP_CODE_LEN] = '\0';
	return 0;
}

/* 0 if pw is acceptable as a password, else -1 with the 422 in resp. */
static int password_ok(const char *pw, struct http_response *resp)
{
	const char *bad = auth_password_problem(pw);
	if (!bad)
		return 0;
	http_resp_error(resp, 422, "%s", bad);
	return -1;
}

/* Hash pw and store it as user's password, on disk too (or nothing
 * changes). 0, or -1 with resp filled. */
static int store_password(struct api_auth *au, const char *user, const char *pw, struct http_response *resp)
{
	char hash[AUTH_HASH_MAX];
	int r = auth_password_hash(pw, au->iterations, hash, sizeof(hash));
	if (r) {
		http_resp_error(resp, 500, "cannot hash the password: %s", strerror(-r));
		return -1;
	}
	undo = au->store;
	if (auth_store_set_user(&au->store, user, hash)) {
		http_resp_error(resp, 500, "the user table is full");
		return -1;
	}
	return save_or_undo(au, &undo, resp);
}

/* The body's "password" becomes the admin's: checked, hashed, saved (or
 * nothing changes). 0, or -1 with resp filled. */
static int set_admin_password(struct api_auth *au, const struct json_doc *d, struct http_response *resp)
{
	char pw[AUTH_PASSWORD_MAX + 1];
	int rc = -1;
	if (!body_str(d, "password", pw, sizeof(pw), resp) && !password_ok(pw, resp) &&
	    !store_password(au, AUTH_ADMIN, pw, resp)) {
		memset(au->setup_code, 0, sizeof(au->setup_code));
		rc = 0;
	}
	memset(pw, 0, sizeof(pw));
	return rc;
}

static int limited(struct api_auth *au, struct http_response *resp);

void api_auth_setup(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx)
{
	(void)params;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	struct json_token tok[AUTH_BODY_TOKENS];
	struct json_doc d;
	if (auth_store_user(&au->store, AUTH_ADMIN)) {
		http_resp_error(resp, 409, "the admin password is already set; change it with POST /api/auth/password");
		return;
	}
	if (body_json(req, resp, &d, tok))
		return;
	if (!au->who.loopback && !au->who.local) {
		/* From elsewhere: only with the code from the console. */
		char code[API_SETUP_CODE_LEN + 8] = "";
		int ci = json_get(&d, 0, "setup_code");
		if (ci < 0) {
			http_resp_error(resp, 403, "the first admin password can be set from another machine only with "
					"the setup code shown on the appliance's console (\"setup_code\"), or from the "
					"appliance itself");
			return;
		}
		if (limited(au, resp))
			return;
		json_get_string(&d, ci, code, sizeof(code));
		for (char *c = code; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		if (!au->setup_code[0] || strlen(code) != API_SETUP_CODE_LEN ||
		    !auth_ct_eq(code, au->setup_code, API_SETUP_CODE_LEN)) {
			auth_limit_fail(&au->limit, au->who.peer, api_auth_now_ms());
			http_resp_error(resp, 403, "that is not the setup code shown on the appliance's console");
			return;
		}
	}
	if (set_admin_password(au, &d, resp))
		return;
	log_info("auth: admin password set through the API (first boot)");
	reply_ok(resp, 201, "user", AUTH_ADMIN);
}

/* 429 with Retry-After if the source must wait; else 0. */
static int limited(struct api_auth *au, struct http_response *resp)
{
	uint64_t wait = auth_limit_wait(&au->limit, au->who.peer, api_auth_now_ms());
	if (!wait)
		return 0;
	char secs[24];
	snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((wait + 999) / 1000));
	http_resp_error(resp, 429, "too many failed logins from this address; try again in %s s", secs);
	http_resp_header(resp, "Retry-After", secs);
	return 1;
}

/* Check user's password, counting a failure against the source. */
static bool check_password(struct api_auth *au, const char *user, const char *pw)
{
	struct auth_user *u = auth_store_user(&au->store, user);
	/* An unknown user costs the same PBKDF2 run, so the time taken does not
	 * tell which names exist. */
	const char *hash = u ? u->hash : au->store.nusers ? au->store.users[0].hash : NULL;
	bool ok = hash && auth_password_verify(pw, hash) && u;
	char a[INET6_ADDRSTRLEN], name[32];
	if (ok) {
		auth_limit_ok(&au->limit, au->who.peer);
	} else {
		auth_limit_fail(&au->limit, au->who.peer, api_auth_now_ms());
		log_warn("auth: failed password for \"%s\" from %s", log_safe(user, name, sizeof(name)),
			 peer_str(&au->who, a, sizeof(a)));
	}
	return ok;
}

static void set_cookie(struct http_response *resp, const char *value, bool clear)
{
	char c[160];
	snprintf(c, sizeof(c), "kvmbox_session=%s; HttpOnly; Secure; SameSite=Strict; Path=/%s", value,
		 clear ? "; Max-Age=0" : "");
	http_resp_header(resp, "Set-Cookie", c);
}

static void session_json(struct http_response *resp, struct api_auth *au, int status)
{
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, 1024)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	json_w_key(&w, "user");
	json_w_string(&w, au->who.user);
	json_w_key(&w, "via");
	json_w_string(&w, au->who.session ? "session" : au->who.local ? "local" : "token");
	if (au->who.local) {
		/* The local socket: no session, no token. */
	} else if (au->who.session) {
		json_w_key(&w, "csrf");
		json_w_string(&w, au->who.session->csrf);
		json_w_key(&w, "idle_timeout_s");
		json_w_uint(&w, au->sessions.idle_ms / 1000);
		json_w_key(&w, "expires_in_s");
		json_w_uint(&w, (au->who.session->created_ms + au->sessions.life_ms - api_auth_now_ms()) / 1000);
	} else {
		json_w_key(&w, "token_id");
		json_w_string(&w, au->who.token->id);
	}
	json_w_end(&w);
	http_resp_json_end(resp, &w, status);
}

void api_auth_login(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx)
{
	(void)params;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	struct json_token tok[AUTH_BODY_TOKENS];
	struct json_doc d;
	char user[32], pw[AUTH_PASSWORD_MAX + 1], cookie[AUTH_ID_B64], a[INET6_ADDRSTRLEN];
	if (limited(au, resp))
		return;
	if (body_json(req, resp, &d, tok) || body_str(&d, "user", user, sizeof(user), resp) ||
	    body_str(&d, "password", pw, sizeof(pw), resp))
		return;
	if (!auth_store_user(&au->store, AUTH_ADMIN)) {
		http_resp_error(resp, 409, "no admin password is set yet: set one with POST /api/auth/setup from "
				"this machine, or with --admin-hash");
		return;
	}
	bool ok = check_password(au, user, pw);
	memset(pw, 0, sizeof(pw));
	if (!ok) {
		http_resp_error(resp, 401, "wrong user or password");
		return;
	}
	struct auth_session *s = auth_session_new(&au->sessions, user, api_auth_now_ms(), cookie);
	if (!s) {
		http_resp_error(resp, 503, "no randomness for a session id");
		return;
	}
	log_info("auth: %s logged in from %s", user, peer_str(&au->who, a, sizeof(a)));
	au->who.session = s;
	au->who.user = s->user;
	set_cookie(resp, cookie, false);
	session_json(resp, au, 200);
}

void api_auth_logout(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)req;
	(void)params;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	if (!au->who.session) {
		http_resp_error(resp, 400, "an API token is not a session; revoke it with DELETE "
				"/api/auth/tokens/ID");
		return;
	}
	auth_session_end(au->who.session);
	au->who.session = NULL;
	http_resp_static(resp, 204, NULL, NULL, 0);
	set_cookie(resp, "", true);
}

void api_auth_session(const struct http_request *req, const struct http_params *params,
		      struct http_response *resp, void *ctx)
{
	(void)req;
	(void)params;
	session_json(resp, ((struct api_ctx *)ctx)->auth, 200);
}

void api_auth_password(const struct http_request *req, const struct http_params *params,
		       struct http_response *resp, void *ctx)
{
	(void)params;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	struct json_token tok[AUTH_BODY_TOKENS];
	struct json_doc d;
	char cur[AUTH_PASSWORD_MAX + 1], pw[AUTH_PASSWORD_MAX + 1];
	if (limited(au, resp))
		return;
	if (body_json(req, resp, &d, tok) || body_str(&d, "current", cur, sizeof(cur), resp) ||
	    body_str(&d, "new", pw, sizeof(pw), resp))
		goto out;
	if (password_ok(pw, resp))
		goto out;
	char user[32];
	snprintf(user, sizeof(user), "%s", au->who.user);
	if (!check_password(au, user, cur)) {
		http_resp_error(resp, 403, "the current password is wrong");
		goto out;
	}
	if (store_password(au, user, pw, resp))
		goto out;
	/* Whoever had the old password may hold a session: end them all. */
	auth_sessions_end_user(&au->sessions, user);
	log_info("auth: password of %s changed; its sessions ended", user);
	reply_ok(resp, 200, "user", user);
	set_cookie(resp, "", true);
out:
	memset(cur, 0, sizeof(cur));
	memset(pw, 0, sizeof(pw));
}

/* Set or reset the admin password from the appliance itself (the text
 * console): the way back in when the password is lost, so it needs no
 * current password, only the local socket. */
void api_auth_reset(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx)
{
	(void)params;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	struct json_token tok[AUTH_BODY_TOKENS];
	struct json_doc d;
	if (!au->who.local) {
		http_resp_error(resp, 403, "the admin password can be reset only on the appliance's own console "
				"(the local socket); use POST /api/auth/password to change it");
		return;
	}
	if (body_json(req, resp, &d, tok) || set_admin_password(au, &d, resp))
		return;
	/* Whoever knew the old password may hold a session: end them all. */
	auth_sessions_end_user(&au->sessions, AUTH_ADMIN);
	log_info("auth: admin password set on the appliance's console; sessions ended");
	reply_ok(resp, 200, "user", AUTH_ADMIN);
}

void api_auth_tokens_list(const struct http_request *req, const struct http_params *params,
			  struct http_response *resp, void *ctx)
{
	(void)req;
	(void)params;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, AUTH_JSON_MAX)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	json_w_key(&w, "tokens");
	json_w_begin_array(&w);
	for (unsigned i = 0; i < au->store.ntokens; i++) {
		const struct auth_token *t = &au->store.tokens[i];
		json_w_begin_object(&w);
		json_w_key(&w, "id");
		json_w_string(&w, t->id);
		json_w_key(&w, "name");
		json_w_string(&w, t->name);
		json_w_key(&w, "user");
		json_w_string(&w, t->user);
		json_w_key(&w, "created");
		json_w_int(&w, t->created);
		json_w_end(&w);
	}
	json_w_end(&w);
	json_w_end(&w);
	http_resp_json_end(resp, &w, 200);
}

void api_auth_tokens_create(const struct http_request *req, const struct http_params *params,
			    struct http_response *resp, void *ctx)
{
	(void)params;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	struct json_token tok[AUTH_BODY_TOKENS];
	struct json_doc d;
	struct auth_token t = { 0 };
	uint8_t raw[32], id[8];
	char secret[sizeof(AUTH_TOKEN_PREFIX) + AUTH_ID_B64];
	if (body_json(req, resp, &d, tok) || body_str(&d, "name", t.name, sizeof(t.name), resp))
		return;
	if (!t.name[0]) {
		http_resp_error(resp, 422, "\"name\" must say what the token is for");
		return;
	}
	if (au->store.ntokens == AUTH_TOKENS_MAX) {
		http_resp_error(resp, 409, "there are already %d tokens; revoke one first", AUTH_TOKENS_MAX);
		return;
	}
	if (auth_random(raw, sizeof(raw)) || auth_random(id, sizeof(id))) {
		http_resp_error(resp, 503, "no randomness for a token");
		return;
	}
	memcpy(secret, AUTH_TOKEN_PREFIX, sizeof(AUTH_TOKEN_PREFIX) - 1);
	auth_b64_encode(raw, sizeof(raw), secret + sizeof(AUTH_TOKEN_PREFIX) - 1, AUTH_ID_B64, true);
	memset(raw, 0, sizeof(raw));
	auth_sha256(secret, strlen(secret), t.sha256);
	auth_hex(id, sizeof(id), t.id);
	snprintf(t.user, sizeof(t.user), "%s", au->who.user);
	t.created = (int64_t)time(NULL);
	undo = au->store;
	au->store.tokens[au->store.ntokens++] = t;
	if (save_or_undo(au, &undo, resp))
		return;
	char name[AUTH_NAME_MAX];
	log_info("auth: %s made API token %s (\"%s\")", t.user, t.id, log_safe(t.name, name, sizeof(name)));

	struct json_writer w;
	if (http_resp_json_begin(resp, &w, 1024)) {
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	json_w_begin_object(&w);
	json_w_key(&w, "id");
	json_w_string(&w, t.id);
	json_w_key(&w, "name");
	json_w_string(&w, t.name);
	json_w_key(&w, "user");
	json_w_string(&w, t.user);
	json_w_key(&w, "created");
	json_w_int(&w, t.created);
	json_w_key(&w, "token");
	json_w_string(&w, secret);
	json_w_end(&w);
	http_resp_json_end(resp, &w, 201);
	memset(secret, 0, sizeof(secret));
}

void api_auth_tokens_delete(const struct http_request *req, const struct http_params *params,
			    struct http_response *resp, void *ctx)
{
	(void)req;
	struct api_auth *au = ((struct api_ctx *)ctx)->auth;
	const struct http_str *id = http_param(params, "id");
	struct auth_token *t = auth_store_token_by_id(&au->store, id->p, id->len);
	if (!t) {
		http_resp_error(resp, 404, "no API token with id %.*s", (int)(id->len > 64 ? 64 : id->len), id->p);
		return;
	}
	/* The request may be authenticated by this very token: forget the
	 * pointer before the table moves. */
	au->who.token = NULL;
	char tid[17];
	snprintf(tid, sizeof(tid), "%s", t->id);
	undo = au->store;
	auth_store_token_remove(&au->store, t);
	if (save_or_undo(au, &undo, resp))
		return;
	log_info("auth: API token %s revoked", tid);
	http_resp_static(resp, 204, NULL, NULL, 0);
}
