/* Drawing for the text console: a frame is built in memory (next), then
 * only the rows that differ from what the terminal shows (cur) are sent,
 * each as one positioned line. Plain ANSI/VT100: cursor position, erase,
 * bold, reverse and the scroll region; ASCII only, since a serial terminal
 * may not speak UTF-8. See console.h for the layout. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "console/console.h"

/* Worst case: an attribute change at every cell. */
#define OUT_MAX (CON_MAX_ROWS * (CON_MAX_COLS * 12 + 32) + 1024)

int scr_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			usleep(10000); /* a slow serial line: its buffer is full */
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The size from TIOCGWINSZ; a serial port has none (0x0): 80x24. */
static void scr_size(struct screen *s)
{
	struct winsize ws;
	s->rows = 24;
	s->cols = 80;
	if (ioctl(s->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row >= 12 && ws.ws_col >= 40) {
		s->rows = ws.ws_row > CON_MAX_ROWS ? CON_MAX_ROWS : ws.ws_row;
		s->cols = ws.ws_col > CON_MAX_COLS ? CON_MAX_COLS : ws.ws_col;
	}
	s->body = s->rows - CON_MSG_ROWS - 1;
}

void scr_init(struct screen *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	scr_size(s);
	scr_clear(s);
}

void scr_clear(struct screen *s)
{
	memset(s->next, ' ', sizeof(s->next));
	memset(s->next_a, A_NORMAL, sizeof(s->next_a));
}

void scr_text(struct screen *s, int row, int col, int attr, const char *fmt, ...)
{
	char buf[CON_MAX_COLS + 1];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (row < 0 || row >= s->body || col < 0)
		return;
	for (size_t i = 0; buf[i] && col < s->cols; i++, col++) {
		unsigned char ch = (unsigned char)buf[i];
		/* Whatever a VM name or a log line holds, never a control
		 * character or a byte a terminal could take as a command. */
		s->next[row][col] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		s->next_a[row][col] = (uint8_t)attr;
	}
}

void scr_fill(struct screen *s, int row, int attr)
{
	if (row >= 0 && row < s->body)
		memset(s->next_a[row], attr, sizeof(s->next_a[row]));
}

void scr_invalidate(struct screen *s)
{
	s->valid = false;
}

void scr_touch(struct screen *s)
{
	memset(s->cur, 0, sizeof(s->cur)); /* no row matches: each is drawn again */
}

static size_t sgr(char *o, int attr)
{
	return (size_t)sprintf(o, "\033[0%s%sm", attr & A_BOLD ? ";1" : "", attr & A_REV ? ";7" : "");
}

/* One row: position, the text in runs of one attribute, erase the rest. */
static size_t draw_row(const struct screen *s, int r, char *o)
{
	size_t n = (size_t)sprintf(o, "\033[%d;1H", r + 1);
	int end = s->cols;
	while (end > 0 && s->next[r][end - 1] == ' ' && s->next_a[r][end - 1] == A_NORMAL)
		end--;
	int attr = -1;
	for (int i = 0; i < end; i++) {
		if (s->next_a[r][i] != attr) {
			attr = s->next_a[r][i];
			n += sgr(o + n, attr);
		}
		o[n++] = s->next[r][i];
	}
	if (attr != A_NORMAL)
		n += sgr(o + n, A_NORMAL);
	if (end < s->cols)
		n += (size_t)sprintf(o + n, "\033[K");
	return n;
}

int scr_flush(struct screen *s)
{
	static char out[OUT_MAX];
	size_t n = 0;
	if (!s->valid) {
		int rows = s->rows;
		scr_size(s);
		if (rows != s->rows)
			scr_clear(s); /* the frame was laid out for another size */
		/* Reset, clear, and make the last rows the region for other
		 * writers' lines; a separator says what they are. */
		n += (size_t)sprintf(out + n, "\033[0m\033[r\033[2J\033[%d;%dr", s->body + 2, s->rows);
		n += (size_t)sprintf(out + n, "\033[%d;1H\033[1m-- messages (kernel and log) ", s->body + 1);
		for (int i = 29; i < s->cols; i++)
			out[n++] = '-';
		n += sgr(out + n, A_NORMAL);
		memset(s->cur, 0, sizeof(s->cur)); /* nothing matches: every row is drawn */
	}
	bool any = !s->valid;
	for (int r = 0; r < s->body; r++) {
		if (!memcmp(s->cur[r], s->next[r], (size_t)s->cols) && !memcmp(s->cur_a[r], s->next_a[r], (size_t)s->cols))
			continue;
		n += draw_row(s, r, out + n);
		memcpy(s->cur[r], s->next[r], sizeof(s->cur[r]));
		memcpy(s->cur_a[r], s->next_a[r], sizeof(s->cur_a[r]));
		any = true;
	}
	s->valid = true;
	if (!any)
		return 0;
	/* Park the cursor on the region's last row, getting there with a
	 * newline from the row above: a line printed by someone else then
	 * starts a new line of the byte stream too, and scrolls only the
	 * region. */
	n += (size_t)sprintf(out + n, "\033[%d;1H\n", s->rows - 1);
	return scr_write(s->fd, out, n);
}

void scr_release(struct screen *s, bool clear)
{
	char out[64];
	int n = snprintf(out, sizeof(out), "\033[0m\033[r%s", clear ? "\033[2J\033[H" : "");
	if (!clear)
		n += snprintf(out + n, sizeof(out) - (size_t)n, "\033[%d;1H\n", s->rows - 1);
	scr_write(s->fd, out, (size_t)n);
	s->valid = false;
}
