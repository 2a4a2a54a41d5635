/* The stored settings at boot; see net_settings.h. The file is checked by
 * the same parser as the API (vmm/api/settings.c), because anyone with the
 * USB stick can edit it. */
#include "net_settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/settings.h"

/* Without the supervisor's state.c: PID 1 needs only a bounded read. */
static int read_file(const char *path, char *buf, size_t size, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == size) { /* one byte more than allowed: too large */
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	*len = n;
	return 0;
}

int net_settings_load(const char *state_dir, struct net_config *out, char *why, size_t why_size)
{
	static char text[SETTINGS_MAX_BYTES + 1];
	char path[256];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", state_dir, SETTINGS_FILE);
	int r = read_file(path, text, sizeof(text), &len);
	if (r == -ENOENT)
		return 0;
	if (r) {
		snprintf(why, why_size, "%s: %s", path,
			 r == -EFBIG ? "larger than a settings file can be" : strerror(-r));
		return r;
	}
	struct settings s;
	char inner[200];
	settings_default(&s);
	r = settings_parse(text, len, true, &s, inner, sizeof(inner));
	if (r) {
		snprintf(why, why_size, "%s: %s", path, inner);
		return r;
	}
	if (sethostname(s.hostname, strlen(s.hostname)) != 0) {
		int e = errno;
		snprintf(why, why_size, "setting the host name to %s: %s", s.hostname, strerror(e));
		return -e;
	}
	if (!out)
		return 1;
	if (!out->hostname[0])
		snprintf(out->hostname, sizeof(out->hostname), "%s", s.hostname);
	if (!s.net_static) {
		out->mode = NET_DHCP;
		return 1;
	}
	out->mode = NET_STATIC;
	out->addr = s.addr;
	out->prefix = s.prefix;
	out->gw = s.gw;
	memset(out->dns, 0, sizeof(out->dns));
	for (int i = 0; i < s.ndns && i < (int)(sizeof(out->dns) / sizeof(out->dns[0])); i++)
		out->dns[i] = s.dns[i];
	return 1;
}
