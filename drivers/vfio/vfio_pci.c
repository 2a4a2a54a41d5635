/* VFIO passthrough of host PCI functions: `kvmbox vmm --device BDF`.
 *
 * At VM build, for each configured address: the function's IOMMU group goes
 * to vfio-pci (host_pci_bind_vfio, nothing left half-bound on failure), a
 * type1 container gets the group and a DMA mapping of all guest RAM at its
 * guest-physical addresses (so the guest's physical addresses are the
 * device's DMA addresses), and the device is reset. The guest then sees a
 * pci_device on our bus built from the real config space (vfio_pci_cfg.c):
 *
 *  - BARs with the real sizes and types. A BAR vfio lets us mmap is mapped
 *    into the guest with a KVM memory slot wherever the guest's BAR decodes,
 *    so MMIO costs no exit; any other BAR is trapped and forwarded to the
 *    device fd with pread/pwrite. The guest's BAR writes only ever reach our
 *    shadow, never the device.
 *  - COMMAND's I/O, memory, bus-master and INTx-disable bits are passed on.
 *  - MSI is emulated: when the guest enables it, the device's MSI (through
 *    VFIO_DEVICE_SET_IRQS) signals an eventfd that KVM turns into the
 *    guest's message with an irqfd on an MSI route, no VMM thread involved.
 *
 * When the VMM exits (atexit), MSI is turned off, the device reset, every fd
 * and mapping closed, and the group given back to the drivers it had before
 * (host_pci_restore). A VMM killed with SIGKILL leaves the group on
 * vfio-pci; `kvmbox pci unbind` gives it back.
 *
 * Left for later: MSI-X (the capability is hidden), INTx, ROM, mdev, iommufd,
 * one container shared by several devices.
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
#include "vfio/vfio_pci.h"
#include "vm.h"
#include "vmm/config.h"
#include "x86/guest_mem.h"

struct vfio_bar {
	struct vfio_pci *dev;
	uint64_t size, offset;  /* the region in the device fd */
	void *map;              /* the mmapped region, or NULL: trapped */
	int slot;               /* the KVM memory slot while mapped, else -1 */
};

struct vfio_pci {
	struct pci_device pci;
	struct vm *vm;
	char bdf[HOST_PCI_BDF_LEN];
	char name[32];
	int container, group, fd;
	int bound;                      /* we moved the group to vfio-pci */
	struct host_pci_binding saved;
	uint64_t cfg_offset;
	struct vfio_bar bar[PCI_NUM_BARS];
	int can_reset;
	unsigned msi_cap;
	int msi_efd, msi_gsi, msi_on;
	struct vfio_pci *next;
};

static struct vfio_pci *devices; /* for the exit path */

/* --- BARs --- */

static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
	struct vfio_bar *b = opaque;
	if (off + size > b->size || pread(b->dev->fd, data, size, (off_t)(b->offset + off)) != (ssize_t)size)
		memset(data, 0xff, size);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
	struct vfio_bar *b = opaque;
	if (off + size <= b->size && pwrite(b->dev->fd, data, size, (off_t)(b->offset + off)) != (ssize_t)size)
		log_warn("%s: a write to a BAR failed: %s", b->dev->name, strerror(errno));
}

static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

/* The guest moved the BAR or toggled decoding: move the memory slot with it.
 * Trapped BARs need nothing, the bus routes them. */
static void cfg_bar_map(struct pci_device *d, int i, uint64_t old_addr, uint64_t new_addr)
{
	struct vfio_pci *v = d->opaque;
	struct vfio_bar *b = &v->bar[i];
	(void)old_addr;
	if (!b->map)
		return;
	if (b->slot >= 0) {
		vm_unmap_device_memory(v->vm, b->slot);
		b->slot = -1;
	}
	if (new_addr == PCI_BAR_UNMAPPED)
		return;
	b->slot = vm_map_device_memory(v->vm, new_addr, b->size, b->map);
	if (b->slot < 0) {
		/* The bus still traps the BAR: slower, still right. */
		log_warn("%s: BAR %d at %#llx: no memory slot (%s), accesses are trapped", v->name, i,
			 (unsigned long long)new_addr, strerror(-b->slot));
		b->slot = -1;
	}
}

/* --- config space --- */

static int set_msi_irq(struct vfio_pci *v, int efd)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (struct vfio_irq_set *)buf;
	memset(buf, 0, sizeof(buf));
	s->argsz = sizeof(buf);
	s->index = VFIO_PCI_MSI_IRQ_INDEX;
	if (efd >= 0) {
		s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		s->count = 1;
		memcpy(s->data, &efd, sizeof(efd));
	} else {
		/* count 0 with DATA_NONE turns the index off. */
		s->argsz = sizeof(*s);
		s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	}
	return ioctl(v->fd, VFIO_DEVICE_SET_IRQS, s) < 0 ? -errno : 0;
}

