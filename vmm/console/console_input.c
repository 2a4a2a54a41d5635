/* The console's tty: raw input (no line editing, no echo, no signals from
 * Ctrl-C), with output processing left on, because PID 1 and the kernel
 * write their lines to the same tty and expect "\n" to start a new line.
 * Keys: bytes, and the VT100/xterm escape sequences for arrows and paging;
 * a lone ESC is the Esc key once nothing follows it for a moment. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "console/console.h"

#define ESC_WAIT_MS 60 /* a sequence's bytes come together, even at 9600 baud */

static struct termios saved;
static int saved_fd = -1;

uint64_t con_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int con_tty_open(struct con *c, const char *path)
{
	int fd = path ? open(path, O_RDWR | O_NOCTTY | O_CLOEXEC) : dup(0);
	if (fd < 0)
		return -errno;
	struct termios t;
	if (tcgetattr(fd, &t)) {
		int e = -errno;
		close(fd);
		return e;
	}
	saved = t;
	saved_fd = fd;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag |= CREAD | CLOCAL; /* a serial line without modem signals */
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(fd, TCSANOW, &t);
	c->fd = fd;
	return 0;
}

void con_tty_restore(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSANOW, &saved);
}

/* Read what is there within timeout_ms into c->in: >0, 0 on timeout, -errno. */
static int fill(struct con *c, int timeout_ms)
{
	if (c->in_len == sizeof(c->in))
		return 1;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	int r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		/* A hangup or an error (a UART that went away): poll would say
		 * so again at once, so wait a little instead of spinning. */
		int e = n < 0 ? -errno : -EIO;
		usleep(500000);
		return e;
	}
	c->in_len += (size_t)n;
	return 1;
}

static void take(struct con *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* An escape sequence at the start of c->in: its key, or 0 if unknown. *used
 * is how many bytes it took. */
static int escape(const struct con *c, size_t *used)
{
	const unsigned char *b = c->in;
	size_t n = c->in_len;
	*used = 1;
	if (n < 2 || (b[1] != '[' && b[1] != 'O'))
		return K_ESC;
	size_t i = 2;
	while (i < n && ((b[i] >= '0' && b[i] <= '9') || b[i] == ';'))
		i++;
	if (i >= n)
		return K_ESC;
	*used = i + 1;
	switch (b[i]) {
	case 'A': return K_UP;
	case 'B': return K_DOWN;
	case 'C': return K_RIGHT;
	case 'D': return K_LEFT;
	case 'H': return K_HOME;
	case 'F': return K_END;
	case '~':
		switch (b[2]) {
		case '1': case '7': return K_HOME;
		case '4': case '8': return K_END;
		case '5': return K_PGUP;
		case '6': return K_PGDN;
		default: return 0;
		}
	default: return 0;
	}
}

int con_key(struct con *c, int timeout_ms)
{
	if (!c->in_len) {
		int r = fill(c, timeout_ms < 0 ? 0 : timeout_ms);
		if (r <= 0)
			return r;
	}
	unsigned char b = c->in[0];
	if (b == 0x1b) {
		/* The rest of a sequence may still be on its way. */
		if (c->in_len == 1)
			fill(c, ESC_WAIT_MS);
		if (c->in_len > 1 && c->in[1] == '[' && c->in_len < 4)
			fill(c, ESC_WAIT_MS);
		size_t used;
		int k = escape(c, &used);
		take(c, used);
		return k ? k : con_key(c, 0);
	}
	take(c, 1);
	if (b == '\r' || b == '\n') {
		/* A terminal sending CR LF for Enter: one key, not two. */
		if (b == '\r' && c->in_len && c->in[0] == '\n')
			take(c, 1);
		return K_ENTER;
	}
	if (b == 0x7f || b == 0x08)
		return K_BACKSPACE;
	return b;
}

ssize_t con_raw(struct con *c, void *buf, size_t size, int timeout_ms)
{
	if (!c->in_len) {
		int r = fill(c, timeout_ms);
		if (r <= 0)
			return r;
	}
	size_t n = c->in_len < size ? c->in_len : size;
	memcpy(buf, c->in, n);
	take(c, n);
	return (ssize_t)n;
}
