/* Subcommands of the one kvmbox binary (init, vmm, poweroff, ...).
 *
 * Each subcommand registers itself with KVMBOX_COMMAND() in its own file; the
 * linker gathers the entries into one section, so adding a subcommand never
 * means editing main.c.
 */
#ifndef KVMBOX_COMMAND_H
#define KVMBOX_COMMAND_H

struct command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *usage;                 /* one line for `kvmbox help` */
};

#define KVMBOX_COMMAND(cname, fn, text)                                              \
	static const struct command command_##fn                                    \
		__attribute__((used, section("kvmbox_commands"), aligned(sizeof(void *)))) = { \
			.name = cname, .run = fn, .usage = text }

const struct command *command_find(const char *name);

#endif
