/* `kvmbox console [--tty PATH] [--socket PATH]`: the text console; see
 * console.h. PID 1 runs one on the serial port and one on the screen. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "console/console.h"

static struct con con;

/* SIGTERM from PID 1 at power-off: give the terminal back as it was. */
static void on_term(int sig)
{
	(void)sig;
	static const char reset[] = "\033[0m\033[r\033[2J\033[H";
	con_tty_restore();
	if (write(con.fd, reset, sizeof(reset) - 1) < 0)
		_exit(1);
	_exit(0);
}

static int console_main(int argc, char **argv)
{
	const char *tty = NULL;
	con.sock = CON_SOCKET_DEFAULT;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tty") && i + 1 < argc) {
			tty = argv[++i];
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			con.sock = argv[++i];
		} else {
			fprintf(stderr, "usage: kvmbox console [--tty PATH] [--socket PATH]\n"
					"  --tty     the terminal (default: the one on stdin)\n"
					"  --socket  the supervisor's local API socket (default %s)\n",
				CON_SOCKET_DEFAULT);
			return 2;
		}
	}
	int r = con_tty_open(&con, tty);
	if (r) {
		fprintf(stderr, "kvmbox console: %s: %s\n", tty ? tty : "stdin", strerror(-r));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	scr_init(&con.scr, con.fd);
	return con_home(&con);
}

KVMBOX_COMMAND("console", console_main, "the text console (status and menu) on a terminal");
