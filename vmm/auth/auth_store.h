/* The user and API token store: STATE/auth/users.json.
 *
 *   {"version":1,
 *    "users":[{"name":"admin","hash":"pbkdf2-sha256$..."}],
 *    "tokens":[{"id":"9f2c...","name":"backup script","user":"admin",
 *               "sha256":"<hex of SHA-256 of the token>","created":1764120000}]}
 *
 * A token itself is never stored, only its SHA-256: it is 32 random bytes,
 * so a slow hash would add nothing. A file whose version is newer than
 * AUTH_STORE_VERSION is refused (a downgrade must not drop what it does not
 * understand), and so is one that does not parse; neither is ever
 * overwritten, because the supervisor then refuses to start.
 */
#ifndef KVMBOX_AUTH_STORE_H
#define KVMBOX_AUTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"

#define AUTH_STORE_VERSION 1
#define AUTH_STORE_FILE "users.json"
#define AUTH_STORE_MAX_BYTES (64 * 1024)
#define AUTH_USERS_MAX 4
#define AUTH_TOKENS_MAX 32
#define AUTH_NAME_MAX 64 /* bytes of a token's name, NUL included */
#define AUTH_ADMIN "admin"

struct auth_user {
	char name[32];
	char hash[AUTH_HASH_MAX];
};

struct auth_token {
	char id[17]; /* 8 random bytes, hex: names the token in the API */
	char name[AUTH_NAME_MAX];
	char user[32];
	uint8_t sha256[32];
	int64_t created;
};

struct auth_store {
	char dir[4096]; /* STATE/auth */
	struct auth_user users[AUTH_USERS_MAX];
	unsigned nusers;
	struct auth_token tokens[AUTH_TOKENS_MAX];
	unsigned ntokens;
};

/* Load dir/users.json. 0 (an absent file is an empty store), or -errno with
 * a sentence in why: -EINVAL (does not parse or has a bad field), -EPROTO
 * (a newer version), or what reading failed with. */
int auth_store_load(struct auth_store *st, const char *dir, char *why, size_t whysize);
/* Parse text as a store (what load does after reading). */
int auth_store_parse(struct auth_store *st, const char *text, size_t len, char *why, size_t whysize);
/* Write it back atomically (state_write_file), mode 0600. 0 or -errno. */
int auth_store_save(const struct auth_store *st);

struct auth_user *auth_store_user(struct auth_store *st, const char *name);
/* Set (or add) a user's hash in memory. 0 or -ENOSPC. */
int auth_store_set_user(struct auth_store *st, const char *name, const char *hash);
/* The token whose SHA-256 is h, or NULL (compares every entry in constant time). */
struct auth_token *auth_store_token_by_hash(struct auth_store *st, const uint8_t h[32]);
struct auth_token *auth_store_token_by_id(struct auth_store *st, const char *id, size_t len);
void auth_store_token_remove(struct auth_store *st, struct auth_token *t);

#endif
