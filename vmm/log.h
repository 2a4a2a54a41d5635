/* kvmbox logging: one logger for every subcommand.
 *
 * Each line carries a monotonic timestamp (seconds since boot, like the
 * kernel's) and a level. A line goes to every registered sink: console file
 * descriptors (ttyS0, tty0, stderr), an in-memory ring that the API will serve,
 * and an optional log file (/data/log/kvmbox.log when /data is mounted).
 */
#ifndef KVMBOX_LOG_H
#define KVMBOX_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

#define LOG_MAX_CONSOLES 4
#define LOG_RING_SIZE (64 * 1024)   /* bytes of recent log kept in memory */
#define LOG_LINE_MAX 1024           /* longer messages are truncated with "..." */
#define LOG_FILE_MAX (1024 * 1024)  /* the log file is rotated to .1 past this */

void log_set_level(enum log_level level);
/* Add a console sink; fd is owned by the logger from now on. */
int log_add_console(int fd);
void log_close_consoles(void);
/* Start (path != NULL) or stop (NULL) appending to a log file. */
int log_set_file(const char *path);
/* Name put in front of each message ("kvmbox" by default). */
void log_set_tag(const char *tag);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);
/* A line without the "tag: " prefix: "[   2.583] kvmbox ready ...". */
void log_plain(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Format one log line into buf (always NUL-terminated, ends in '\n').
 * Exposed for tests. Returns the length. */
size_t log_format(char *buf, size_t size, double seconds, enum log_level level,
		  const char *tag, const char *msg);

/* Copy the newest up to size-1 bytes of the ring into buf, starting at a line
 * boundary. Returns the number of bytes copied. */
size_t log_ring_read(char *buf, size_t size);

#endif
