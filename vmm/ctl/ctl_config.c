/* kvmbox ctl: the files under ~/.config/kvmbox and reading passwords.
 *
 *   known_hosts  "HOST:PORT FINGERPRINT" lines: certificates the user vouched
 *                for with --fingerprint
 *   token        "https://HOST:PORT TOKEN" lines from `ctl login`, mode
 *                0600; the latest login first, which is the server used
 *                when neither --url nor KVMBOX_URL names one
 * Both are rewritten whole, atomically (temporary file, fsync, rename), so a
 * crash never leaves half a file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define KV_FILE_MAX (256 * 1024)

int ctl_config_path(char *buf, size_t size, const char *file)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/kvmbox/%s", xdg, file);
	else if (home && home[0])
		n = snprintf(buf, size, "%s/.config/kvmbox/%s", home, file);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ctl_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(0);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	int r = buf ? 0 : -ENOMEM;
	while (!r) {
		if (n == cap) {
			if (cap >= max) {
				r = -EFBIG;
				break;
			}
			cap = cap * 2 > max ? max : cap * 2;
			char *b = realloc(buf, cap + 1);
			if (!b) {
				r = -ENOMEM;
				break;
			}
			buf = b;
		}
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = -errno;
		else if (k == 0)
			break;
		else
			n += (size_t)k;
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* The line of text (NUL-terminated at its end) for key, or NULL. */
static char *kv_find(char *text, const char *key, char **line_end)
{
	size_t kl = strlen(key);
	for (char *p = text; *p;) {
		char *e = p + strcspn(p, "\n");
		if ((size_t)(e - p) > kl && !strncmp(p, key, kl) && p[kl] == ' ') {
			*line_end = e;
			return p;
		}
		p = *e ? e + 1 : e;
	}
	return NULL;
}

static void copy_value(const char *v, const char *end, char *val, size_t size)
{
	while (v < end && *v == ' ')
		v++;
	size_t n = (size_t)(end - v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\r'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(val, v, n);
	val[n] = '\0';
}

int ctl_kv_get(const char *file, const char *key, char *val, size_t size)
{
	char *text, *end;
	size_t len;
	int r = ctl_read_file(file, KV_FILE_MAX, &text, &len);
	if (r)
		return r;
	char *line = kv_find(text, key, &end);
	if (line)
		copy_value(line + strlen(key) + 1, end, val, size);
	free(text);
	return line ? 0 : -ENOENT;
}

int ctl_kv_first(const char *file, char *key, size_t ksize, char *val, size_t vsize)
{
	char *text;
	size_t len;
	int r = ctl_read_file(file, KV_FILE_MAX, &text, &len);
	if (r)
		return r;
	char *e = text + strcspn(text, "\n"), *sp = memchr(text, ' ', (size_t)(e - text));
	r = -ENOENT;
	if (sp && sp > text && (size_t)(sp - text) < ksize) {
		memcpy(key, text, (size_t)(sp - text));
		key[sp - text] = '\0';
		copy_value(sp + 1, e, val, vsize);
		r = 0;
	}
	free(text);
	return r;
}

static int mkdirs(const char *file)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s", file);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Put key first with val (val NULL: drop it), the other lines after. */
int ctl_kv_put(const char *file, const char *key, const char *val)
{
	char *text = NULL, *end, tmp[600];
	size_t len = 0;
	int r = ctl_read_file(file, KV_FILE_MAX, &text, &len);
	if (r == -ENOENT)
		r = 0, text = NULL;
	if (r)
		return r;
	r = mkdirs(file);
	if (r) {
		free(text);
		return r;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", file, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		free(text);
		return r;
	}
	if (val)
		fprintf(f, "%s %s\n", key, val);
	if (text) {
		char *line;
		while ((line = kv_find(text, key, &end)))
			memmove(line, *end ? end + 1 : end, strlen(*end ? end + 1 : end) + 1);
		fputs(text, f);
		if (text[0] && text[strlen(text) - 1] != '\n')
			fputc('\n', f);
	}
	free(text);
	r = fflush(f) || fsync(fileno(f)) ? -errno : 0;
	if (fclose(f) && !r)
		r = -errno;
	if (!r && rename(tmp, file))
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int ctl_fingerprint_norm(const char *in, char out[CTL_FP_LEN])
{
	int n = 0;
	for (const char *p = in; *p; p++) {
		if (*p == ':' || *p == ' ')
			continue;
		if (!isxdigit((unsigned char)*p) || n >= 64)
			return -EINVAL;
		out[n / 2 * 3 + n % 2] = (char)toupper((unsigned char)*p);
		if (n % 2)
			out[n / 2 * 3 + 2] = n == 63 ? '\0' : ':';
		n++;
	}
	return n == 64 ? 0 : -EINVAL;
}

static int strip_line(char *buf)
{
	size_t n = strcspn(buf, "\r\n");
	bool whole = buf[n] != '\0';
	buf[n] = '\0';
	return whole ? 0 : -E2BIG;
}

int ctl_read_line_tty(const char *prompt, char *buf, size_t size)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return -ENOTTY;
	fputs(prompt, tty);
	fflush(tty);
	int r = fgets(buf, (int)size, tty) ? strip_line(buf) : -EIO;
	fclose(tty);
	return r;
}

int ctl_read_secret(const char *prompt, bool from_stdin, char *buf, size_t size)
{
	if (from_stdin) {
		if (!fgets(buf, (int)size, stdin))
			return -ENODATA;
		return strip_line(buf);
	}
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -ENOTTY;
	struct termios old, quiet;
	bool term = tcgetattr(fd, &old) == 0;
	if (term) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; reading still works */
	}
	size_t n = 0;
	int r = 0;
	for (;;) {
		char ch;
		ssize_t k = read(fd, &ch, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = n ? 0 : -ENODATA;
			break;
		}
		if (ch == '\n' || ch == '\r')
			break;
		if (n + 1 >= size) {
			r = -E2BIG;
			continue;
		}
		buf[n++] = ch;
	}
	buf[n] = '\0';
	if (term)
		tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	return r;
}
