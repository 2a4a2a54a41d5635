/* Headless mode: a seed file says which VMs to start at boot, and whether to
 * power the appliance off once they have all ended. CI systems boot kvmbox
 * in QEMU with a seed, read the guests' output from the serial port, and get
 * the outcome from the last lines.
 *
 *   {"vms": [{"name": "test", "kernel": "/data/bzImage", "initrd": "...",
 *             "cmdline": "console=ttyS0", "mem": "256M", "cpus": 2}],
 *    "poweroff": true}
 *
 * Each VM object takes the keys of `kvmbox vmm --config`. The seed is read
 * from kvmbox.seed=PATH on the kernel command line, else /data/seed.json.
 * Guest serial output is copied to the consoles as "[NAME] line".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "json.h"
#include "log.h"

#define SEED_MAX_BYTES (256 * 1024)
#define SEED_MAX_TOKENS 4096
#define SEED_MAX_VMS 16
#define SEED_LINE_MAX 512 /* a longer guest line is cut into pieces */

struct seed_vm {
	char name[64];
	pid_t pid;
	int out_fd;         /* read end of the VMM's stdout (the guest console) */
	size_t len;
	char line[SEED_LINE_MAX];
	int done;
	int status;
};

static struct seed_vm seed_vms[SEED_MAX_VMS];
static int seed_count, seed_running, seed_poweroff, seed_epfd = -1;

/* VM i of the seed: an object with a safe, unique name (copied to name). */
static int seed_check_vm(const struct json_doc *doc, int vms, int i, char *name, size_t size, char *err,
			 size_t errlen)
{
	int vm = json_array_at(doc, vms, i);
	name[0] = '\0';
	if (json_type(doc, vm) != JSON_OBJECT || json_get_string(doc, json_get(doc, vm, "name"), name, size) <= 0) {
		snprintf(err, errlen, "VM %d of the seed is not an object with a \"name\" (at most %zu bytes)", i + 1,
			 size - 1);
		return -EINVAL;
	}
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
			snprintf(err, errlen, "VM name \"%s\": use letters, digits, - and _ only", name);
			return -EINVAL;
		}
	for (int j = 0; j < i; j++) {
		char other[64] = "";
		json_get_string(doc, json_get(doc, json_array_at(doc, vms, j), "name"), other, sizeof(other));
		if (!strcmp(other, name)) {
			snprintf(err, errlen, "two VMs are named \"%s\"; names must be unique", name);
			return -EINVAL;
		}
	}
	return 0;
}

int seed_load(const char *text, size_t len, char *err, size_t errlen, int (*start)(const char *name, const char *json, size_t n))
{
	static struct json_token tok[SEED_MAX_TOKENS];
	struct json_doc doc;
	struct json_error jerr;
	if (json_parse(&doc, text, len, SEED_MAX_BYTES, tok, SEED_MAX_TOKENS, &jerr) < 0) {
		json_error_format(&jerr, err, errlen);
		return -EINVAL;
	}
	if (json_type(&doc, 0) != JSON_OBJECT) {
		snprintf(err, errlen, "the seed must be a JSON object");
		return -EINVAL;
	}
	struct json_iter it;
	json_iter_init(&it, &doc, 0);
	int k, v, vms = -1;
	while (json_iter_next(&it, &k, &v)) {
		if (json_streq(&doc, k, "vms")) {
			vms = v;
		} else if (json_streq(&doc, k, "poweroff")) {
			bool b;
			if (json_get_bool(&doc, v, &b) < 0) {
				snprintf(err, errlen, "\"poweroff\" must be true or false");
				return -EINVAL;
			}
			seed_poweroff = b;
		} else {
			char key[40] = "";
			json_get_string(&doc, k, key, sizeof(key));
			snprintf(err, errlen, "unknown seed setting \"%s\"", key);
			return -EINVAL;
		}
	}
	int n = json_array_len(&doc, vms);
	if (n < 0) {
		snprintf(err, errlen, "the seed needs a \"vms\" array");
		return -EINVAL;
	}
	if (n > SEED_MAX_VMS) {
		snprintf(err, errlen, "the seed has %d VMs; at most %d are allowed", n, SEED_MAX_VMS);
		return -E2BIG;
	}
	/* Check every VM before starting any, so a bad entry starts nothing. */
	char name[64];
	for (int i = 0; i < n; i++)
		if (seed_check_vm(&doc, vms, i, name, sizeof(name), err, errlen) < 0)
			return -EINVAL;
	for (int i = 0; i < n; i++) {
		int vm = json_array_at(&doc, vms, i);
		seed_check_vm(&doc, vms, i, name, sizeof(name), err, errlen);
		const struct json_token *t = &doc.tok[vm];
		int r = start(name, text + t->start, t->end - t->start);
		if (r < 0) {
			snprintf(err, errlen, "starting VM %s: %s", name, strerror(-r));
			return r;
		}
	}
	return n;
}

