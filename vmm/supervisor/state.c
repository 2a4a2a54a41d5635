/* The supervisor's state directory; see state.h. */
#include "supervisor/state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int state_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	struct stat st;
	if (stat(path, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int state_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) ? -errno : 0;
	close(fd);
	return r;
}

int state_write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
	char path[PATH_MAX], tmp[PATH_MAX], old[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%d", dir, name, (int)getpid()) >= sizeof(tmp) ||
	    (size_t)snprintf(old, sizeof(old), "%s.1", path) >= sizeof(old))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, data, len);
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (r) {
		unlink(tmp);
		return r;
	}
	/* Keep the version we replace as NAME.1 (a hard link, so that NAME
	 * itself is never missing). */
	if (access(path, F_OK) == 0) {
		unlink(old);
		if (link(path, old) && errno != ENOENT) {
			r = -errno;
			unlink(tmp);
			return r;
		}
	}
	if (rename(tmp, path)) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	return state_sync_dir(dir);
}

int state_read_file(const char *path, size_t max, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* shrank under us: take what is there */
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* /data counts only when something is mounted there: a bare directory on
 * the initramfs is RAM too, and pretending otherwise would lose state. */
static bool data_mounted(void)
{
	struct stat d, root;
	if (stat(STATE_DATA_MOUNT, &d) || !S_ISDIR(d.st_mode) || stat("/", &root))
		return false;
	return d.st_dev != root.st_dev;
}

int state_choose_dir(const char *requested, char *out, size_t size, bool *in_ram)
{
	const char *dir = requested;
	*in_ram = false;
	if (!dir) {
		if (data_mounted()) {
			dir = STATE_DEFAULT_DIR;
		} else {
			dir = STATE_RAM_DIR;
			*in_ram = true;
		}
	}
	if ((size_t)snprintf(out, size, "%s", dir) >= size)
		return -ENAMETOOLONG;
	return state_mkdirs(out, 0700);
}
