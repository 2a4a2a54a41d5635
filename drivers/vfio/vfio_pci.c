/* VFIO passthrough of host PCI functions and mdevs: `kvmbox vmm --device`.
 *
 * At VM build, for each configured device: a PCI function's IOMMU group goes
 * to vfio-pci (host_pci_bind_vfio, nothing left half-bound on failure); an
 * mdev (given by UUID) is already on its vfio driver. Its group joins the
 * VM's one container, which maps all guest RAM for DMA at guest-physical
 * addresses (vfio_container.c), and the device is reset. The guest then sees
 * a pci_device on our bus built from the real config space (vfio_pci_cfg.c):
 *
 *  - BARs with the real sizes and types. A BAR vfio lets us mmap is mapped
 *    into the guest with KVM memory slots wherever the guest's BAR decodes,
 *    so MMIO costs no exit, except the pages of the MSI-X table and PBA;
 *    those, I/O BARs and BARs vfio will not map are trapped and forwarded
 *    to the device fd with pread/pwrite (vfio_msix.c takes the table and
 *    PBA). The guest's BAR writes only ever reach our shadow.
 *  - COMMAND's I/O, memory and bus-master bits are passed on; INTx Disable
 *    is emulated (vfio_irq.c), and STATUS's interrupt bit is the device's.
 *  - INTx, MSI and MSI-X are routed eventfd -> KVM irqfd (vfio_irq.c,
 *    vfio_msix.c).
 *  - No ROM BAR: option ROMs are for firmware, and the guests here boot
 *    without one; a guest driver that wants the ROM reads nothing.
 *
 * When the VMM exits (atexit), interrupts are turned off, the device reset,
 * every fd and mapping closed, and a PCI function's group given back to the
 * drivers it had before (host_pci_restore). A VMM killed with SIGKILL leaves
 * the group on vfio-pci; `kvmbox pci unbind` gives it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "vfio/host_pci.h"
#include "vfio/vfio_dev.h"
#include "vfio/vfio_pci.h"
#include "vm.h"
#include "vmm/config.h"
#include "x86/guest_mem.h"

static struct vfio_pci *devices; /* for the exit path */

/* --- BARs --- */

static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
	struct vfio_bar *b = opaque;
	if (vfio_msix_bar_access(b, off, data, size, 0))
		return;
	if (off + size > b->size || pread(b->dev->fd, data, size, (off_t)(b->offset + off)) != (ssize_t)size)
		memset(data, 0xff, size);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
	struct vfio_bar *b = opaque;
	uint8_t copy[8];
	if (size <= sizeof(copy)) {
		memcpy(copy, data, size);
		if (vfio_msix_bar_access(b, off, copy, size, 1))
			return;
	}
	if (off + size <= b->size && pwrite(b->dev->fd, data, size, (off_t)(b->offset + off)) != (ssize_t)size)
		log_warn("%s: a write to a BAR failed: %s", b->dev->name, strerror(errno));
}

static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

/* The guest moved the BAR or toggled decoding: move the memory slots with
 * it: the part before the trapped pages and the part after (either may be
 * empty). Trapped BARs need nothing, the bus routes them. */
static void cfg_bar_map(struct pci_device *d, int i, uint64_t old_addr, uint64_t new_addr)
{
	struct vfio_pci *v = d->opaque;
	struct vfio_bar *b = &v->bar[i];
	(void)old_addr;
	if (!b->map)
		return;
	for (int k = 0; k < 2; k++)
		if (b->slot[k] >= 0) {
			vm_unmap_device_memory(v->vm, b->slot[k]);
			b->slot[k] = -1;
		}
	if (new_addr == PCI_BAR_UNMAPPED)
		return;
	uint64_t lo = b->trap_lo, hi = b->trap_hi;
	if (lo == hi) /* nothing trapped: one slot for all of it */
		lo = hi = b->size;
	uint64_t start[2] = { 0, hi }, len[2] = { lo, b->size - hi };
	for (int k = 0; k < 2; k++) {
		if (!len[k])
			continue;
		int slot = vm_map_device_memory(v->vm, new_addr + start[k], len[k], (uint8_t *)b->map + start[k]);
		if (slot < 0) {
			/* The bus still traps that part: slower, still right. */
			log_warn("%s: BAR %d at %#llx: no memory slot (%s), accesses are trapped", v->name, i,
				 (unsigned long long)(new_addr + start[k]), strerror(-slot));
			slot = -1;
		}
		b->slot[k] = slot;
	}
}

