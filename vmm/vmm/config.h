/* The settings of one VM, from `kvmbox vmm` options or a JSON config file. */
#ifndef KVMBOX_VMM_CONFIG_H
#define KVMBOX_VMM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VMM_PATH_MAX 4096
#define VMM_CMDLINE_MAX 4096
#define VMM_MEM_MIN (16ULL << 20)
#define VMM_MEM_DEFAULT (512ULL << 20)
#define VMM_STOP_TIMEOUT_DEFAULT_S 10

enum serial_kind { SERIAL_STDIO, SERIAL_SOCKET, SERIAL_NONE };

#define VMM_NAME_MAX 64

struct vmm_config {
	char name[VMM_NAME_MAX]; /* for log lines; "vm" by default */
	char kernel[VMM_PATH_MAX];
	char initrd[VMM_PATH_MAX];
	char cmdline[VMM_CMDLINE_MAX];
	uint64_t mem_bytes;
	unsigned cpus;
	int hugepages;
	int rng;                /* a virtio-rng device (default on; --no-rng, "rng": false) */
	enum serial_kind serial;
	char serial_path[108];  /* unix socket path for SERIAL_SOCKET */
	char control_path[108]; /* control socket, or "" for none */
	unsigned stop_timeout_s;
};

void vmm_config_defaults(struct vmm_config *c);
/* "512M", "2G", "1048576" (bytes), "64K"; binary units. -EINVAL or -ERANGE. */
int parse_size(const char *s, uint64_t *out);
/* Command-line options (argv[0] is "vmm"). On error, err says which option and why. */
int vmm_config_from_args(struct vmm_config *c, int argc, char **argv, char *err, size_t errlen);
/* A JSON config file's text (same keys as the options, see README). */
int vmm_config_from_json(struct vmm_config *c, const char *text, size_t len, char *err, size_t errlen);
/* Checks that need no files: memory and CPU bounds. */
int vmm_config_check(const struct vmm_config *c, char *err, size_t errlen);

#endif
