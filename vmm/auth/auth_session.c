/* Login sessions; see auth_session.h. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth_session.h"

void auth_sessions_init(struct auth_sessions *t, uint64_t idle_ms, uint64_t life_ms)
{
	memset(t, 0, sizeof(*t));
	t->idle_ms = idle_ms;
	t->life_ms = life_ms;
}

static bool expired(const struct auth_sessions *t, const struct auth_session *s, uint64_t now)
{
	return now - s->last_ms >= t->idle_ms || now - s->created_ms >= t->life_ms;
}

struct auth_session *auth_session_new(struct auth_sessions *t, const char *user, uint64_t now,
				      char cookie[AUTH_ID_B64])
{
	struct auth_session *slot = NULL;
	for (unsigned i = 0; i < AUTH_SESSION_MAX; i++) {
		struct auth_session *s = &t->s[i];
		if (s->used && expired(t, s, now))
			auth_session_end(s);
		if (!s->used) {
			slot = s;
			break;
		}
		if (!slot || s->last_ms < slot->last_ms)
			slot = s;
	}
	uint8_t csrf[AUTH_ID_LEN];
	struct auth_session n = { .used = true, .created_ms = now, .last_ms = now };
	if (auth_random(n.id, sizeof(n.id)) || auth_random(csrf, sizeof(csrf)))
		return NULL;
	auth_b64_encode(csrf, sizeof(csrf), n.csrf, sizeof(n.csrf), true);
	snprintf(n.user, sizeof(n.user), "%s", user);
	auth_b64_encode(n.id, sizeof(n.id), cookie, AUTH_ID_B64, true);
	*slot = n;
	return slot;
}

struct auth_session *auth_session_find(struct auth_sessions *t, const char *cookie, size_t len, uint64_t now)
{
	uint8_t id[AUTH_ID_LEN];
	if (len != AUTH_ID_B64 - 1 || auth_b64_decode(cookie, len, id, sizeof(id), true) != AUTH_ID_LEN)
		return NULL;
	struct auth_session *found = NULL;
	/* Compare with every slot, so the time taken says nothing about which. */
	for (unsigned i = 0; i < AUTH_SESSION_MAX; i++) {
		struct auth_session *s = &t->s[i];
		if (auth_ct_eq(s->id, id, sizeof(id)) && s->used)
			found = s;
	}
	if (!found)
		return NULL;
	if (expired(t, found, now)) {
		auth_session_end(found);
		return NULL;
	}
	found->last_ms = now;
	return found;
}

void auth_session_end(struct auth_session *s)
{
	memset(s, 0, sizeof(*s));
}

void auth_sessions_end_user(struct auth_sessions *t, const char *user)
{
	for (unsigned i = 0; i < AUTH_SESSION_MAX; i++)
		if (t->s[i].used && !strcmp(t->s[i].user, user))
			auth_session_end(&t->s[i]);
}

unsigned auth_sessions_count(const struct auth_sessions *t, uint64_t now)
{
	unsigned n = 0;
	for (unsigned i = 0; i < AUTH_SESSION_MAX; i++)
		n += t->s[i].used && !expired(t, &t->s[i], now);
	return n;
}
