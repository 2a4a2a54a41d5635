/* `kvmbox supervisor`: the appliance's control plane. For now it serves the
 * HTTPS API (vmm/api/) and the port 80 redirector; the VM registry and the
 * console hub come next.
 *
 *   kvmbox supervisor [--https ADDR:PORT] [--http ADDR:PORT|none] [--state DIR]
 *                     [--admin-hash HASH]
 *
 * Port 0 picks a free port; the log says which ("https: listening on ...").
 * Hidden, for tests: --limit NAME=VALUE (any field of struct http_limits,
 * e.g. header_ms=500), --routes (print the API's routes and exit), and
 * --auth-iterations N, --session-idle-ms N, --session-life-ms N (PBKDF2
 * rounds for new hashes, session timeouts; see vmm/auth/).
 * SIGTERM or SIGINT: close every connection and exit 0.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/auth.h"
#include "init.h"
#include "command.h"
#include "http/http_redirect.h"
#include "http/http_server.h"
#include "http/tls.h"
#include "log.h"
#include "supervisor/state.h"

#define SUPERVISOR_HTTPS_DEFAULT "0.0.0.0:443"
#define SUPERVISOR_HTTP_DEFAULT "0.0.0.0:80"

static void usage(FILE *f)
{
	fprintf(f, "usage: kvmbox supervisor [--https ADDR:PORT] [--http ADDR:PORT|none] [--state DIR]\n"
		   "                         [--admin-hash HASH]\n"
		   "  --https   HTTPS API address (default %s)\n"
		   "  --http    plain HTTP address that redirects to HTTPS (default %s)\n"
		   "  --state   state directory (default %s, or %s in RAM without /data)\n"
		   "  --admin-hash  the admin password as `kvmbox passwd-hash` prints it, used when\n"
		   "            none is set yet (also kvmbox.adminhash= on the kernel command line)\n",
		SUPERVISOR_HTTPS_DEFAULT, SUPERVISOR_HTTP_DEFAULT, STATE_DEFAULT_DIR, STATE_RAM_DIR);
}

struct supervisor {
	struct http_server srv;
	int sigfd;
};

static void on_signal(void *arg)
{
	struct supervisor *s = arg;
	struct signalfd_siginfo si;
	if (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("signal %u: shutting down", si.ssi_signo);
		s->srv.stop = true;
	}
}

static void log_listening(struct http_server *srv, unsigned i, const char *what, const char *addr)
{
	char a[96];
	snprintf(a, sizeof(a), "%s", addr);
	char *colon = strrchr(a, ':');
	if (colon)
		*colon = '\0';
	log_info("%s: listening on %s:%d", what, a, http_server_port(srv, i));
}

/* A positive number for a hidden option, or 0. */
static unsigned long opt_number(const char *v)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	return *v && !*end && n <= 0xffffffffUL ? n : 0;
}

/* Load STATE/auth/users.json; with no admin yet, take the hash from
 * --admin-hash or kvmbox.adminhash= on /proc/cmdline. A store that cannot be
 * read is an error: starting anyway could overwrite it, or serve an API with
 * no password at all. */
static int supervisor_auth(struct api_auth *au, const char *state, const char *admin_hash)
{
	char dir[PATH_MAX], why[600], cmdhash[AUTH_HASH_MAX];
	snprintf(dir, sizeof(dir), "%s/auth", state);
	int r = auth_store_load(&au->store, dir, why, sizeof(why));
	if (r) {
		log_error("auth: %s", why);
		log_error("auth: not starting, so that nothing overwrites it; fix or move the file");
		return -1;
	}
	if (auth_store_user(&au->store, AUTH_ADMIN))
		return 0;
	const char *from = "--admin-hash";
	if (!admin_hash) {
		char cmdline[CMDLINE_MAX];
		FILE *f = fopen("/proc/cmdline", "re");
		if (f && fgets(cmdline, sizeof(cmdline), f) &&
		    cmdline_get(cmdline, "kvmbox.adminhash", cmdhash, sizeof(cmdhash)) == 1) {
			admin_hash = cmdhash;
			from = "kvmbox.adminhash= on the kernel command line";
		}
		if (f)
			fclose(f);
	}
	if (!admin_hash) {
		log_warn("auth: no admin password is set: the API answers nothing but POST /api/auth/setup, "
			 "and that only from this machine; or restart with --admin-hash (kvmbox passwd-hash)");
		return 0;
	}
	struct auth_hash h;
	if (auth_hash_parse(admin_hash, &h)) {
		log_error("auth: the hash from %s is not pbkdf2-sha256$ITER$SALT$HASH with %d..%d rounds "
			  "(make one with kvmbox passwd-hash)", from, AUTH_PBKDF2_MIN_ITERATIONS,
			  AUTH_PBKDF2_MAX_ITERATIONS);
		return -1;
	}
	r = auth_store_set_user(&au->store, AUTH_ADMIN, admin_hash);
	if (!r)
		r = auth_store_save(&au->store);
	if (r) {
		log_error("auth: cannot save %s/" AUTH_STORE_FILE ": %s", dir, strerror(-r));
		return -1;
	}
	log_info("auth: admin password set from %s", from);
	return 0;
}

