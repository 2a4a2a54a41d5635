/* kvmbox logging; see log.h. Single-threaded callers today, but sinks are
 * written under a mutex so that VMM threads can log later without tearing. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level = LOG_INFO;
static int log_consoles[LOG_MAX_CONSOLES];
static int log_nconsoles;
static int log_file_fd = -1;
static char log_file_path[256];
static const char *log_tag = "kvmbox";

static char log_ring[LOG_RING_SIZE];
static size_t log_ring_head; /* next write position */
static int log_ring_wrapped;

static const char *const level_names[] = {
	[LOG_ERROR] = "error: ",
	[LOG_WARN] = "warning: ",
	[LOG_INFO] = "",
	[LOG_DEBUG] = "debug: ",
};

void log_set_level(enum log_level level) { log_level = level; }
void log_set_tag(const char *tag) { log_tag = tag; }

int log_add_console(int fd)
{
	if (log_nconsoles >= LOG_MAX_CONSOLES)
		return -ENOSPC;
	log_consoles[log_nconsoles++] = fd;
	return 0;
}

void log_close_consoles(void)
{
	for (int i = 0; i < log_nconsoles; i++)
		if (log_consoles[i] > 2)
			close(log_consoles[i]);
	log_nconsoles = 0;
}

int log_set_file(const char *path)
{
	pthread_mutex_lock(&log_lock);
	if (log_file_fd >= 0)
		close(log_file_fd);
	log_file_fd = -1;
	int ret = 0;
	if (path) {
		snprintf(log_file_path, sizeof(log_file_path), "%s", path);
		log_file_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (log_file_fd < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&log_lock);
	return ret;
}

size_t log_format(char *buf, size_t size, double seconds, enum log_level level,
		  const char *tag, const char *msg)
{
	if (size < 2)
		return 0;
	if ((unsigned)level > LOG_DEBUG)
		level = LOG_ERROR;
	/* A NULL tag gives a line that reads as a sentence of its own, such as
	 * the "kvmbox ready" line that people and scripts wait for. */
	int n = tag ? snprintf(buf, size, "[%9.3f] %s: %s%s", seconds, tag, level_names[level], msg)
		    : snprintf(buf, size, "[%9.3f] %s%s", seconds, level_names[level], msg);
	size_t len = n < 0 ? 0 : (size_t)n;
	if (len >= size - 1) {
		/* Truncated: say so rather than cut silently. */
		len = size - 2;
		if (size > 6)
			memcpy(buf + len - 3, "...", 3);
	}
	/* One message is one line: a stray newline inside would forge a line. */
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a dead console must not stop the others */
		p += n;
		len -= (size_t)n;
	}
}

static void ring_append(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		log_ring[log_ring_head++] = p[i];
		if (log_ring_head == LOG_RING_SIZE) {
			log_ring_head = 0;
			log_ring_wrapped = 1;
		}
	}
}

size_t log_ring_read(char *buf, size_t size)
{
	if (!size)
		return 0;
	pthread_mutex_lock(&log_lock);
	size_t avail = log_ring_wrapped ? LOG_RING_SIZE : log_ring_head;
	size_t want = avail < size - 1 ? avail : size - 1;
	size_t start = (log_ring_head + LOG_RING_SIZE - want) % LOG_RING_SIZE;
	for (size_t i = 0; i < want; i++)
		buf[i] = log_ring[(start + i) % LOG_RING_SIZE];
	pthread_mutex_unlock(&log_lock);
	buf[want] = '\0';
	/* Skip a partial first line when the ring had more than we copied. */
	size_t skip = 0;
	if (want < avail || log_ring_wrapped) {
		char *nl = memchr(buf, '\n', want);
		skip = nl ? (size_t)(nl - buf) + 1 : 0;
	}
	memmove(buf, buf + skip, want - skip + 1);
	return want - skip;
}

static void file_rotate_locked(void)
{
	struct stat st;
	if (log_file_fd < 0 || fstat(log_file_fd, &st) || st.st_size < LOG_FILE_MAX)
		return;
	char old[sizeof(log_file_path) + 2];
	snprintf(old, sizeof(old), "%s.1", log_file_path);
	rename(log_file_path, old);
	close(log_file_fd);
	log_file_fd = open(log_file_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

static void log_vmsg_tag(enum log_level level, const char *tag, const char *fmt, va_list ap);

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	log_vmsg_tag(level, log_tag, fmt, ap);
}

void log_plain(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg_tag(level, NULL, fmt, ap);
	va_end(ap);
}

static void log_vmsg_tag(enum log_level level, const char *tag, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	int saved = errno;
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 64];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	size_t len = log_format(line, sizeof(line), (double)ts.tv_sec + ts.tv_nsec / 1e9, level, tag, msg);

	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_nconsoles; i++)
		write_all(log_consoles[i], line, len);
	ring_append(line, len);
	if (log_file_fd >= 0) {
		write_all(log_file_fd, line, len);
		file_rotate_locked();
	}
	pthread_mutex_unlock(&log_lock);
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