static int seed_start_vm(const char *name, const char *json, size_t n)
{
	struct seed_vm *s = &seed_vms[seed_count];
	snprintf(s->name, sizeof(s->name), "%s", name);
	mkdir("/run/kvmbox", 0700);
	char path[128];
	snprintf(path, sizeof(path), "/run/kvmbox/seed-%s.json", name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, json, n) != (ssize_t)n) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	close(fd);
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return r;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		execl("/init", "kvmbox", "vmm", "--config", path, "--serial", "stdio", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	s->pid = pid;
	s->out_fd = pipefd[0];
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->out_fd };
	epoll_ctl(seed_epfd, EPOLL_CTL_ADD, s->out_fd, &ev);
	seed_count++;
	seed_running++;
	log_info("seed: started VM %s (pid %d)", name, (int)pid);
	return 0;
}

int seed_start(const char *cmdline, int epfd)
{
	seed_epfd = epfd;
	char path[256] = DATA_MOUNT "/seed.json";
	int given = cmdline_get(cmdline, "kvmbox.seed", path, sizeof(path)) == 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (given)
			log_error("seed: %s: %s", path, strerror(errno));
		return 0;
	}
	static char text[SEED_MAX_BYTES + 1];
	ssize_t n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0 || n > SEED_MAX_BYTES) {
		log_error("seed: %s: %s", path, n < 0 ? strerror(errno) : "larger than 256 KiB");
		return -EINVAL;
	}
	char err[256];
	log_info("seed: reading %s", path);
	int r = seed_load(text, (size_t)n, err, sizeof(err), seed_start_vm);
	if (r < 0)
		log_error("seed: %s: %s; %s", path, err,
			  seed_count ? "the VMs started before it keep running" : "no VMs started from it");
	return r;
}

/* Copy complete lines of guest output to the consoles, prefixed. */
int seed_output(int fd)
{
	for (int i = 0; i < seed_count; i++) {
		struct seed_vm *s = &seed_vms[i];
		if (s->out_fd != fd)
			continue;
		ssize_t n = read(fd, s->line + s->len, sizeof(s->line) - 1 - s->len);
		if (n <= 0) {
			epoll_ctl(seed_epfd, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
			s->out_fd = -1;
			if (s->len)
				log_info("[%s] %.*s", s->name, (int)s->len, s->line);
			s->len = 0;
			return 1;
		}
		s->len += (size_t)n;
		char *nl;
		while ((nl = memchr(s->line, '\n', s->len)) || s->len == sizeof(s->line) - 1) {
			size_t l = nl ? (size_t)(nl - s->line) : s->len;
			size_t shown = l && s->line[l - 1] == '\r' ? l - 1 : l;
			log_info("[%s] %.*s", s->name, (int)shown, s->line);
			size_t used = nl ? l + 1 : l;
			memmove(s->line, s->line + used, s->len - used);
			s->len -= used;
		}
		return 1;
	}
	return 0;
}

/* A child exited. Returns 1 if it was a seed VM; *all_done when the last one
 * ended and the seed asked for a power-off. */
int seed_reaped(pid_t pid, int status, int *all_done)
{
	for (int i = 0; i < seed_count; i++) {
		struct seed_vm *s = &seed_vms[i];
		if (s->pid != pid || s->done)
			continue;
		/* Drain what the guest printed last before reporting the end. */
		while (s->out_fd >= 0 && seed_output(s->out_fd) && s->out_fd >= 0) {
		}
		s->done = 1;
		s->status = status;
		char why[96];
		describe_status(status, why, sizeof(why));
		static const char *const words[] = { "the guest powered off", "the VMM failed", "exit 2",
						     "the guest rebooted", "stopped from outside", "the guest crashed" };
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		log_info("seed: VM %s ended: %s (vmm %s)", s->name, code >= 0 && code <= 5 ? words[code] : "killed", why);
		seed_running--;
		*all_done = seed_running == 0 && seed_poweroff;
		return 1;
	}
	return 0;
}

/* The power-off reason once all seed VMs are done: the first failure, or 0. */
int seed_result(char *buf, size_t size)
{
	int worst = 0;
	size_t off = 0;
	buf[0] = '\0';
	for (int i = 0; i < seed_count; i++) {
		int code = WIFEXITED(seed_vms[i].status) ? WEXITSTATUS(seed_vms[i].status) : 128 + WTERMSIG(seed_vms[i].status);
		if (code && !worst)
			worst = code;
		int n = snprintf(buf + off, size - off, "%s%s=%d", i ? " " : "", seed_vms[i].name, code);
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
	return worst;
}
