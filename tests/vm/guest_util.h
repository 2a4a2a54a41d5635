/* Helpers of the test guest's programs, tests/vm/guest_*.c: each is one
 * static binary in the guest's initramfs, so this header holds static
 * functions (inline only so that a program that does not use one gets no
 * warning) and each program includes it once.
 *
 *   say()        one line "PREFIX...\n" on stdout, the guest console, with
 *                one write(): the console is shared with the kernel. PREFIX
 *                is GUEST_SAY_PREFIX, "KVMBOX-GUEST: " unless the program
 *                defines it before the include; with GUEST_SAY_DRAIN
 *                defined, say() returns once the line is on the wire.
 *   read_file()  a small file (sysfs, /proc) into a string
 *   boot_param() the value of "key=" (key given with its '=') in a kernel
 *                command line, up to the next space
 */
#ifndef KVMBOX_GUEST_UTIL_H
#define KVMBOX_GUEST_UTIL_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#ifndef GUEST_SAY_PREFIX
#define GUEST_SAY_PREFIX "KVMBOX-GUEST: "
#endif

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
	char line[4400];
	int n = snprintf(line, sizeof(line), "%s", GUEST_SAY_PREFIX);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(1, line, (size_t)n) < 0)
		return;
#ifdef GUEST_SAY_DRAIN
	tcdrain(1);
#endif
}

/* Up to size - 1 bytes of path into buf, NUL-terminated. The byte count,
 * or -1 (buf is "" then) when the file cannot be read or is empty. */
static inline int read_file(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (int)n : -1;
}

/* NULL when key is not there. */
static inline const char *boot_param(const char *cmdline, const char *key, char *out, size_t size)
{
	const char *p = strstr(cmdline, key);
	if (!p)
		return NULL;
	p += strlen(key);
	snprintf(out, size, "%.*s", (int)strcspn(p, " \n"), p);
	return out;
}

#endif