/* --- config space --- */

#define CMD_PASS (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)

/* STATUS's Interrupt Status bit is the device's: a guest driver sharing or
 * masking INTx (Linux's vfio-pci and pci_check_and_mask_intx) reads it to
 * tell whether the interrupt was its own. */
static void cfg_read(struct pci_device *d, unsigned off, unsigned size)
{
	struct vfio_pci *v = d->opaque;
	if (!v->intx_pin || !vfio_cfg_overlaps(off, size, PCI_STATUS, 2))
		return;
	uint16_t real;
	if (pread(v->fd, &real, 2, (off_t)(v->cfg_offset + PCI_STATUS)) != 2)
		return;
	uint16_t st = pci_cfg_read16(d, PCI_STATUS);
	st = (uint16_t)((st & ~PCI_STATUS_INTERRUPT) | (real & PCI_STATUS_INTERRUPT));
	pci_cfg_write16(d, PCI_STATUS, st);
}

static void cfg_write(struct pci_device *d, unsigned off, unsigned size)
{
	struct vfio_pci *v = d->opaque;
	if (vfio_cfg_overlaps(off, size, PCI_COMMAND, 2)) {
		/* The device must decode and master for the guest; the other
		 * bits stay the host's. */
		uint16_t real = 0, want = pci_cfg_read16(d, PCI_COMMAND);
		off_t at = (off_t)(v->cfg_offset + PCI_COMMAND);
		if (pread(v->fd, &real, 2, at) == 2) {
			real = (uint16_t)((real & ~CMD_PASS) | (want & CMD_PASS));
			if (pwrite(v->fd, &real, 2, at) != 2)
				log_warn("%s: writing COMMAND: %s", v->name, strerror(errno));
		}
		vfio_intx_command(v);
	}
	if (v->msi_cap && vfio_cfg_overlaps(off, size, v->msi_cap, 24))
		vfio_msi_update(v);
	if (v->msix.cap && vfio_cfg_overlaps(off, size, v->msix.cap + 2, 2))
		vfio_msix_update(v);
}

static const struct pci_device_ops cfg_ops = { .config_read = cfg_read, .config_write = cfg_write, .bar_map = cfg_bar_map };

/* --- setup and teardown --- */

/* Runs at exit, after vm_destroy(): the KVM side is gone already, only the
 * device, VFIO and the host's drivers are left to put right. */
static void vfio_close(struct vfio_pci *v)
{
	vfio_irq_close(v, 0);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *b = &v->bar[i];
		b->slot[0] = b->slot[1] = -1;
		/* An mmap holds the device open, and vfio-pci's unbind waits
		 * for the last user: unmap before giving the group back. */
		if (b->map)
			munmap(b->map, b->size);
		b->map = NULL;
	}
	if (v->fd >= 0) {
		if (v->can_reset)
			ioctl(v->fd, VFIO_DEVICE_RESET);
		close(v->fd);
	}
	v->fd = -1;
	vfio_group_put(v->group);
	v->group = NULL;
	if (v->bound && v->keep) {
		log_info("%s: left on vfio-pci (release=off)", v->name);
		v->bound = 0;
	}
	if (v->bound) {
		char err[256];
		struct host_pci_sys sys = { 0 };
		if (host_pci_restore(&sys, v->id, &v->saved, err, sizeof(err)) < 0)
			log_warn("%s: giving the group back: %s", v->name, err);
		v->bound = 0;
	}
}

static void vfio_exit(void)
{
	for (struct vfio_pci *v = devices; v; v = v->next)
		vfio_close(v);
}

/* The IOMMU group number of a PCI function or an mdev, from sysfs. */
static int group_number(const struct vfio_pci *v)
{
	char p[160], t[PATH_MAX];
	snprintf(p, sizeof(p), v->is_mdev ? "/sys/bus/mdev/devices/%s/iommu_group" : "/sys/bus/pci/devices/%s/iommu_group",
		 v->id);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	if (n < 0)
		return -1;
	t[n] = '\0';
	const char *b = strrchr(t, '/');
	return atoi(b ? b + 1 : t);
}

