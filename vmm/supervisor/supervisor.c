/* `kvmbox supervisor`: the appliance's control plane. For now it serves the
 * HTTPS API (vmm/api/) and the port 80 redirector; the VM registry and the
 * console hub come next.
 *
 *   kvmbox supervisor [--https ADDR:PORT] [--http ADDR:PORT|none] [--state DIR]
 *                     [--admin-hash HASH] [--local PATH|none]
 *
 * --local is a unix socket (mode 0600) serving the same API in plain HTTP
 * to root on the appliance, as the admin without a password: the text
 * console (vmm/console/) uses it. Port 0 picks a free port; the log says which ("https: listening on ...").
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
#include "supervisor/seed_parse.h"
#include "supervisor/state.h"
#include "supervisor/vms.h"

#define SUPERVISOR_HTTPS_DEFAULT "0.0.0.0:443"
#define SUPERVISOR_HTTP_DEFAULT "0.0.0.0:80"
#define SUPERVISOR_LOCAL_DEFAULT "/run/kvmbox/api.sock"
#define SUPERVISOR_STOP_WAIT_S 30 /* at shutdown, for the VMs' orderly stops */

static void usage(FILE *f)
{
	fprintf(f, "usage: kvmbox supervisor [--https ADDR:PORT] [--http ADDR:PORT|none] [--state DIR]\n"
		   "                         [--admin-hash HASH] [--local PATH|none]\n"
		   "  --https   HTTPS API address (default %s)\n"
		   "  --http    plain HTTP address that redirects to HTTPS (default %s)\n"
		   "  --state   state directory (default %s, or %s in RAM without /data)\n"
		   "  --admin-hash  the admin password as `kvmbox passwd-hash` prints it, used when\n"
		   "            none is set yet (also kvmbox.adminhash= on the kernel command line)\n"
		   "  --local   unix socket serving the API to root as the admin, plain HTTP\n"
		   "            (default %s)\n",
		SUPERVISOR_HTTPS_DEFAULT, SUPERVISOR_HTTP_DEFAULT, STATE_DEFAULT_DIR, STATE_RAM_DIR,
		SUPERVISOR_LOCAL_DEFAULT);
}

struct supervisor {
	struct http_server srv;
	int sigfd;
	struct vms vms;
	int exit_code;
};

static void on_signal(void *arg)
{
	struct supervisor *s = arg;
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			vms_reap(&s->vms);
			continue;
		}
		log_info("signal %u: shutting down", si.ssi_signo);
		s->srv.stop = true;
	}
}

static void on_vms(void *arg)
{
	struct supervisor *s = arg;
	vms_events(&s->vms);
}

/* The seed's VMs have all ended and it asked for a power-off: say why for
 * init, which powers the appliance off when we exit with this status. */
static void on_seed_done(void *arg, int result, const char *why)
{
	struct supervisor *s = arg;
	log_info("%s; asking for a power-off", why);
	char line[600];
	int n = snprintf(line, sizeof(line), "%s\n", why);
	int r = state_mkdirs(SEED_RUN_DIR, 0700);
	if (!r)
		r = state_write_file(SEED_RUN_DIR, strrchr(SUPERVISOR_POWEROFF_REASON, '/') + 1, line, (size_t)n, 0600);
	if (r)
		log_error("cannot write %s: %s", SUPERVISOR_POWEROFF_REASON, strerror(-r));
	(void)result;
	s->exit_code = SUPERVISOR_EXIT_POWEROFF;
	s->srv.stop = true;
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

/* The local socket; its folder is made (0700) when missing. A failure is
 * fatal when --local named the path: without it the text console cannot
 * work. The default is only a warning, so that a supervisor run by a user
 * on a development host (no /run/kvmbox) still starts. */
static int supervisor_local(struct http_server *srv, const char *path, struct api_ctx *api)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		int r = state_mkdirs(dir, 0700);
		if (r) {
			log_warn("local: cannot make %s: %s", dir, strerror(-r));
			return r;
		}
	}
	int r = http_server_listen_unix(srv, path, 0600, true, &http_plain_transport, NULL, api_dispatch, api);
	if (r)
		log_warn("local: cannot listen on %s: %s", path, strerror(-r));
	else
		log_info("local: API for the text console on %s", path);
	return r;
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
static int supervisor_auth(struct api_auth *au, const char *state, const char *admin_hash, const char *from)
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
		if (api_auth_new_setup_code(au)) {
			log_error("auth: getrandom failed; no setup code");
			return -1;
		}
		log_warn("auth: no admin password is set: open the web console and enter the setup code %s "
			 "to choose one (or POST /api/auth/setup with {\"password\", \"setup_code\"}); or restart "
			 "with --admin-hash (kvmbox passwd-hash)", au->setup_code);
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

