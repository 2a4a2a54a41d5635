/* `kvmbox passwd-hash`: read a password on stdin, print its stored form, for
 * --admin-hash, kvmbox.adminhash= on the kernel command line, or the seed.
 * Reading stdin (not argv) keeps the password out of ps and shell history.
 * Hidden, for tests: --iterations N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "command.h"

static int passwd_hash_main(int argc, char **argv)
{
	unsigned long iterations = AUTH_PBKDF2_ITERATIONS;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			char *end;
			iterations = strtoul(argv[++i], &end, 10);
			if (*end || iterations < AUTH_PBKDF2_MIN_ITERATIONS || iterations > AUTH_PBKDF2_MAX_ITERATIONS) {
				fprintf(stderr, "kvmbox passwd-hash: --iterations must be %d..%d\n",
					AUTH_PBKDF2_MIN_ITERATIONS, AUTH_PBKDF2_MAX_ITERATIONS);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: kvmbox passwd-hash < password-file\n"
					"  reads one line (the password) on stdin; prints pbkdf2-sha256$...\n");
			return 2;
		}
	}
	char pw[AUTH_PASSWORD_MAX + 2], hash[AUTH_HASH_MAX];
	if (!fgets(pw, sizeof(pw), stdin)) {
		fprintf(stderr, "kvmbox passwd-hash: no password on stdin\n");
		return 1;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	const char *bad = auth_password_problem(pw);
	if (bad) {
		fprintf(stderr, "kvmbox passwd-hash: %s\n", bad);
		return 1;
	}
	int r = auth_password_hash(pw, (unsigned)iterations, hash, sizeof(hash));
	memset(pw, 0, sizeof(pw));
	if (r) {
		fprintf(stderr, "kvmbox passwd-hash: cannot hash: %s\n", strerror(-r));
		return 1;
	}
	printf("%s\n", hash);
	return 0;
}

KVMBOX_COMMAND("passwd-hash", passwd_hash_main, "read a password on stdin, print the hash for --admin-hash");
