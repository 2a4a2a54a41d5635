/* Failed logins, rate limited per source address.
 *
 * AUTH_LIMIT_FREE failures are free; each one after that locks the address
 * out for twice as long as the one before (1 s, 2 s, 4 s ... up to
 * AUTH_LIMIT_MAX_MS). A success clears the address. The table is fixed: when
 * it is full the entry seen least recently goes, so a flood from many
 * addresses costs no memory (it can only make the limiter forget).
 */
#ifndef KVMBOX_AUTH_LIMIT_H
#define KVMBOX_AUTH_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define AUTH_LIMIT_ENTRIES 256
#define AUTH_LIMIT_FREE 5
#define AUTH_LIMIT_BASE_MS 1000u
#define AUTH_LIMIT_MAX_MS (15u * 60 * 1000)
/* An address with no failure for this long is forgotten. */
#define AUTH_LIMIT_FORGET_MS (60u * 60 * 1000)

struct auth_limit_entry {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	unsigned fails;
	uint64_t last_ms, until_ms;
	bool used;
};

struct auth_limit {
	struct auth_limit_entry e[AUTH_LIMIT_ENTRIES];
};

/* ms that addr must still wait before it may try (0: go ahead). */
uint64_t auth_limit_wait(struct auth_limit *l, const uint8_t addr[16], uint64_t now);
void auth_limit_fail(struct auth_limit *l, const uint8_t addr[16], uint64_t now);
void auth_limit_ok(struct auth_limit *l, const uint8_t addr[16]);

#endif
