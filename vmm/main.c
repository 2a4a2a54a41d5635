/* kvmbox: one static binary, many subcommands (busybox style). main() only
 * dispatches; each subcommand lives in its own folder and registers itself. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "command.h"

extern const struct command __start_kvmbox_commands[];
extern const struct command __stop_kvmbox_commands[];

const struct command *command_find(const char *name)
{
	for (const struct command *c = __start_kvmbox_commands; c < __stop_kvmbox_commands; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "kvmbox %s: a KVM hypervisor appliance\n\nusage: kvmbox COMMAND [ARGS]\n\n",
		KVMBOX_VERSION);
	for (const struct command *c = __start_kvmbox_commands; c < __stop_kvmbox_commands; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->usage);
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');
	self = self ? self + 1 : argv[0];
	/* The kernel starts us as /init: that is the init subcommand. PID 1's
	 * own children run /init too (the supervisor service: "/init
	 * supervisor"), and those go to the command they name. */
	if (!strcmp(self, "init") && argc >= 1 && (getpid() == 1 || argc < 2 || !command_find(argv[1])))
		return command_find("init")->run(argc, argv);
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("kvmbox %s\n", KVMBOX_VERSION);
		return 0;
	}
	const struct command *c = command_find(argv[1]);
	if (!c) {
		fprintf(stderr, "kvmbox: unknown command '%s'; 'kvmbox help' lists the commands\n", argv[1]);
		return 2;
	}
	return c->run(argc - 1, argv + 1);
}
