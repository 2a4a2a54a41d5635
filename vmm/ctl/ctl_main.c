/* `kvmbox ctl`: the API from a shell, on the appliance or on a laptop (the
 * binary is static). Options may come anywhere on the line; see usage(). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "ctl/ctl.h"

#define CTL_MAX_ARGS 64

static const char usage_text[] =
	"usage: kvmbox ctl [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Server and trust:\n"
	"  --url https://HOST[:PORT]   the appliance (or KVMBOX_URL; else the latest login's)\n"
	"  --token TOKEN               an API token (or KVMBOX_TOKEN; else the one `login` stored)\n"
	"  --fingerprint SHA256        the certificate's fingerprint from the appliance's console;\n"
	"                              remembered per host in ~/.config/kvmbox/known_hosts\n"
	"  --cacert FILE               verify the certificate against this CA instead\n"
	"  --insecure                  check no certificate at all (warns)\n"
	"  --json                      print the API's JSON as it came\n"
	"\n"
	"Commands:\n"
	"  login [--user NAME] [--password-stdin]   make an API token, store it (0600)\n"
	"  passwd [--password-stdin]                change the admin password\n"
	"  token list | create NAME | delete ID\n"
	"  host | pci | logs\n"
	"  vm list | show NAME | create FILE.json|- | edit NAME FILE.json|- | delete NAME\n"
	"  vm start|stop|reboot|pause|resume NAME   (stop --force: no graceful shutdown)\n"
	"  vm console NAME [--follow] | counters NAME | log NAME\n"
	"  image list | upload FILE [NAME] [--replace] | delete NAME\n"
	"  api METHOD PATH [BODY|-]                 any request; prints the reply\n"
	"\n"
	"Exit status: 0 done, 1 the API refused (its message is printed), 2 usage,\n"
	"3 the server could not be reached or its certificate is not the trusted one.\n";

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "kvmbox ctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return CTL_EXIT_USAGE;
}

struct ctl_opt {
	const char *name;
	bool takes_value;
	size_t off; /* into struct ctl: a const char * or a bool */
};

#define OPT_S(n, f) { n, true, offsetof(struct ctl, f) }
#define OPT_B(n, f) { n, false, offsetof(struct ctl, f) }
static const struct ctl_opt opts[] = {
	OPT_S("--url", url_arg),
	OPT_S("--token", token_arg),
	OPT_S("--fingerprint", fingerprint_arg),
	OPT_S("--cacert", cacert),
	OPT_S("--user", user),
	OPT_B("--insecure", insecure),
	OPT_B("--json", json),
	OPT_B("--force", force),
	OPT_B("--follow", follow),
	OPT_B("--password-stdin", password_stdin),
	OPT_B("--replace", replace),
};

/* Take the options out of argv wherever they are; the rest, in order, go
 * to pos. "--" ends the options. */
static int parse_opts(struct ctl *c, int argc, char **argv, char **pos, int *npos)
{
	bool more = true;
	*npos = 0;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (more && !strcmp(a, "--")) {
			more = false;
			continue;
		}
		if (more && a[0] == '-' && a[1] == '-') {
			const struct ctl_opt *o = NULL;
			size_t nl = strcspn(a, "=");
			for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
				if (strlen(opts[k].name) == nl && !strncmp(a, opts[k].name, nl))
					o = &opts[k];
			if (!strcmp(a, "--help"))
				return 1;
			if (!o)
				return ctl_usage_error("unknown option %s (see kvmbox ctl --help)", a);
			if (!o->takes_value) {
				if (a[nl])
					return ctl_usage_error("%.*s takes no value", (int)nl, a);
				*(bool *)((char *)c + o->off) = true;
				continue;
			}
			const char *v = a[nl] ? a + nl + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v)
				return ctl_usage_error("%s needs a value", a);
			*(const char **)((char *)c + o->off) = v;
			continue;
		}
		if (more && !strcmp(a, "-h"))
			return 1;
		if (*npos >= CTL_MAX_ARGS)
			return ctl_usage_error("too many arguments");
		pos[(*npos)++] = a;
	}
	return 0;
}

struct ctl_command {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
};

static const struct ctl_command commands[] = {
	{ "host", ctl_cmd_host },   { "pci", ctl_cmd_pci },       { "logs", ctl_cmd_logs },
	{ "api", ctl_cmd_api },     { "login", ctl_cmd_login },   { "passwd", ctl_cmd_passwd },
	{ "token", ctl_cmd_token }, { "tokens", ctl_cmd_token },  { "vm", ctl_cmd_vm },
	{ "vms", ctl_cmd_vm },      { "image", ctl_cmd_image },   { "images", ctl_cmd_image },
};

static int ctl_main(int argc, char **argv)
{
	static struct ctl c;
	char *pos[CTL_MAX_ARGS];
	int npos;
	int r = parse_opts(&c, argc, argv, pos, &npos);
	if (r == 1 || (!r && (!npos || !strcmp(pos[0], "help")))) {
		fputs(usage_text, r == 1 || npos ? stdout : stderr);
		return r == 1 || npos ? 0 : CTL_EXIT_USAGE;
	}
	if (r)
		return r;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(pos[0], commands[k].name)) {
			/* Output piped to a pager or a file should arrive as it comes. */
			setvbuf(stdout, NULL, _IOLBF, 0);
			return commands[k].run(&c, npos, pos);
		}
	return ctl_usage_error("unknown command %s (see kvmbox ctl --help)", pos[0]);
}

KVMBOX_COMMAND("ctl", ctl_main, "the HTTPS API from a shell, here or on a laptop (see kvmbox ctl --help)");
