/* `kvmbox console`: the appliance's text console (like a DCUI) on the
 * serial port and the screen. No shell: a status screen and a menu, all
 * through the supervisor's API on its local socket (plain HTTP, the admin
 * without a password; see vmm/api/api_auth_gate.c).
 *
 * The tty is shared with PID 1's log lines and the kernel's messages, which
 * keep going to the same console so that nothing is hidden from whoever
 * debugs a boot. So the screen is split: the top rows are ours and drawn by
 * this program (only the lines that changed, so a refresh costs a line or
 * two at 115200 baud); the last CON_MSG_ROWS rows are a scroll region
 * (DECSTBM) where the cursor is parked between draws, so that foreign lines
 * land and scroll there without touching the rest. Any key that means
 * nothing on a screen, and a timer, redraw everything, for the rare message
 * printed in the middle of a draw.
 */
#ifndef KVMBOX_CONSOLE_H
#define KVMBOX_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"

#define CON_MAX_ROWS 100
#define CON_MAX_COLS 200
#define CON_MSG_ROWS 4 /* the scroll region for log and kernel lines */
#define CON_SOCKET_DEFAULT "/run/kvmbox/api.sock"
#define CON_REFRESH_MS 2000
#define CON_FULL_REDRAW_MS 60000

/* ---- console_screen.c: what is drawn ---- */
enum { A_NORMAL = 0, A_BOLD = 1, A_REV = 2 };

struct screen {
	int fd;
	int rows, cols; /* the terminal */
	int body;       /* rows 0..body-1 are ours; then a separator and the region */
	bool valid;     /* cur matches the terminal */
	char cur[CON_MAX_ROWS][CON_MAX_COLS];
	char next[CON_MAX_ROWS][CON_MAX_COLS];
	uint8_t cur_a[CON_MAX_ROWS][CON_MAX_COLS];
	uint8_t next_a[CON_MAX_ROWS][CON_MAX_COLS];
};

void scr_init(struct screen *s, int fd);
void scr_clear(struct screen *s); /* start a new frame: every row blank */
/* printf at row, col (0-based) of the new frame; clipped at the edge. */
void scr_text(struct screen *s, int row, int col, int attr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void scr_fill(struct screen *s, int row, int attr); /* a whole row in attr */
int scr_flush(struct screen *s);                     /* send what changed; 0 or -errno */
void scr_invalidate(struct screen *s);               /* next flush clears and redraws all */
void scr_touch(struct screen *s); /* next flush redraws our rows, leaving the region's lines */
/* Give the whole terminal back (no region, cleared), for an attached VM
 * console and at exit. */
void scr_release(struct screen *s, bool clear);
int scr_write(int fd, const void *buf, size_t len); /* all of it; 0 or -errno */

/* ---- console_input.c: the tty and keys ---- */
enum {
	K_UP = 0x100,
	K_DOWN,
	K_LEFT,
	K_RIGHT,
	K_PGUP,
	K_PGDN,
	K_HOME,
	K_END,
	K_ESC,
	K_ENTER,
	K_BACKSPACE,
};
#define K_CTRL(c) ((c) & 0x1f)
#define CON_DETACH 0x1d /* Ctrl-] */

struct con {
	int fd; /* the tty */
	const char *sock;
	struct screen scr;
	unsigned char in[256]; /* bytes read, not yet made into keys */
	size_t in_len;
	char msg[160]; /* the last action's result, on the message row */
	bool msg_bad;
};

int con_tty_open(struct con *c, const char *path); /* raw input, output untouched */
void con_tty_restore(void);
/* The next key within timeout_ms: a K_* or a byte; 0 on timeout; -errno. */
int con_key(struct con *c, int timeout_ms);
/* The raw bytes already read or readable now (for an attached console). */
ssize_t con_raw(struct con *c, void *buf, size_t size, int timeout_ms);
uint64_t con_now_ms(void);

/* ---- console_ui.c: frames, prompts, questions ---- */
void ui_frame(struct con *c, const char *title, const char *help);
void ui_msg(struct con *c, bool bad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Read a line on row: 0, or -ECANCELED on Esc. echo false: nothing shown. */
int ui_prompt(struct con *c, int row, const char *label, char *buf, size_t size, bool echo);
bool ui_confirm(struct con *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- console_api.c: HTTP/1.1 over the local socket ---- */
struct capi_resp {
	int status;
	char *buf;        /* the whole reply (malloc) */
	const char *body; /* into buf, NUL-terminated */
	size_t len;
	bool has_offset;
	uint64_t offset; /* X-Console-Offset */
};

/* One request (Connection: close). 0 with r filled (any status), or -errno
 * when the supervisor could not be asked. */
int capi_call(const char *sock, const char *method, const char *path, const char *ctype, const void *body,
	      size_t blen, int timeout_ms, struct capi_resp *r);
void capi_free(struct capi_resp *r);
/* The reply's error message ({"error":{"message"}}), or a generic one. */
void capi_error(const struct capi_resp *r, char *buf, size_t size);
/* Parse the reply body as JSON; 0 or -errno. *tok is malloc'd. */
int capi_json(const struct capi_resp *r, struct json_doc *d, struct json_token **tok);
/* A call whose failure is said on the message row: the status, or -1. */
int capi_do(struct con *c, const char *method, const char *path, const char *json, int timeout_ms,
	    struct capi_resp *r);

/* ---- screens ---- */
int con_home(struct con *c);    /* console_status.c: the status screen and menu; never returns */
void con_network(struct con *c); /* console_menu.c */
void con_password(struct con *c);
void con_certificate(struct con *c);
void con_power(struct con *c, bool reboot);
void con_vms(struct con *c); /* console_vms.c */
void con_attach(struct con *c, const char *vm);
void con_log(struct con *c); /* console_log.c */

#endif