static int seed_noop(void *ctx, const char *name, const char *json, size_t n)
{
	(void)ctx, (void)name, (void)json, (void)n;
	return 0;
}

/* The seed's "admin-hash", read before the API starts so that a CI job's
 * seed can set the password; a seed that does not parse is reported later,
 * when its VMs are started. */
static void seed_admin_hash(const char *path, char *out, size_t size)
{
	char *text, err[300];
	size_t len;
	static struct seed_opts opts;
	out[0] = '\0';
	if (state_read_file(path, SEED_MAX_BYTES, &text, &len))
		return;
	if (seed_parse(text, len, &opts, err, sizeof(err), seed_noop, NULL) >= 0 && opts.admin_hash[0])
		snprintf(out, size, "%s", opts.admin_hash);
	free(text);
}

static int supervisor_main(int argc, char **argv)
{
	const char *https_addr = SUPERVISOR_HTTPS_DEFAULT, *http_addr = SUPERVISOR_HTTP_DEFAULT;
	const char *local_path = SUPERVISOR_LOCAL_DEFAULT;
	bool local_given = false;
	const char *state_opt = NULL, *admin_hash = NULL, *seed = NULL;
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
		} else if (!strcmp(o, "--local")) {
			local_path = v;
			local_given = true;
		} else if (!strcmp(o, "--state")) {
			state_opt = v;
		} else if (!strcmp(o, "--admin-hash")) {
			admin_hash = v;
		} else if (!strcmp(o, "--seed")) {
			seed = v;
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
	static char seed_hash[SEED_ADMIN_HASH_MAX];
	const char *hash_from = "--admin-hash";
	if (!admin_hash && seed) {
		seed_admin_hash(seed, seed_hash, sizeof(seed_hash));
		if (seed_hash[0]) {
			admin_hash = seed_hash;
			hash_from = "the seed's \"admin-hash\"";
		}
	}
	if (supervisor_auth(&auth, state, admin_hash, hash_from))
		return 1;

	/* Signals arrive through the event loop, so shutdown happens between
	 * two events, never inside one. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	static struct supervisor s; /* large: the VM registry */
	s.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sigfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	if ((r = vms_init(&s.vms, state, in_ram))) {
		log_error("vms: cannot set up %s/vms: %s", state, strerror(-r));
		close(s.sigfd);
		return 1;
	}
	vms_load(&s.vms);
	if (!s.vms.kvm_ok)
		log_warn("%s", s.vms.kvm_why);

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
		.vms = &s.vms,
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
	if (strcmp(local_path, "none") && (r = supervisor_local(&s.srv, local_path, &api)) && local_given)
		goto out;
	if ((r = http_server_watch(&s.srv, s.sigfd, on_signal, &s)) ||
	    (r = http_server_watch(&s.srv, s.vms.epfd, on_vms, &s))) {
		log_error("epoll: %s", strerror(-r));
		goto out;
	}
	vms_autostart(&s.vms);
	if (seed) {
		s.vms.poweroff_fn = on_seed_done;
		s.vms.poweroff_arg = &s;
		vms_seed(&s.vms, seed);
	}
	log_info("ready (at most %u connections; timeouts: handshake %u ms, request head %u ms, "
		 "idle %u ms)", lim.max_conns, lim.handshake_ms, lim.header_ms, lim.idle_ms);
	r = http_server_run(&s.srv);
	if (r)
		log_error("event loop: %s", strerror(-r));
	else
		rc = s.exit_code;
	vms_stop_all(&s.vms, SUPERVISOR_STOP_WAIT_S);
	log_info("served %llu requests on %llu connections; stopped",
		 (unsigned long long)s.srv.requests, (unsigned long long)s.srv.accepted);
out:
	http_server_free(&s.srv);
out_tls:
	tls_server_free(tls);
	vms_free(&s.vms);
	close(s.sigfd);
	return rc;
}

KVMBOX_COMMAND("supervisor", supervisor_main, "the control plane: HTTPS API on :443, redirect on :80");
