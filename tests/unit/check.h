/* A tiny check harness for host unit tests: each CHECK prints "ok NAME" or
 * "not ok NAME: where", which tests/run.py counts. CHECK_DONE() is the exit
 * status. Built with ASan and UBSan, so a memory error fails the test too. */
#ifndef KVMBOX_CHECK_H
#define KVMBOX_CHECK_H

#include <stdio.h>

static int check_failed;

#define CHECK(name, cond)                                                                      \
	do {                                                                                   \
		if (cond) {                                                                    \
			printf("ok %s\n", name);                                               \
		} else {                                                                       \
			printf("not ok %s: %s:%d: %s\n", name, __FILE__, __LINE__, #cond);     \
			check_failed = 1;                                                      \
		}                                                                              \
		fflush(stdout);                                                                \
	} while (0)

#define CHECK_DONE() (check_failed ? 1 : 0)

#endif
