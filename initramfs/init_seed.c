/* Headless mode, PID 1's part: find the seed and hand it to the supervisor,
 * which checks it (vmm/supervisor/seed_parse.c), runs its VMs and, when the
 * seed asks, exits with SUPERVISOR_EXIT_POWEROFF once they have all ended.
 *
 * Sources, the first one found wins:
 *   1. QEMU's fw_cfg file opt/kvmbox/seed (-fw_cfg name=opt/kvmbox/seed,file=F):
 *      CI hands a seed over without making a disk;
 *   2. kvmbox.seed=PATH (absolute) or kvmbox.seed=http://HOST[:PORT]/PATH
 *      (PXE: fetched once the network has an address);
 *   3. /data/seed.json on the KVMBOX-DATA partition.
 * kvmbox.seedsha256=HEX pins the seed, whichever source gave it: plain HTTP
 * can be tampered with on the way, and a pin is what makes it safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "init.h"
#include "log.h"
#include "seed_http.h"
#include "supervisor/seed_parse.h"

#define SEED_FW_CFG "/sys/firmware/qemu_fw_cfg/by_name/opt/kvmbox/seed/raw"
#define SEED_FETCH_DEADLINE_S 60 /* kvmbox.seedwait= changes it */
#define SEED_FETCH_DEADLINE_MAX_S 600

static char seed_buf[SEED_MAX_BYTES];

/* A whole file of at most size bytes: its length, or -errno (-EFBIG when
 * larger). sysfs files give their size as 4096, so read to the end. */
static int read_all(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	for (;;) {
		char extra;
		ssize_t n = len < size ? read(fd, buf + len, size - len) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n > 0 && len == size)) {
			int r = n < 0 ? -errno : -EFBIG;
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return (int)len;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* kvmbox.seedsha256=HEX, when given, must match. 0 or -EACCES (logged). */
static int check_pin(const char *cmdline, const char *from, size_t len)
{
	char want_hex[80];
	int r = cmdline_get(cmdline, "kvmbox.seedsha256", want_hex, sizeof(want_hex));
	if (r == 0)
		return 0;
	uint8_t want[32], got[32];
	char got_hex[65];
	if (r < 0 || seed_hex32(want_hex, want) < 0) {
		log_error("seed: kvmbox.seedsha256 must be 64 hex digits (sha256sum prints them); refusing the seed "
			  "from %s, no VMs are started", from);
		return -EACCES;
	}
	auth_sha256(seed_buf, len, got);
	hex(got, sizeof(got), got_hex);
	if (memcmp(want, got, sizeof(got))) {
		log_error("seed: the seed from %s has sha256 %s, not the %s that kvmbox.seedsha256 pins; refusing it "
			  "(changed on the way, or the pin is out of date), no VMs are started", from, got_hex, want_hex);
		return -EACCES;
	}
	log_info("seed: sha256 %s matches kvmbox.seedsha256", got_hex);
	return 0;
}

/* Copy the seed where the supervisor reads it, readable by root only. */
static int hand_over(size_t len)
{
	mkdir(SEED_RUN_DIR, 0700);
	int fd = open(SEED_RUN_PATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	int r = fchmod(fd, 0600) < 0 ? -errno : 0;
	while (!r && off < len) {
		ssize_t n = write(fd, seed_buf + off, len - off);
		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r < 0)
		unlink(SEED_RUN_PATH);
	return r;
}

/* kvmbox.seed=http://...: fetched into seed_buf. Its length or -errno (logged). */
static int seed_from_url(const char *cmdline, const char *url)
{
	char err[256], w[16];
	double wait_s = SEED_FETCH_DEADLINE_S;
	if (cmdline_get(cmdline, "kvmbox.seedwait", w, sizeof(w)) == 1)
		wait_s = atof(w);
	if (!(wait_s > 0 && wait_s <= SEED_FETCH_DEADLINE_MAX_S)) /* also refuses nan */
		wait_s = SEED_FETCH_DEADLINE_S;
	struct seed_url u;
	int n = seed_url_parse(url, &u, err, sizeof(err));
	if (n < 0) {
		log_error("seed: kvmbox.seed=%s: %s; no seed is run", url, err);
		return n;
	}
	log_info("seed: fetching %s (giving up after %g s)", url, wait_s);
	n = seed_fetch(url, seed_buf, sizeof(seed_buf), wait_s, err, sizeof(err));
	if (n < 0)
		log_error("seed: fetching %s: %s; no seed is run", url, err);
	else if (n == 0)
		log_error("seed: %s is empty; no seed is run", url);
	return n ? n : -ENODATA;
}

/* The seed's text into seed_buf from the first source that has one. Returns
 * its length, 0 when there is none, or -errno (logged): a seed that was asked
 * for but cannot be had is an error, not a reason to fall back to another. */
static int seed_read(const char *cmdline, char *from, size_t fromsize)
{
	int n = read_all(SEED_FW_CFG, seed_buf, sizeof(seed_buf));
	if (n != -ENOENT) { /* there is one, readable or not */
		snprintf(from, fromsize, "fw_cfg opt/kvmbox/seed");
	} else {
		char opt[SEED_URL_PATH_MAX + SEED_HOST_MAX + 16];
		int given = cmdline_get(cmdline, "kvmbox.seed", opt, sizeof(opt));
		if (given < 0) {
			log_error("seed: kvmbox.seed= is longer than %zu characters; no seed is run", sizeof(opt) - 1);
			return -ENAMETOOLONG;
		}
		if (given && seed_is_url(opt)) {
			snprintf(from, fromsize, "%s", opt);
			return seed_from_url(cmdline, opt);
		}
		if (given && opt[0] != '/') {
			log_error("seed: kvmbox.seed=%s: give an absolute path (e.g. /data/seed.json) or an "
				  "http:// URL; no seed is run", opt);
			return -EINVAL;
		}
		snprintf(from, fromsize, "%s", given ? opt : DATA_MOUNT "/seed.json");
		n = read_all(from, seed_buf, sizeof(seed_buf));
		if (n == -ENOENT && !given)
			return 0; /* no seed: the usual case */
	}
	if (n == 0)
		n = -ENODATA; /* an empty file is a mistake, not "no seed" */
	if (n == -EFBIG)
		log_error("seed: %s is larger than %d KiB; no seed is run", from, SEED_MAX_BYTES / 1024);
	else if (n == -ENODATA)
		log_error("seed: %s is empty; no seed is run", from);
	else if (n < 0)
		log_error("seed: %s: %s; no seed is run", from, strerror(-n));
	return n;
}

int seed_find(const char *cmdline)
{
	char from[SEED_URL_PATH_MAX + SEED_HOST_MAX + 32];
	int n = seed_read(cmdline, from, sizeof(from));
	if (n <= 0)
		return n;
	log_info("seed: from %s (%d bytes)", from, n);
	int r = check_pin(cmdline, from, (size_t)n);
	if (r < 0)
		return r;
	r = hand_over((size_t)n);
	if (r < 0) {
		log_error("seed: writing %s: %s; no seed is run", SEED_RUN_PATH, strerror(-r));
		return r;
	}
	log_info("seed: handing %s to the supervisor (--seed %s)", from, SEED_RUN_PATH);
	return 1;
}