static int supervisor_main(int argc, char **argv)
{
	const char *https_addr = SUPERVISOR_HTTPS_DEFAULT, *http_addr = SUPERVISOR_HTTP_DEFAULT;
	const char *state_opt = NULL, *admin_hash = NULL;
	static struct api_auth auth; /* large: sessions and the limiter's table */
	unsigned long iterations = AUTH_PBKDF2_ITERATIONS, idle_ms = AUTH_SESSION_IDLE_MS,
		      life_ms = AUTH_SESSION_LIFE_MS;
	struct http_limits lim;
	http_limits_default(&lim);

	log_set_tag("supervisor");
	log_add_console(2);
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(o, "--routes")) {
			for (size_t r = 0; r < api_nroutes; r++)
				printf("%s %s\n", http_method_name(api_routes[r].method), api_routes[r].pattern);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		const char *v = argv[++i];
		if (!strcmp(o, "--https")) {
			https_addr = v;
		} else if (!strcmp(o, "--http")) {
			http_addr = v;
		} else if (!strcmp(o, "--state")) {
			state_opt = v;
		} else if (!strcmp(o, "--admin-hash")) {
			admin_hash = v;
		} else if (!strcmp(o, "--auth-iterations") || !strcmp(o, "--session-idle-ms") ||
			   !strcmp(o, "--session-life-ms")) {
			unsigned long n = opt_number(v);
			if (!n) {
				fprintf(stderr, "kvmbox supervisor: %s needs a positive number\n", o);
				return 2;
			}
			if (!strcmp(o, "--auth-iterations"))
				iterations = n;
			else if (!strcmp(o, "--session-idle-ms"))
				idle_ms = n;
			else
				life_ms = n;
		} else if (!strcmp(o, "--limit")) {
			if (http_limits_set(&lim, v)) {
				fprintf(stderr, "kvmbox supervisor: bad --limit '%s' (NAME=POSITIVE_NUMBER)\n", v);
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}

	/* Refuse a typo before anything is made on disk. */
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (http_parse_addr(https_addr, &ss, &sslen) ||
	    (strcmp(http_addr, "none") && http_parse_addr(http_addr, &ss, &sslen))) {
		fprintf(stderr, "kvmbox supervisor: an address must be IPv4:PORT or [IPv6]:PORT, e.g. 0.0.0.0:443\n");
		return 2;
	}
	if (iterations < AUTH_PBKDF2_MIN_ITERATIONS || iterations > AUTH_PBKDF2_MAX_ITERATIONS) {
		fprintf(stderr, "kvmbox supervisor: --auth-iterations must be %d..%d\n", AUTH_PBKDF2_MIN_ITERATIONS,
			AUTH_PBKDF2_MAX_ITERATIONS);
		return 2;
	}

	char state[PATH_MAX - 16], tlsdir[PATH_MAX];
	bool in_ram;
	int r = state_choose_dir(state_opt, state, sizeof(state), &in_ram);
	if (r) {
		log_error("cannot use the state directory %s: %s", state_opt ? state_opt : state,
			  strerror(-r));
		return 1;
	}
	if (in_ram)
		log_warn("no data partition on /data: state is kept in RAM under %s and lost at "
			 "power-off", state);
	else
		log_info("state in %s", state);
	snprintf(tlsdir, sizeof(tlsdir), "%s/tls", state);
	auth.iterations = (unsigned)iterations;
	auth_sessions_init(&auth.sessions, idle_ms, life_ms);
	if (supervisor_auth(&auth, state, admin_hash))
		return 1;

	/* Signals arrive through the event loop, so shutdown happens between
	 * two events, never inside one. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct supervisor s = { .sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK) };
	if (s.sigfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}

	char why[512];
	struct tls_server *tls;
	r = tls_server_create(&tls, tlsdir, why, sizeof(why));
	if (r) {
		log_error("https: cannot start TLS: %s", why);
		close(s.sigfd);
		return 1;
	}
	log_info("https: certificate SHA-256 fingerprint %s", tls_server_fingerprint(tls));

	struct api_ctx api = {
		.state_dir = state,
		.state_in_ram = in_ram,
		.tls_fingerprint = tls_server_fingerprint(tls),
		.tls_source = tls_server_cert_source(tls),
		.auth = &auth,
	};
	int rc = 1;
	if ((r = http_server_init(&s.srv, &lim))) {
		log_error("epoll: %s", strerror(-r));
		goto out_tls;
	}
	r = http_server_listen(&s.srv, https_addr, &tls_transport, tls, api_dispatch, &api);
	if (r) {
		log_error("https: cannot listen on %s: %s", https_addr, r == -EINVAL ? "not ADDR:PORT" : strerror(-r));
		goto out;
	}
	log_listening(&s.srv, 0, "https", https_addr);
	struct http_redirect redirect = { .https_port = http_server_port(&s.srv, 0) };
	if (strcmp(http_addr, "none")) {
		r = http_server_listen(&s.srv, http_addr, &http_plain_transport, NULL, http_redirect_dispatch,
				       &redirect);
		if (r) {
			log_error("http: cannot listen on %s: %s", http_addr,
				  r == -EINVAL ? "not ADDR:PORT" : strerror(-r));
			goto out;
		}
		log_listening(&s.srv, 1, "http", http_addr);
	}
	if ((r = http_server_watch(&s.srv, s.sigfd, on_signal, &s))) {
		log_error("epoll: %s", strerror(-r));
		goto out;
	}
	log_info("ready (at most %u connections; timeouts: handshake %u ms, request head %u ms, "
		 "idle %u ms)", lim.max_conns, lim.handshake_ms, lim.header_ms, lim.idle_ms);
	r = http_server_run(&s.srv);
	if (r)
		log_error("event loop: %s", strerror(-r));
	else
		rc = 0;
	log_info("served %llu requests on %llu connections; stopped",
		 (unsigned long long)s.srv.requests, (unsigned long long)s.srv.accepted);
out:
	http_server_free(&s.srv);
out_tls:
	tls_server_free(tls);
	close(s.sigfd);
	return rc;
}

KVMBOX_COMMAND("supervisor", supervisor_main, "the control plane: HTTPS API on :443, redirect on :80");
