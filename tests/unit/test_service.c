/* PID 1's service supervision: a crashing child is reported with its signal and
 * restarted after a backoff, and the parent carries on. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "init.h"
#include "log.h"

static char *const crasher[] = { "/bin/sh", "-c", "kill -SEGV $$", NULL };

int main(void)
{
	char why[96];
	describe_status(3 << 8, why, sizeof(why));
	CHECK("status exit", !strcmp(why, "exited with status 3"));
	describe_status(SIGSEGV, why, sizeof(why));
	CHECK("status signal", !strncmp(why, "killed by signal 11 (", 21));

	CHECK("add", service_add("crasher", crasher) == 0);
	double t0 = now_seconds();
	CHECK("due at once", service_timeout_ms(t0) == 0);
	service_start_due(t0);
	int status;
	pid_t pid = wait(&status);
	CHECK("child crashed", pid > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	CHECK("reaped as a service", service_reaped(pid, status, now_seconds()) == 1);
	char ring[4096];
	log_ring_read(ring, sizeof(ring));
	CHECK("crash logged with reason", strstr(ring, "crasher (pid") && strstr(ring, "killed by signal 11") &&
						   strstr(ring, "restarting it in 1 s"));
	int ms = service_timeout_ms(now_seconds());
	CHECK("restart scheduled after backoff", ms > 500 && ms <= 1001);
	CHECK("unknown pid is not a service", service_reaped(pid + 100000, 0, now_seconds()) == 0);

	/* Second crash doubles the backoff. */
	service_start_due(now_seconds() + 1.5);
	pid = wait(&status);
	service_reaped(pid, status, now_seconds());
	log_ring_read(ring, sizeof(ring));
	CHECK("backoff doubles", strstr(ring, "restarting it in 2 s") != NULL);

	/* A service that asks for a power-off is retired, not restarted. */
	service_start_due(now_seconds() + 10);
	pid = wait(&status);
	CHECK("service named by pid", service_name(pid) && !strcmp(service_name(pid), "crasher"));
	CHECK("other pid has no name", service_name(pid + 100000) == NULL);
	service_retire(pid);
	CHECK("retired: not running", service_name(pid) == NULL);
	CHECK("retired: no restart due", service_timeout_ms(now_seconds()) == -1);

	service_stop_all();
	CHECK("no restarts while stopping", service_timeout_ms(now_seconds() + 100) == -1);
	return CHECK_DONE();
}
