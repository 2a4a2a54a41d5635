/* Login sessions: a fixed table, so a client that logs in over and over
 * evicts the least recently used session instead of growing memory.
 *
 * A session id is 32 random bytes, sent as base64url in the kvmbox_session
 * cookie; a CSRF token of 32 more random bytes goes with it, which changing
 * requests must echo in X-CSRF-Token (a cross-site page can make the browser
 * send the cookie, never read the token). A session ends after idle_ms
 * without a request, after life_ms in all, at logout, or when the password
 * changes.
 */
#ifndef KVMBOX_AUTH_SESSION_H
#define KVMBOX_AUTH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_SESSION_MAX 64
#define AUTH_SESSION_IDLE_MS (30u * 60 * 1000)        /* 30 minutes */
#define AUTH_SESSION_LIFE_MS (12u * 60 * 60 * 1000)   /* 12 hours */
#define AUTH_ID_LEN 32
#define AUTH_ID_B64 44 /* base64url of 32 bytes (43) and a NUL */

struct auth_session {
	bool used;
	uint8_t id[AUTH_ID_LEN];
	char csrf[AUTH_ID_B64];
	char user[32];
	uint64_t created_ms, last_ms;
};

struct auth_sessions {
	struct auth_session s[AUTH_SESSION_MAX];
	uint64_t idle_ms, life_ms;
};

void auth_sessions_init(struct auth_sessions *t, uint64_t idle_ms, uint64_t life_ms);
/* A new session for user; cookie gets the id (base64url). NULL on failure
 * (no randomness). */
struct auth_session *auth_session_new(struct auth_sessions *t, const char *user, uint64_t now,
				      char cookie[AUTH_ID_B64]);
/* The live session whose id is cookie[0..len), touched (last_ms = now), or
 * NULL. An expired one is dropped on the way. */
struct auth_session *auth_session_find(struct auth_sessions *t, const char *cookie, size_t len, uint64_t now);
void auth_session_end(struct auth_session *s);
/* End every session of user (after a password change). */
void auth_sessions_end_user(struct auth_sessions *t, const char *user);
unsigned auth_sessions_count(const struct auth_sessions *t, uint64_t now);

#endif
