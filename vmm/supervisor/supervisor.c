/* `kvmbox supervisor`: the appliance's control plane. For now it serves the
 * HTTPS API (vmm/api/) and the port 80 redirector; the VM registry and the
 * console hub come next.
 *
 *   kvmbox supervisor [--https ADDR:PORT] [--http ADDR:PORT|none] [--state DIR]
 *
 * Port 0 picks a free port; the log says which ("https: listening on ...").
 * Hidden, for tests: --limit NAME=VALUE (any field of struct http_limits,
 * e.g. header_ms=500) and --routes (print the API's routes and exit).
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
		   "  --https   HTTPS API address (default %s)\n"
		   "  --http    plain HTTP address that redirects to HTTPS (default %s)\n"
		   "  --state   state directory (default %s, or %s in RAM without /data)\n",
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

static int supervisor_main(int argc, char **argv)
{
	const char *https_addr = SUPERVISOR_HTTPS_DEFAULT, *http_addr = SUPERVISOR_HTTP_DEFAULT;
	const char *state_opt = NULL;
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