/* vm_alive 0: the VM's KVM fd is already closed (the exit path runs after
 * vm_destroy), and its routes and slots went with it. */
static void msi_off(struct vfio_pci *v, int vm_alive)
{
	if (!v->msi_on)
		return;
	log_info("%s: MSI off", v->name);
	set_msi_irq(v, -1);
	if (vm_alive) {
		vm_irqfd(v->vm, v->msi_efd, v->msi_gsi, 0);
		vm_msi_route_free(v->vm, v->msi_gsi);
	}
	v->msi_gsi = -1;
	v->msi_on = 0;
}

/* The guest wrote the MSI capability: follow its enable bit and message. */
static void msi_update(struct vfio_pci *v)
{
	struct vfio_msi m;
	vfio_cfg_msi(&v->pci, v->msi_cap, &m);
	if (!m.enabled) {
		msi_off(v, 1);
		return;
	}
	/* Re-routing an enabled vector (the guest moved its affinity) only
	 * changes the route; the device keeps signalling the same eventfd. */
	int gsi = vm_msi_route(v->vm, m.addr, m.data, v->msi_on ? v->msi_gsi : -1);
	if (gsi < 0) {
		log_warn("%s: MSI route: %s", v->name, strerror(-gsi));
		return;
	}
	if (v->msi_on) {
		log_debug("%s: MSI moved: message %#llx/%#x", v->name, (unsigned long long)m.addr, m.data);
		return;
	}
	v->msi_gsi = gsi;
	int r = vm_irqfd(v->vm, v->msi_efd, gsi, 1);
	if (!r && (r = set_msi_irq(v, v->msi_efd)) < 0)
		vm_irqfd(v->vm, v->msi_efd, gsi, 0);
	if (r < 0) {
		log_warn("%s: enabling MSI: %s", v->name, strerror(-r));
		vm_msi_route_free(v->vm, gsi);
		v->msi_gsi = -1;
		return;
	}
	v->msi_on = 1;
	log_info("%s: MSI on: GSI %d, message %#llx/%#x", v->name, gsi, (unsigned long long)m.addr, m.data);
}

#define CMD_PASS (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)

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
	}
	if (v->msi_cap && vfio_cfg_overlaps(off, size, v->msi_cap, 24))
		msi_update(v);
}

static const struct pci_device_ops cfg_ops = { .config_write = cfg_write, .bar_map = cfg_bar_map };

/* --- setup and teardown --- */

/* Runs at exit, after vm_destroy(): the KVM side is gone already, only the
 * device, VFIO and the host's drivers are left to put right. */
static void vfio_close(struct vfio_pci *v)
{
	msi_off(v, 0);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *b = &v->bar[i];
		b->slot = -1;
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
	if (v->msi_efd >= 0)
		close(v->msi_efd);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->fd = v->group = v->container = v->msi_efd = -1;
	if (v->bound) {
		char err[256];
		struct host_pci_sys sys = { 0 };
		if (host_pci_restore(&sys, v->bdf, &v->saved, err, sizeof(err)) < 0)
			log_warn("%s: giving the group back: %s", v->name, err);
		v->bound = 0;
	}
}

static void vfio_exit(void)
{
	for (struct vfio_pci *v = devices; v; v = v->next)
		vfio_close(v);
}

static int group_number(const char *bdf)
{
	char p[128], t[PATH_MAX];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	if (n < 0)
		return -1;
	t[n] = '\0';
	const char *b = strrchr(t, '/');
	return atoi(b ? b + 1 : t);
}

