/* The text console (`kvmbox console`, vmm/console/) as two services of PID
 * 1: one on the serial port and one on the screen, each only when its tty
 * can be opened. A ttyS0 node exists even without a UART behind it (the
 * 8250 driver makes four), and a console that cannot open its tty would be
 * restarted forever, filling the log. */
#include <fcntl.h>
#include <unistd.h>

#include "command.h"
#include "init.h"
#include "log.h"

static char *console_serial[] = { "/init", "console", "--tty", "/dev/ttyS0", NULL };
static char *console_screen[] = { "/init", "console", "--tty", "/dev/tty0", NULL };

static int tty_works(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

void console_services_add(void)
{
	if (!command_find("console"))
		return;
	if (tty_works(console_serial[3]))
		service_add("console-ttyS0", console_serial);
	if (tty_works(console_screen[3]))
		service_add("console-tty0", console_screen);
}
