/* kvmbox init (PID 1): shared declarations between its files. */
#ifndef KVMBOX_INIT_H
#define KVMBOX_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define DATA_LABEL "KVMBOX-DATA"
#define DATA_MOUNT "/data"
#define DATA_WAIT_DEFAULT_S 10 /* how long to wait for a slow USB stick */
#define DATA_WAIT_MAX_S 600    /* kvmbox.datawait= beyond this is ignored */
#define CMDLINE_MAX 4096
#define SHUTDOWN_GRACE_S 10    /* SIGTERM to SIGKILL, at power-off */
#define NET_WAIT_DEFAULT_S 10  /* for the first DHCP lease before the ready line */
#define NET_WAIT_MAX_S 600     /* kvmbox.netwait= beyond this is ignored */

/* --- init_parse.c: parsers of outside input (kernel command line, disks) --- */

/* Find "key=value" in a kernel command line (double quotes group a value).
 * Returns 1 and copies the value, 0 when absent, -ENAMETOOLONG when the value
 * does not fit. A bare "key" gives an empty value. */
int cmdline_get(const char *cmdline, const char *key, char *val, size_t size);

/* ext4 (and ext2/3) superblock: buf holds the bytes that start 1024 bytes into
 * the partition. Returns 0 and the volume label, or -EINVAL if not ext. */
#define EXT4_SB_OFFSET 1024
#define EXT4_SB_SIZE 1024
int ext4_label(const uint8_t *buf, size_t len, char *label, size_t size);

/* "KEY=value" lines as in /sys/class/block/X/uevent. Returns 1, 0 or -ENAMETOOLONG. */
int uevent_get(const char *text, const char *key, char *val, size_t size);

/* --- init_data.c: the KVMBOX-DATA partition --- */
/* A small text file (sysfs, /proc) into buf, NUL-terminated even on error.
 * Returns the length or -errno. */
int init_read_text(const char *path, char *buf, size_t size);
struct data_state {
	int mounted;
	char device[64];   /* /dev/sda2, or "" when none was found */
	char problem[256]; /* why it is not mounted, for the console */
};
void data_mount(const char *cmdline, struct data_state *st);
void data_unmount(struct data_state *st);

/* --- init_service.c: long-running children of PID 1 --- */
#define SERVICE_MAX 8
#define SERVICE_BACKOFF_MAX_S 30
int service_add(const char *name, char *const argv[]);
void service_start_due(double now);
/* A child exited: returns 1 if it was a service (logged, restart scheduled). */
int service_reaped(pid_t pid, int status, double now);
/* The name of the running service with this pid, or NULL. */
const char *service_name(pid_t pid);
/* A service exited for good (it asked for a power-off): not restarted. */
void service_retire(pid_t pid);
/* Milliseconds until the next restart is due, or -1 when none is. */
int service_timeout_ms(double now);
void service_stop_all(void);
/* init_console.c: the text console on ttyS0 and tty0, where they work. */
void console_services_add(void);
/* Describe a wait status in words: "exited with status 3", "killed by signal 11 (Segmentation fault)". */
void describe_status(int status, char *buf, size_t size);

/* --- init_power.c: power button, poweroff and reboot --- */
int power_button_open(int epfd); /* returns the number of buttons found */
int power_button_pressed(int fd);
void power_off_now(int reboot_instead, struct data_state *data) __attribute__((noreturn));

/* Seconds on the monotonic clock: deadlines and backoffs ignore wall-clock jumps. */
static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


/* --- init_seed.c: headless mode (the seed itself: vmm/supervisor/seed_parse.h) --- */
/* Find the seed (fw_cfg, kvmbox.seed=PATH|URL, /data/seed.json) and copy it
 * to SEED_RUN_PATH for the supervisor. Returns 1 when there is one to hand
 * over, 0 when there is none, -errno when one was asked for but cannot be
 * had (logged, with what to do). */
int seed_find(const char *cmdline);

#endif
