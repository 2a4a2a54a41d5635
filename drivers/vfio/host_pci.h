/* Host PCI devices: discovery and binding to vfio-pci (issue 5, part 1).
 *
 * host_pci_scan() reads sysfs: every PCI function with its ids, names from a
 * small built-in table, class, IOMMU group, driver and reset methods, and
 * whether the appliance itself needs it (a mounted disk on it, or the NIC
 * that carries the appliance's address); and the mdev parents with their
 * supported types.
 *
 * host_pci_bind_vfio() moves a device, and every other endpoint of its IOMMU
 * group, to vfio-pci through driver_override; it refuses a device the
 * appliance needs, a device without an IOMMU group and a group that is not
 * viable, and on any failure puts every member back as it was.
 * host_pci_restore() gives them back.
 *
 * Every path is read under sys->root ("" on the appliance), so the unit tests
 * run all of this against a fake tree in /tmp.
 */
#ifndef KVMBOX_HOST_PCI_H
#define KVMBOX_HOST_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define HOST_PCI_BDF_LEN 16      /* "0000:00:1f.3" and its NUL */
#define HOST_PCI_MAX_GROUP 32    /* endpoints bound together */

struct host_pci_sys {
	const char *root;                /* prefix of /sys and /proc/mounts; NULL or "" for the real ones */
	const char *const *addr_ifaces;  /* NULL-terminated: interfaces that carry the appliance's address;
					    NULL: ask the kernel (getifaddrs) */
};

struct host_pci_dev {
	char bdf[HOST_PCI_BDF_LEN];
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_code;             /* base, sub, prog-if: 0x020000 */
	const char *vendor_name;         /* NULL when unknown */
	const char *device_name;         /* NULL when unknown */
	const char *class_name;          /* always set */
	bool bridge;                     /* host/PCI bridge: not bound, does not spoil a group */
	int iommu_group;                 /* -1: none */
	char driver[64];                 /* "" when no driver is bound */
	char driver_override[64];        /* "" when unset */
	char reset_method[64];           /* "flr pm bus"; "" when none */
	char needed[128];                /* why the appliance needs it; "" when it does not */
};

struct host_pci_mdev_type {
	char parent[64];                 /* the mdev_bus entry: "mtty" or a BDF */
	char type[64];                   /* the directory: "mtty-1" */
	char name[64];
	char device_api[32];             /* "vfio-pci" */
	char description[128];
	int available_instances;         /* -1 when unreadable */
};

struct host_pci_list {
	struct host_pci_dev *dev;
	int n;
	struct host_pci_mdev_type *mdev;
	int nmdev;
};

/* Fill l (sorted by BDF). 0, or -errno with err saying why; l is empty then.
 * A missing mdev_bus class is not an error. Free with host_pci_free(). */
int host_pci_scan(const struct host_pci_sys *sys, struct host_pci_list *l, char *err, size_t errlen);
void host_pci_free(struct host_pci_list *l);
const struct host_pci_dev *host_pci_find(const struct host_pci_list *l, const char *bdf);

/* "0000:00:03.0", also from "00:03.0" (domain 0). 0 or -EINVAL. */
int host_pci_parse_bdf(const char *in, char out[HOST_PCI_BDF_LEN]);

/* Names from the built-in table; NULL when unknown. */
const char *host_pci_vendor_name(uint16_t vendor);
const char *host_pci_device_name(uint16_t vendor, uint16_t device);
const char *host_pci_class_name(uint32_t class_code);

/* Write the list as one JSON object: {"devices": [...], "mdev_types": [...]}.
 * Returns the writer's sticky error (0 if none). */
int host_pci_write_json(struct json_writer *w, const struct host_pci_list *l);

/* The state of each endpoint of a group before a bind, to put back. */
struct host_pci_saved {
	char bdf[HOST_PCI_BDF_LEN];
	char driver[64];
	char driver_override[64];
};
struct host_pci_binding {
	int group;
	int n;
	struct host_pci_saved dev[HOST_PCI_MAX_GROUP];
};

/* Whether bdf may be bound to vfio-pci: 0, or -errno with the reason in err
 * (-ENODEV no such device, -EBUSY needed by the appliance, -ENXIO no IOMMU
 * group, -EPERM group not viable). Reads l only; changes nothing. */
int host_pci_check_bind(const struct host_pci_list *l, const char *bdf, char *err, size_t errlen);

/* Bind bdf and every other endpoint of its group to vfio-pci. 0 (also when
 * they already were), or -errno with err saying why; nothing is left
 * half-bound. saved (may be NULL) receives the state to restore. */
int host_pci_bind_vfio(const struct host_pci_sys *sys, const char *bdf, struct host_pci_binding *saved,
		       char *err, size_t errlen);

/* Give the endpoints of bdf's group that are on vfio-pci back: to the drivers
 * in saved when it is given, else to whatever driver the kernel picks
 * (driver_override cleared, unbind, drivers_probe). 0 or -errno with err. */
int host_pci_restore(const struct host_pci_sys *sys, const char *bdf, const struct host_pci_binding *saved,
		     char *err, size_t errlen);

/* Mediated devices (host_mdev.c). */
#define HOST_MDEV_UUID_LEN 37
/* "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", lower case. 0 or -EINVAL. */
int host_mdev_parse_uuid(const char *in, char out[HOST_MDEV_UUID_LEN]);
/* An instance of parent's type: with uuid as given (or a new random one
 * when uuid is ""), which uuid then holds. 0, or -errno with err saying why
 * (-ENODEV no such parent, -ENOENT no such type, -ENOSPC none left). */
int host_mdev_create(const struct host_pci_sys *sys, const char *parent, const char *type, char uuid[HOST_MDEV_UUID_LEN],
		     char *err, size_t errlen);
/* 0, or -errno with err (-ENODEV no such mdev, -EBUSY in use). */
int host_mdev_remove(const struct host_pci_sys *sys, const char *uuid, char *err, size_t errlen);

#endif