/* Container, group, IOMMU and the DMA mapping of all guest RAM. */
static int open_container(struct vfio_pci *v)
{
	int g = group_number(v->bdf);
	if (g < 0) {
		log_error("%s: no IOMMU group (is the IOMMU on: intel_iommu=on or amd_iommu=on?)", v->name);
		return -ENXIO;
	}
	if ((v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0) {
		log_error("%s: /dev/vfio/vfio: %s", v->name, strerror(errno));
		return -errno;
	}
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		log_error("%s: unknown VFIO API version", v->name);
		return -EINVAL;
	}
	unsigned long type = ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
		: ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0		       ? VFIO_TYPE1_IOMMU
												       : 0;
	if (!type) {
		log_error("%s: the kernel's VFIO has no type1 IOMMU", v->name);
		return -ENOTSUP;
	}
	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/%d", g);
	if ((v->group = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		int e = errno;
		log_error("%s: %s: %s%s", v->name, path, strerror(e),
			  e == EBUSY ? " (the group is in use, by another VM?)" : "");
		return -e;
	}
	struct vfio_group_status st = { .argsz = sizeof(st) };
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &st) < 0 || !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		log_error("%s: IOMMU group %d is not viable: a member is on a driver other than vfio-pci", v->name, g);
		return -EPERM;
	}
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) < 0) {
		log_error("%s: VFIO_GROUP_SET_CONTAINER: %s", v->name, strerror(errno));
		return -errno;
	}
	if (ioctl(v->container, VFIO_SET_IOMMU, type) < 0) {
		int e = errno;
		log_error("%s: VFIO_SET_IOMMU: %s%s", v->name, strerror(e),
			  e == EPERM ? " (no interrupt remapping: the IOMMU must offer it)" : "");
		return -e;
	}
	const struct guest_mem *gm = vm_mem(v->vm);
	for (unsigned i = 0; i < gm->nregions; i++) {
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uint64_t)(uintptr_t)gm->region[i].hva,
			.iova = gm->region[i].gpa,
			.size = gm->region[i].size,
		};
		if (ioctl(v->container, VFIO_IOMMU_MAP_DMA, &map) < 0) {
			int e = errno;
			log_error("%s: DMA-mapping guest RAM %#llx+%#llx: %s%s", v->name, (unsigned long long)map.iova,
				  (unsigned long long)map.size, strerror(e),
				  e == ENOMEM ? " (locked-memory limit?)" : "");
			return -e;
		}
	}
	return 0;
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
		b->slot = -1;
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
		 * guest; vfio refuses this for BARs holding an MSI-X table,
		 * which then stay trapped. */
		if ((ri.flags & VFIO_REGION_INFO_FLAG_MMAP) && type != PCI_BAR_IO && ri.size >= 4096) {
			void *p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, (off_t)ri.offset);
			if (p != MAP_FAILED)
				b->map = p;
			else
				log_info("%s: BAR %d cannot be mmapped (%s): trapped", v->name, i, strerror(errno));
		}
		log_info("%s: BAR %d: %s, %#llx bytes%s, %s", v->name, i,
			 type == PCI_BAR_IO ? "I/O" : type == PCI_BAR_MEM64 ? "64-bit memory" : "32-bit memory",
			 (unsigned long long)ri.size, pf ? ", prefetchable" : "", b->map ? "mapped" : "trapped");
	}
	return 0;
}

static int vfio_pci_attach(struct vm *vm, const char *bdf, struct pci_bus *bus)
{
	struct vfio_pci *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->container = v->group = v->fd = v->msi_efd = v->msi_gsi = -1;
	snprintf(v->bdf, sizeof(v->bdf), "%s", bdf);
	snprintf(v->name, sizeof(v->name), "vfio %s", bdf);
	/* Listed before anything can fail, so that the exit path undoes what
	 * was done, whatever step failed. */
	if (!devices)
		atexit(vfio_exit);
	v->next = devices;
	devices = v;

	char err[512];
	struct host_pci_sys sys = { 0 };
	int r = host_pci_bind_vfio(&sys, bdf, &v->saved, err, sizeof(err));
	if (r < 0) {
		log_error("--device %s: %s", bdf, err);
		return r;
	}
	v->bound = 1;
	if ((r = open_container(v)) < 0)
		return r;
	if ((v->fd = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf)) < 0) {
		log_error("%s: VFIO_GROUP_GET_DEVICE_FD: %s", v->name, strerror(errno));
		return -errno;
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
	v->msi_cap = vfio_cfg_init(&v->pci, v->name, real, sizeof(real));
	v->pci.ops = &cfg_ops;
	v->pci.opaque = v;
	if ((r = setup_bars(v, real)) < 0)
		return r;
	if (v->msi_cap && (v->msi_efd = eventfd(0, EFD_CLOEXEC)) < 0) {
		log_error("%s: eventfd: %s", v->name, strerror(errno));
		return -errno;
	}
	if ((r = pci_register(bus, &v->pci, -1)) < 0) {
		log_error("%s: no room on the PCI bus: %s", v->name, strerror(-r));
		return r;
	}
	log_info("%s: %04x:%04x passed through at 00:%02x.0%s", v->name, pci_cfg_read16(&v->pci, PCI_VENDOR_ID),
		 pci_cfg_read16(&v->pci, PCI_DEVICE_ID), r, v->msi_cap ? ", MSI" : "");
	return 0;
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
		int r = vfio_pci_attach(vm, c->pcidevs[i], bus);
		if (r < 0)
			return r;
	}
	return 0;
}

DEVICE_REGISTER("vfio-pci", vfio_pci_create, 60);
