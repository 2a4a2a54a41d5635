/* kvmbox ctl: login (a session, then an API token made with it and
 * stored), passwd, and the API tokens. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define PASSWORD_MAX 257 /* the server takes 8 to 256 bytes */

/* A small JSON object of string members: keys and values alternate, NULL
 * ends. 0 or -ENOSPC. */
static int json_obj(char *buf, size_t size, ...)
{
	struct json_writer w;
	va_list ap;
	json_w_init(&w, buf, size);
	json_w_begin_object(&w);
	va_start(ap, size);
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		json_w_key(&w, k);
		json_w_string(&w, va_arg(ap, const char *));
	}
	va_end(ap);
	json_w_end(&w);
	return json_w_finish(&w);
}

static int secret(struct ctl *c, const char *prompt, char *buf)
{
	int r = ctl_read_secret(prompt, c->password_stdin, buf, PASSWORD_MAX);
	if (r == -ENOTTY)
		return ctl_usage_error("no terminal to ask for the password on; use --password-stdin");
	if (r == -E2BIG)
		return ctl_usage_error("the password is longer than 256 bytes");
	if (r)
		return ctl_usage_error("no password given");
	return 0;
}

static int post_json(struct ctl *c, const char *path, const char *body, bool no_auth, struct ctl_http_resp *resp)
{
	struct ctl_call q = {
		.method = "POST",
		.path = path,
		.ctype = "application/json",
		.body = body,
		.body_len = strlen(body),
		.upload_fd = -1,
		.no_auth = no_auth,
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

/* The session cookie from the login reply, "kvmbox_session=...". */
static int take_cookie(struct ctl *c, const struct ctl_http_resp *resp)
{
	const char *v;
	int pos = -1;
	while ((v = ctl_http_header_next(resp, "Set-Cookie", &pos))) {
		size_t n = strcspn(v, ";");
		if (!strncmp(v, "kvmbox_session=", 15) && n > 15 && n < sizeof(c->cookie)) {
			snprintf(c->cookie, sizeof(c->cookie), "%.*s", (int)n, v);
			return 0;
		}
	}
	return -ENOENT;
}

int ctl_cmd_login(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage_error("usage: kvmbox ctl login [--user NAME] [--password-stdin]");
	int r = ctl_server(c);
	if (r)
		return r;
	/* Log in with the password alone, whatever token is around. */
	c->token[0] = '\0';
	c->creds_ready = true;
	char user[64] = "admin", pw[PASSWORD_MAX], prompt[400], body[1024];
	if (c->user)
		snprintf(user, sizeof(user), "%s", c->user);
	else if (!c->password_stdin && !ctl_read_line_tty("user [admin]: ", user, sizeof(user)) && !user[0])
		snprintf(user, sizeof(user), "admin");
	snprintf(prompt, sizeof(prompt), "password for %s at %s: ", user, c->url);
	r = secret(c, prompt, pw);
	if (r)
		return r;
	r = json_obj(body, sizeof(body), "user", user, "password", pw, NULL);
	memset(pw, 0, sizeof(pw));
	if (r)
		return ctl_usage_error("the user name or password is too long");
	static struct ctl_http_resp resp;
	r = post_json(c, "/api/auth/login", body, true, &resp);
	memset(body, 0, sizeof(body));
	if (r)
		return r;
	struct ctl_json j;
	if (take_cookie(c, &resp) || ctl_json_parse(&j, resp.body, resp.body_len)) {
		ctl_http_free(&resp);
		fprintf(stderr, "kvmbox ctl: the login reply has no session cookie or no JSON\n");
		return CTL_EXIT_API;
	}
	json_get_string(&j.d, json_get(&j.d, 0, "csrf"), c->csrf, sizeof(c->csrf));
	ctl_json_free(&j);
	ctl_http_free(&resp);

	char host[64] = "", name[64];
	gethostname(host, sizeof(host) - 1);
	snprintf(name, sizeof(name), "kvmbox ctl on %.40s", host[0] ? host : "a client");
	json_obj(body, sizeof(body), "name", name, NULL);
	r = post_json(c, "/api/auth/tokens", body, false, &resp);
	if (!r && ctl_json_parse(&j, resp.body, resp.body_len)) {
		ctl_http_free(&resp);
		r = CTL_EXIT_API;
	}
	char id[64] = "";
	if (!r) {
		json_get_string(&j.d, json_get(&j.d, 0, "token"), c->token, sizeof(c->token));
		json_get_string(&j.d, json_get(&j.d, 0, "id"), id, sizeof(id));
		ctl_json_free(&j);
		ctl_http_free(&resp);
	}
	/* The session was only the way to the token. */
	char saved[CTL_TOKEN_MAX];
	snprintf(saved, sizeof(saved), "%s", c->token);
	c->token[0] = '\0';
	if (!post_json(c, "/api/auth/logout", "{}", false, &resp))
		ctl_http_free(&resp);
	c->cookie[0] = c->csrf[0] = '\0';
	if (r)
		return r;
	if (!saved[0]) {
		fprintf(stderr, "kvmbox ctl: the token reply holds no token\n");
		return CTL_EXIT_API;
	}
	char file[512];
	r = ctl_config_path(file, sizeof(file), "token");
	if (!r)
		r = ctl_kv_put(file, c->url, saved);
	memset(saved, 0, sizeof(saved));
	if (r) {
		fprintf(stderr, "kvmbox ctl: logged in, but cannot store the token in %s: %s; revoke token %s\n",
			file, strerror(-r), id);
		return CTL_EXIT_USAGE;
	}
	printf("logged in to %s as %s; API token %s is stored in %s\n", c->url, user, id, file);
	return 0;
}

int ctl_cmd_passwd(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage_error("usage: kvmbox ctl passwd [--password-stdin] (current, then new password)");
	int r = ctl_server(c);
	if (r)
		return r;
	char cur[PASSWORD_MAX], pw[PASSWORD_MAX], again[PASSWORD_MAX], body[1200];
	r = secret(c, "current password: ", cur);
	if (!r)
		r = secret(c, "new password: ", pw);
	if (!r && !c->password_stdin) {
		r = secret(c, "new password again: ", again);
		if (!r && strcmp(pw, again))
			r = ctl_usage_error("the two new passwords differ; nothing was changed");
		memset(again, 0, sizeof(again));
	}
	if (!r && json_obj(body, sizeof(body), "current", cur, "new", pw, NULL))
		r = ctl_usage_error("the passwords are too long");
	memset(cur, 0, sizeof(cur));
	memset(pw, 0, sizeof(pw));
	if (r)
		return r;
	static struct ctl_http_resp resp;
	r = post_json(c, "/api/auth/password", body, false, &resp);
	memset(body, 0, sizeof(body));
	if (r)
		return r;
	ctl_http_free(&resp);
	printf("password changed; every login session ended (API tokens still work)\n");
	return 0;
}

static int token_list(struct ctl *c)
{
	static struct ctl_http_resp resp;
	int r = ctl_api(c, "GET", "/api/auth/tokens", NULL, &resp);
	if (r)
		return r;
	struct ctl_json j;
	if (c->json || ctl_json_parse(&j, resp.body, resp.body_len)) {
		r = c->json ? 0 : CTL_EXIT_API;
		if (c->json)
			ctl_print_raw(&resp);
		ctl_http_free(&resp);
		return r;
	}
	int arr = json_get(&j.d, 0, "tokens"), n = json_array_len(&j.d, arr);
	if (n <= 0)
		printf("(no API tokens)\n");
	else
		printf("%-16s  %-20s  %-8s  %s\n", "ID", "CREATED", "USER", "NAME");
	for (int i = 0; i < n; i++) {
		int t = json_array_at(&j.d, arr, i);
		char id[64], user[64], name[128], when[32] = "-";
		int64_t created = 0;
		if (!json_get_int64(&j.d, json_get(&j.d, t, "created"), &created)) {
			time_t tt = (time_t)created;
			struct tm tm;
			if (localtime_r(&tt, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		}
		printf("%-16s  %-20s  %-8s  %s\n", ctl_jtext(&j.d, t, "id", id, sizeof(id)), when,
		       ctl_jtext(&j.d, t, "user", user, sizeof(user)), ctl_jtext(&j.d, t, "name", name, sizeof(name)));
	}
	ctl_json_free(&j);
	ctl_http_free(&resp);
	return 0;
}

int ctl_cmd_token(struct ctl *c, int argc, char **argv)
{
	static struct ctl_http_resp resp;
	char body[256], path[256] = "/api/auth/tokens/";
	int r;
	if (argc == 2 && !strcmp(argv[1], "list"))
		return token_list(c);
	if (argc == 3 && !strcmp(argv[1], "create")) {
		if (json_obj(body, sizeof(body), "name", argv[2], NULL))
			return ctl_usage_error("the name is too long");
		r = ctl_api(c, "POST", "/api/auth/tokens", body, &resp);
		if (r)
			return r;
		struct ctl_json j;
		if (c->json || ctl_json_parse(&j, resp.body, resp.body_len)) {
			if (c->json)
				ctl_print_raw(&resp);
			ctl_http_free(&resp);
			return c->json ? 0 : CTL_EXIT_API;
		}
		char tok[CTL_TOKEN_MAX], id[64];
		printf("%s\n", ctl_jtext(&j.d, 0, "token", tok, sizeof(tok)));
		fprintf(stderr, "API token %s made; the line above is its secret, shown this once\n",
			ctl_jtext(&j.d, 0, "id", id, sizeof(id)));
		ctl_json_free(&j);
		ctl_http_free(&resp);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "delete")) {
		if (ctl_path_add(path, sizeof(path), argv[2]))
			return ctl_usage_error("the id is empty or too long");
		r = ctl_api(c, "DELETE", path, NULL, &resp);
		if (r)
			return r;
		ctl_http_free(&resp);
		printf("API token %s revoked\n", argv[2]);
		return 0;
	}
	return ctl_usage_error("usage: kvmbox ctl token list | create NAME | delete ID");
}