static int region_info(struct vfio_pci *v, unsigned index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(v->fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0 ? -errno : 0;
}

static int setup_bars(struct vfio_pci *v, const uint8_t *real)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *b = &v->bar[i];
		b->dev = v;
		b->slot[0] = b->slot[1] = -1;
		int pf;
		enum pci_bar_type type = vfio_cfg_bar_type(real, i, &pf);
		struct vfio_region_info ri;
		if (type == PCI_BAR_NONE || region_info(v, VFIO_PCI_BAR0_REGION_INDEX + (unsigned)i, &ri) < 0 ||
		    !ri.size)
			continue;
		b->size = ri.size;
		b->offset = ri.offset;
		int r = pci_bar_define(&v->pci, i, type, ri.size, pf, &bar_ops, b);
		if (r < 0) {
			log_error("%s: BAR %d (size %#llx) cannot be presented: %s", v->name, i,
				  (unsigned long long)ri.size, strerror(-r));
			return r;
		}
		/* A page or more that vfio lets us map goes straight to the
		 * guest (less the MSI-X pages, see cfg_bar_map). A kernel
		 * that will not map a BAR holding the MSI-X table refuses
		 * here, and the BAR stays trapped. */
		if ((ri.flags & VFIO_REGION_INFO_FLAG_MMAP) && type != PCI_BAR_IO && ri.size >= 4096) {
			void *p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, (off_t)ri.offset);
			if (p != MAP_FAILED)
				b->map = p;
			else
				log_info("%s: BAR %d cannot be mmapped (%s): trapped", v->name, i, strerror(errno));
		}
	}
	return 0;
}

static void log_bars(struct vfio_pci *v)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *b = &v->bar[i];
		enum pci_bar_type type = v->pci.bar[i].type;
		if (!b->size || type == PCI_BAR_NONE)
			continue;
		char how[96];
		if (!b->map)
			snprintf(how, sizeof(how), "trapped");
		else if (b->trap_lo != b->trap_hi)
			snprintf(how, sizeof(how), "mapped, MSI-X pages %#llx-%#llx trapped", (unsigned long long)b->trap_lo,
				 (unsigned long long)b->trap_hi);
		else
			snprintf(how, sizeof(how), "mapped");
		log_info("%s: BAR %d: %s, %#llx bytes%s, %s", v->name, i,
			 type == PCI_BAR_IO ? "I/O" : type == PCI_BAR_MEM64 ? "64-bit memory" : "32-bit memory",
			 (unsigned long long)b->size, v->pci.bar[i].prefetchable ? ", prefetchable" : "", how);
	}
}

/* The device's INTx pin, when VFIO can route it. */
static int intx_pin(struct vfio_pci *v, const uint8_t *real)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = VFIO_PCI_INTX_IRQ_INDEX };
	if (!real[PCI_INTERRUPT_PIN] || real[PCI_INTERRUPT_PIN] > 4 ||
	    ioctl(v->fd, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0 || info.count < 1)
		return 0;
	return real[PCI_INTERRUPT_PIN];
}

