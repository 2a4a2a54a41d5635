/* The settings of one VM, from `kvmbox vmm` options or a JSON config file. */
#ifndef KVMBOX_VMM_CONFIG_H
#define KVMBOX_VMM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "usernet/usernet_config.h"

#define VMM_PATH_MAX 4096
#define VMM_CMDLINE_MAX 4096
#define VMM_MEM_MIN (16ULL << 20)
#define VMM_MEM_DEFAULT (512ULL << 20)
#define VMM_STOP_TIMEOUT_DEFAULT_S 10

enum serial_kind { SERIAL_STDIO, SERIAL_SOCKET, SERIAL_NONE };

#define VMM_NAME_MAX 64
#define VMM_MAX_DISKS 8
#define VMM_MAX_NICS 4
#define VMM_DISK_SERIAL_MAX 20 /* VIRTIO_BLK_ID_BYTES: the guest's serial string */
#define VMM_NIC_MAX_QUEUES 8   /* queue pairs per NIC */
#define VMM_IFNAME_MAX 16      /* IFNAMSIZ, with the NUL */
#define VMM_MAX_PCI_DEVS 8     /* --device: host PCI functions passed through */
#define VMM_BDF_MAX 40         /* "0000:00:1f.3", or an mdev UUID, and its NUL */

/* One virtio-blk disk: --disk PATH[,readonly][,serial=S][,block-size=N][,discard=off]
 * or {"path": ..., "readonly": false, "serial": "...", "block-size": 512,
 * "discard": true} in JSON. */
struct vmm_disk {
	char path[VMM_PATH_MAX];   /* a raw image file or a block device */
	int readonly;              /* opened O_RDONLY, VIRTIO_BLK_F_RO offered */
	int discard;               /* offer DISCARD and WRITE_ZEROES (default on) */
	unsigned block_size;       /* logical block size the guest sees: 512 (default) to 65536, a power of two */
	char serial[VMM_DISK_SERIAL_MAX + 1]; /* "" = "kvmbox-<vm>-<n>" */
};

/* One virtio-net NIC on a tap: --net bridge=BR[,tap=NAME][,mac=MAC][,queues=N]
 * or {"bridge": ..., "tap": ..., "mac": "52:54:..", "queues": 1} in JSON.
 * Or on user-mode networking: --net user[,mac=MAC][,net=CIDR][,host=IP]
 * [,dns=IP][,guest=IP][,restrict=on][,hostfwd=tcp:HOSTPORT:GUESTPORT]...
 * or {"user": true, "hostfwd": ["tcp:8080:80"], ...} in JSON. */
struct vmm_nic {
	char bridge[VMM_IFNAME_MAX]; /* the tap joins this bridge ("" = none) */
	char tap[VMM_IFNAME_MAX];    /* the tap's name ("" = the kernel picks kvmboxN) */
	uint8_t mac[6];
	int mac_set;                 /* else one is derived from the VM name and NIC number */
	unsigned queues;             /* queue pairs (multiqueue tap), 1 to VMM_NIC_MAX_QUEUES */
	int user;                    /* usernet instead of a tap (one per VM) */
	struct usernet_config unet;  /* its settings */
};

/* Where console input goes: the UART (ttyS0) or the virtio console (hvc0).
 * Output from both always reaches the console. */
enum console_input { CONSOLE_IN_SERIAL, CONSOLE_IN_HVC };

struct vmm_config {
	char name[VMM_NAME_MAX]; /* for log lines; "vm" by default */
	char kernel[VMM_PATH_MAX];
	char initrd[VMM_PATH_MAX];
	char cmdline[VMM_CMDLINE_MAX];
	uint64_t mem_bytes;
	unsigned cpus;
	int hugepages;
	int rng;                /* a virtio-rng device (default on; --no-rng, "rng": false) */
	int hvc;                /* a virtio-console device, hvc0 (default on; --no-hvc, "hvc": false) */
	enum console_input console_input; /* --console-input serial|hvc */
	unsigned ndisks;
	struct vmm_disk disks[VMM_MAX_DISKS];
	unsigned nnics;
	struct vmm_nic nics[VMM_MAX_NICS];
	unsigned npcidevs;      /* --device BDF|UUID / "devices": host PCI functions or mdevs passed through with VFIO */
	char pcidevs[VMM_MAX_PCI_DEVS][VMM_BDF_MAX];
	unsigned char pcidev_keep[VMM_MAX_PCI_DEVS]; /* ",release=off": left on vfio-pci when the VM stops */
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
/* One --disk or --net option value, appended to c. */
int vmm_config_add_disk(struct vmm_config *c, const char *spec, char *err, size_t errlen);
int vmm_config_add_nic(struct vmm_config *c, const char *spec, char *err, size_t errlen);
/* One --device value: a PCI address, "0000:00:03.0" or "00:03.0", kept in
 * the long form; the same address twice is refused. */
int vmm_config_add_pci(struct vmm_config *c, const char *spec, char *err, size_t errlen);
/* "52:54:00:12:34:56" into mac[6]; -EINVAL if malformed, multicast or zero. */
int parse_mac(const char *s, uint8_t mac[6]);
/* Checks that need no files: memory and CPU bounds. */
int vmm_config_check(const struct vmm_config *c, char *err, size_t errlen);

#endif
