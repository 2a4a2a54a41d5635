/* The parts every console screen shares: the title bar, the help row, the
 * message row (what the last action did), a line prompt and a yes/no
 * question. Prompts and questions run their own little key loop: the
 * screen behind them stands still until they are answered. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "console/console.h"

void ui_frame(struct con *c, const char *title, const char *help)
{
	struct screen *s = &c->scr;
	scr_clear(s);
	scr_fill(s, 0, A_REV);
	scr_text(s, 0, 0, A_REV, " kvmbox %s - %s", KVMBOX_VERSION, title);
	if (help)
		scr_text(s, s->body - 2, 1, A_NORMAL, "%s", help);
	if (c->msg[0])
		scr_text(s, s->body - 1, 1, c->msg_bad ? A_REV : A_BOLD, "%s", c->msg);
}

void ui_msg(struct con *c, bool bad, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->msg_bad = bad;
}

int ui_prompt(struct con *c, int row, const char *label, char *buf, size_t size, bool echo)
{
	struct screen *s = &c->scr;
	size_t len = strlen(buf);
	for (;;) {
		memset(s->next[row], ' ', sizeof(s->next[row]));
		memset(s->next_a[row], A_NORMAL, sizeof(s->next_a[row]));
		int col = 2 + (int)strlen(label) + 1;
		scr_text(s, row, 2, A_BOLD, "%s", label);
		/* The field's end stays visible when the text is longer than the row. */
		size_t room = (size_t)(s->cols - col - 2), from = len > room ? len - room : 0;
		if (echo)
			scr_text(s, row, col, A_NORMAL, "%s_", buf + from);
		else
			scr_text(s, row, col, A_NORMAL, "_ (typing is not shown)");
		scr_text(s, s->body - 2, 1, A_NORMAL, "Enter: accept   Backspace: erase   Ctrl-U: clear   Esc: cancel");
		scr_flush(s);
		int k = con_key(c, 30000);
		if (k < 0)
			return k;
		if (k == K_ESC)
			return -ECANCELED;
		if (k == K_ENTER)
			return 0;
		if (k == K_BACKSPACE && len)
			buf[--len] = '\0';
		else if (k == K_CTRL('u'))
			buf[len = 0] = '\0';
		else if (k >= 0x20 && k < 0x7f && len + 1 < size) {
			buf[len++] = (char)k;
			buf[len] = '\0';
		}
	}
}

bool ui_confirm(struct con *c, const char *fmt, ...)
{
	struct screen *s = &c->scr;
	char q[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	int row = s->body - 1;
	memset(s->next[row], ' ', sizeof(s->next[row]));
	memset(s->next_a[row], A_NORMAL, sizeof(s->next_a[row]));
	scr_text(s, row, 1, A_REV, " %s [y/N] ", q);
	scr_flush(s);
	/* Anything but y, or a minute of silence, is a no. */
	int k = con_key(c, 60000);
	if (k == 'y' || k == 'Y')
		return true;
	ui_msg(c, false, "cancelled");
	return false;
}
