/* kvmbox ctl: a command-line client for the supervisor's HTTPS API.
 *
 * ctl_main.c parses the options and picks a command; ctl_client.c speaks
 * HTTP/1.1 (ctl_http.c parses the replies) over TLS (ctl_tls.c, the only
 * files with mbedtls); ctl_config.c keeps ~/.config/kvmbox (known_hosts,
 * token) and reads passwords; ctl_print.c turns JSON into text; the
 * commands are in ctl_cmd_*.c.
 *
 * Exit status: 0 done; 1 the API said no (its message is printed); 2 a usage
 * error; 3 the server could not be reached or trusted (DNS, connect, TLS,
 * certificate).
 */
#ifndef KVMBOX_CTL_H
#define KVMBOX_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl_http.h"
#include "ctl/ctl_tls.h"
#include "json.h"

#define CTL_EXIT_API 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_CONN 3

#define CTL_TIMEOUT_MS 30000
#define CTL_TOKEN_MAX 256
#define CTL_URL_MAX 300

struct ctl {
	/* Options. */
	const char *url_arg, *token_arg, *fingerprint_arg, *cacert, *user;
	bool insecure, json, force, follow, password_stdin, replace;
	/* The server, from --url, KVMBOX_URL or the token file. */
	char url[CTL_URL_MAX];  /* "https://host:port", the token file's key */
	char host[256];         /* no brackets */
	char port[8];
	char hostport[280];     /* "host:port" ("[v6]:port"): the known_hosts key */
	char host_header[280];  /* the Host field: the port only when not 443 */
	bool server_ready;
	/* Trust. */
	char pin[CTL_FP_LEN];
	bool pin_from_arg, pin_from_known, trust_ready, pin_saved;
	/* Credentials: a bearer token, or a login session (cookie + CSRF). */
	char token[CTL_TOKEN_MAX];
	char cookie[160];
	char csrf[160];
	bool creds_ready; /* ctl_credentials() ran (login sets it to send none) */
};

/* One request. */
struct ctl_call {
	const char *method;
	const char *path;        /* already encoded: "/api/vms/web" */
	const char *ctype;       /* of the body */
	const char *body;
	size_t body_len;
	int upload_fd;           /* >= 0: stream upload_len bytes of it as the body */
	uint64_t upload_len;
	const char *upload_sha256;
	const char *upload_name; /* for the progress line */
	bool no_auth;            /* login: send no token */
	size_t body_max;         /* 0: CTL_HTTP_BODY_MAX */
};

/* Set up c->url and friends (once). 0 or CTL_EXIT_USAGE (printed). */
int ctl_server(struct ctl *c);
/* Set up the credentials: --token, KVMBOX_TOKEN or the token file. */
void ctl_credentials(struct ctl *c);
/* Send q and read the reply into resp (ctl_http_free it). 0 whatever the
 * status, or CTL_EXIT_CONN / CTL_EXIT_USAGE after saying why on stderr. */
int ctl_request(struct ctl *c, const struct ctl_call *q, struct ctl_http_resp *resp);
/* A JSON (or empty) request; 0 on a 2xx reply, CTL_EXIT_API after printing
 * the API's message, or ctl_request's status. */
int ctl_api(struct ctl *c, const char *method, const char *path, const char *json_body, struct ctl_http_resp *resp);
/* Print the API's error message for resp; returns CTL_EXIT_API. */
int ctl_api_error(const struct ctl_http_resp *resp);

/* ctl_config.c */
int ctl_config_path(char *buf, size_t size, const char *file);
int ctl_kv_get(const char *file, const char *key, char *val, size_t size);
int ctl_kv_first(const char *file, char *key, size_t ksize, char *val, size_t vsize);
int ctl_kv_put(const char *file, const char *key, const char *val);
int ctl_fingerprint_norm(const char *in, char out[CTL_FP_LEN]);
int ctl_read_secret(const char *prompt, bool from_stdin, char *buf, size_t size);
int ctl_read_line_tty(const char *prompt, char *buf, size_t size);
int ctl_read_file(const char *path, size_t max, char **out, size_t *len);

/* ctl_print.c */
struct ctl_json {
	struct json_doc d;
	struct json_token *tok;
};
/* Parse a reply body; 0 or -errno after saying why on stderr. */
int ctl_json_parse(struct ctl_json *j, const char *text, size_t len);
void ctl_json_free(struct ctl_json *j);
/* The string, number or bool at key of obj as text ("-" when absent or null). */
const char *ctl_jtext(const struct json_doc *d, int obj, const char *key, char *buf, size_t size);
/* Any value, indented "key: value" lines. */
void ctl_print_value(const struct json_doc *d, int i, int indent);
/* The array arr as a table: the columns named in cols (NULL: the scalar
 * members of its first element). */
void ctl_print_table(const struct json_doc *d, int arr, const char *const *cols, const char *const *heads);
/* The raw reply, with a newline at the end. */
void ctl_print_raw(const struct ctl_http_resp *r);
void ctl_fmt_bytes(uint64_t n, char *buf, size_t size);
void ctl_fmt_duration(double s, char *buf, size_t size);

/* The commands: argv[0] is the command's name. */
int ctl_cmd_host(struct ctl *c, int argc, char **argv);
int ctl_cmd_pci(struct ctl *c, int argc, char **argv);
int ctl_cmd_logs(struct ctl *c, int argc, char **argv);
int ctl_cmd_api(struct ctl *c, int argc, char **argv);
int ctl_cmd_login(struct ctl *c, int argc, char **argv);
int ctl_cmd_passwd(struct ctl *c, int argc, char **argv);
int ctl_cmd_token(struct ctl *c, int argc, char **argv);
int ctl_cmd_vm(struct ctl *c, int argc, char **argv);
int ctl_cmd_image(struct ctl *c, int argc, char **argv);
/* ctl_cmd_host.c: GET path as JSON (with --json: printed, *printed set; else
 * parsed into j, free both), or as text, printed. 0 or an exit status. */
int ctl_get_json(struct ctl *c, const char *path, struct ctl_http_resp *resp, struct ctl_json *j, bool *printed);
int ctl_get_text(struct ctl *c, const char *path);
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
