/* Long-running children of PID 1 (the supervisor, later the text console).
 *
 * A service that dies is logged with the reason and started again after a
 * backoff that doubles up to SERVICE_BACKOFF_MAX_S, so a crash loop cannot
 * spin the CPU and a crash never takes PID 1 down with it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "log.h"

struct service {
	const char *name;
	char *const *argv;
	pid_t pid;         /* 0 while not running */
	double start_at;   /* when to (re)start; 0 = not scheduled */
	double started;    /* when it last started */
	int backoff_s;
};

static struct service services[SERVICE_MAX];
static int nservices;
static int stopping;

void describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
			 WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, size, "stopped with wait status 0x%x", (unsigned)status);
}

int service_add(const char *name, char *const argv[])
{
	if (nservices >= SERVICE_MAX)
		return -ENOSPC;
	services[nservices++] = (struct service){ .name = name, .argv = argv, .start_at = 1e-9, .backoff_s = 1 };
	return 0;
}

static void service_start(struct service *s, double now)
{
	s->start_at = 0;
	pid_t pid = fork();
	if (pid < 0) {
		log_error("starting %s: fork: %s; trying again in %d s", s->name, strerror(errno), s->backoff_s);
		s->start_at = now + s->backoff_s;
		return;
	}
	if (pid == 0) {
		/* The child gets a clean signal state: PID 1 blocks signals for its signalfd. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		execv(s->argv[0], s->argv);
		fprintf(stderr, "kvmbox: cannot run %s (%s): %s\n", s->name, s->argv[0], strerror(errno));
		_exit(127);
	}
	s->pid = pid;
	s->started = now;
	log_info("started %s (pid %d)", s->name, (int)pid);
}

void service_start_due(double now)
{
	if (stopping)
		return;
	for (int i = 0; i < nservices; i++)
		if (!services[i].pid && services[i].start_at > 0 && services[i].start_at <= now)
			service_start(&services[i], now);
}

int service_reaped(pid_t pid, int status, double now)
{
	for (int i = 0; i < nservices; i++) {
		struct service *s = &services[i];
		if (s->pid != pid)
			continue;
		s->pid = 0;
		char why[96];
		describe_status(status, why, sizeof(why));
		if (stopping) {
			log_info("%s (pid %d) %s", s->name, (int)pid, why);
			return 1;
		}
		/* A service that ran a while was healthy: start over from a short backoff. */
		if (now - s->started > 60)
			s->backoff_s = 1;
		log_error("%s (pid %d) %s; restarting it in %d s", s->name, (int)pid, why, s->backoff_s);
		s->start_at = now + s->backoff_s;
		s->backoff_s = s->backoff_s * 2 > SERVICE_BACKOFF_MAX_S ? SERVICE_BACKOFF_MAX_S : s->backoff_s * 2;
		return 1;
	}
	return 0;
}

const char *service_name(pid_t pid)
{
	for (int i = 0; i < nservices; i++)
		if (pid > 0 && services[i].pid == pid)
			return services[i].name;
	return NULL;
}

void service_retire(pid_t pid)
{
	for (int i = 0; i < nservices; i++)
		if (pid > 0 && services[i].pid == pid) {
			services[i].pid = 0;
			services[i].start_at = 0;
		}
}

int service_timeout_ms(double now)
{
	double next = -1;
	for (int i = 0; i < nservices; i++)
		if (!services[i].pid && services[i].start_at > 0 && (next < 0 || services[i].start_at < next))
			next = services[i].start_at;
	if (next < 0 || stopping)
		return -1;
	return next <= now ? 0 : (int)((next - now) * 1000) + 1;
}

void service_stop_all(void)
{
	stopping = 1;
	for (int i = 0; i < nservices; i++)
		if (services[i].pid)
			kill(services[i].pid, SIGTERM);
}