static int vfio_pci_attach(struct vm *vm, const char *id, int keep, struct pci_bus *bus)
{
	struct vfio_pci *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->keep = keep;
	v->fd = v->msi_efd = v->msi_gsi = v->intx_gsi = v->intx_efd = v->intx_rfd = -1;
	pthread_mutex_init(&v->irq_lock, NULL);
	snprintf(v->id, sizeof(v->id), "%s", id);
	v->is_mdev = strlen(id) == 36; /* a UUID; a BDF is 12 characters */
	snprintf(v->name, sizeof(v->name), "vfio %s", id);
	/* Listed before anything can fail, so that the exit path undoes what
	 * was done, whatever step failed. */
	if (!devices)
		atexit(vfio_exit);
	v->next = devices;
	devices = v;

	char err[512], path[128];
	int r;
	if (v->is_mdev) {
		snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s", id);
		if (access(path, F_OK) < 0) {
			log_error("--device %s: no such mdev (%s is missing; kvmbox pci lists the mdev types, "
				  "kvmbox pci mdev-create makes an instance)",
				  id, path);
			return -ENODEV;
		}
	} else {
		struct host_pci_sys sys = { 0 };
		if ((r = host_pci_bind_vfio(&sys, id, &v->saved, err, sizeof(err))) < 0) {
			log_error("--device %s: %s", id, err);
			return r;
		}
		v->bound = 1;
	}
	int g = group_number(v);
	if (g < 0) {
		log_error("%s: no IOMMU group (is the IOMMU on: intel_iommu=on or amd_iommu=on?)", v->name);
		return -ENXIO;
	}
	if ((r = vfio_group_get(v, g, &v->group)) < 0)
		return r;
	if ((v->fd = ioctl(vfio_group_fd(v->group), VFIO_GROUP_GET_DEVICE_FD, v->id)) < 0) {
		int e = errno;
		log_error("%s: VFIO_GROUP_GET_DEVICE_FD: %s%s", v->name, strerror(e),
			  e == EBUSY ? " (the device is in use by another VM)" : "");
		return -e;
	}
	struct vfio_device_info di = { .argsz = sizeof(di) };
	if (ioctl(v->fd, VFIO_DEVICE_GET_INFO, &di) < 0 || !(di.flags & VFIO_DEVICE_FLAGS_PCI)) {
		log_error("%s: not a VFIO PCI device", v->name);
		return -EINVAL;
	}
	v->can_reset = !!(di.flags & VFIO_DEVICE_FLAGS_RESET);
	/* Start from a clean device: whatever the host or a previous VM left. */
	if (v->can_reset && ioctl(v->fd, VFIO_DEVICE_RESET) < 0)
		log_warn("%s: reset: %s", v->name, strerror(errno));

	struct vfio_region_info ri;
	static uint8_t real[PCI_CFG_LEGACY_SIZE];
	if (region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &ri) < 0 ||
	    pread(v->fd, real, sizeof(real), (off_t)ri.offset) != (ssize_t)sizeof(real)) {
		log_error("%s: reading the config space: %s", v->name, strerror(errno));
		return -EIO;
	}
	v->cfg_offset = ri.offset;
	unsigned msix_cap;
	v->msi_cap = vfio_cfg_init(&v->pci, v->name, real, sizeof(real), &msix_cap);
	v->pci.ops = &cfg_ops;
	v->pci.opaque = v;
	if ((r = setup_bars(v, real)) < 0)
		return r;
	if (msix_cap && vfio_msix_setup(v, msix_cap) < 0) {
		/* Hide it again: the driver falls back to MSI or INTx. */
		vfio_msix_close(v);
		memset(&v->msix, 0, sizeof(v->msix));
		vfio_cfg_init(&v->pci, v->name, real, sizeof(real), NULL);
		if ((r = setup_bars(v, real)) < 0)
			return r;
	}
	log_bars(v);
	if (v->msi_cap && (v->msi_efd = eventfd(0, EFD_CLOEXEC)) < 0) {
		log_error("%s: eventfd: %s", v->name, strerror(errno));
		return -errno;
	}
	v->intx_pin = intx_pin(v, real);
	pci_set_intx_pin(&v->pci, (unsigned)v->intx_pin);
	if ((r = pci_register(bus, &v->pci, -1)) < 0) {
		log_error("%s: no room on the PCI bus: %s", v->name, strerror(-r));
		return r;
	}
	log_info("%s: %04x:%04x passed through at 00:%02x.0%s%s%s", v->name, pci_cfg_read16(&v->pci, PCI_VENDOR_ID),
		 pci_cfg_read16(&v->pci, PCI_DEVICE_ID), r, v->intx_pin ? ", INTx" : "", v->msi_cap ? ", MSI" : "",
		 v->msix.cap ? ", MSI-X" : "");
	return vfio_intx_setup(v);
}

static int vfio_pci_create(struct vm *vm)
{
	const struct vmm_config *c = vm_config(vm);
	if (!c || !c->npcidevs)
		return 0;
	struct pci_bus *bus = vm_pci(vm);
	if (!bus) {
		log_error("--device: the VM has no PCI bus");
		return -ENODEV;
	}
	for (unsigned i = 0; i < c->npcidevs; i++) {
		int r = vfio_pci_attach(vm, c->pcidevs[i], c->pcidev_keep[i], bus);
		if (r < 0)
			return r;
	}
	return 0;
}

DEVICE_REGISTER("vfio-pci", vfio_pci_create, 60);
