/* The console's log viewer: the supervisor's log ring (GET /api/logs),
 * newest at the bottom, scrolled with the arrows and Page Up/Down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"

#define LOG_MAX_LINES 20000

void con_log(struct con *c)
{
	struct screen *s = &c->scr;
	struct capi_resp r = { 0 };
	static const char *line[LOG_MAX_LINES];
	static int len[LOG_MAX_LINES];
	int n = 0, top = -1;
	bool reload = true;
	for (;;) {
		if (reload) {
			capi_free(&r);
			n = 0;
			if (capi_do(c, "GET", "/api/logs", NULL, 10000, &r) == 200) {
				for (const char *p = r.body, *e = r.body + r.len; p < e && n < LOG_MAX_LINES;) {
					const char *nl = memchr(p, '\n', (size_t)(e - p));
					line[n] = p;
					len[n++] = (int)((nl ? nl : e) - p);
					p = nl ? nl + 1 : e;
				}
			}
			top = -1;
			reload = false;
		}
		int page = s->body - 4, last = n > page ? n - page : 0;
		if (top < 0 || top > last)
			top = last;
		ui_frame(c, "log", "Up/Down, PgUp/PgDn, Home/End: scroll   R: reload   Esc: back");
		for (int i = 0; i < page && top + i < n; i++)
			scr_text(s, 1 + i, 0, A_NORMAL, "%.*s", len[top + i] > s->cols ? s->cols : len[top + i],
				 line[top + i]);
		char pos[48];
		snprintf(pos, sizeof(pos), "lines %d-%d of %d ", n ? top + 1 : 0, top + page < n ? top + page : n, n);
		scr_text(s, 0, s->cols - (int)strlen(pos), A_REV, "%s", pos);
		scr_flush(s);
		int k = con_key(c, 60000);
		if (k < 0 || k == K_ESC)
			break;
		switch (k) {
		case K_UP: top = top > 0 ? top - 1 : 0; break;
		case K_DOWN: top = top < last ? top + 1 : last; break;
		case K_PGUP: top = top > page ? top - page : 0; break;
		case K_PGDN: top = top + page < last ? top + page : last; break;
		case K_HOME: top = 0; break;
		case K_END: top = last; break;
		case 'r': case 'R': reload = true; break;
		default: break;
		}
	}
	capi_free(&r);
}
