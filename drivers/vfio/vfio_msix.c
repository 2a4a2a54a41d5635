/* MSI-X of a passed-through device: the table and PBA, trapped and emulated.
 *
 * The real table holds host interrupt addresses, so the guest never reaches
 * it: the pages holding the table and PBA are left out of the BAR's memory
 * slots (vfio_pci.c) and their accesses come here. The guest's entries live
 * in our copy; a vector the guest unmasks (with MSI-X enabled and the
 * function unmasked) gets an eventfd, given to VFIO for that vector, and a
 * KVM irqfd on an MSI route with the guest's address and data. Masking
 * detaches the irqfd only: an interrupt that arrives meanwhile stays counted
 * in the eventfd, shows as pending in the PBA, and KVM delivers it when the
 * irqfd is attached again at unmask, which is what the spec asks of masking.
 *
 * VFIO gets vectors as the guest unmasks them: one at a time where the
 * kernel can add vectors to an enabled MSI-X (Linux 6.5 and later), else by
 * re-enabling with the larger count, which the guest does not see because
 * the eventfds stay the same.
 */
#include <errno.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "vfio/vfio_dev.h"
#include "vm.h"

int vfio_msix_setup(struct vfio_pci *v, unsigned cap)
{
	struct vfio_msix *x = &v->msix;
	if (vfio_cfg_msix(&v->pci, cap, &x->l) < 0) {
		log_warn("%s: the MSI-X capability points outside the BARs: hidden", v->name);
		return -EINVAL;
	}
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	if (ioctl(v->fd, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0 || info.count < x->l.nvec) {
		log_warn("%s: VFIO offers %u MSI-X vectors, the device %u: MSI-X hidden", v->name, info.count,
			 x->l.nvec);
		return -EINVAL;
	}
	x->can_grow = !(info.flags & VFIO_IRQ_INFO_NORESIZE);
	x->table = calloc(x->l.nvec, 16);
	x->vec = calloc(x->l.nvec, sizeof(*x->vec));
	if (!x->table || !x->vec)
		return -ENOMEM;
	for (unsigned i = 0; i < x->l.nvec; i++) {
		x->table[16 * i + 12] = 1; /* masked at reset */
		x->vec[i].efd = x->vec[i].gsi = -1;
	}
	x->cap = cap;
	/* Trap the pages of the table and the PBA (one range per BAR). */
	for (int k = 0; k < 2; k++) {
		struct vfio_bar *b = &v->bar[k ? x->l.pba_bar : x->l.table_bar];
		uint64_t off = k ? x->l.pba_off : x->l.table_off;
		uint64_t end = off + (k ? vfio_msix_pba_len(x->l.nvec) : x->l.nvec * 16ull);
		uint64_t lo = off & ~4095ull, hi = (end + 4095) & ~4095ull;
		if (b->trap_lo == b->trap_hi) {
			b->trap_lo = lo;
			b->trap_hi = hi;
		} else {
			b->trap_lo = lo < b->trap_lo ? lo : b->trap_lo;
			b->trap_hi = hi > b->trap_hi ? hi : b->trap_hi;
		}
	}
	return 0;
}

/* Give VFIO eventfds up to and including vector n - 1. */
static int device_grow(struct vfio_pci *v, unsigned n)
{
	struct vfio_msix *x = &v->msix;
	if (x->enabled_on_device && n <= x->device_count)
		return 0;
	int *fds = malloc(n * sizeof(int));
	if (!fds)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		fds[i] = x->vec[i].on_device || i == n - 1 ? x->vec[i].efd : -1;
	int r;
	if (x->enabled_on_device && x->can_grow) {
		r = vfio_irq_set(v, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, n - 1, 1, &fds[n - 1]);
	} else {
		if (x->enabled_on_device)
			vfio_irq_set(v, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
		r = vfio_irq_set(v, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, n, fds);
		x->enabled_on_device = !r;
	}
	free(fds);
	if (!r)
		x->device_count = n > x->device_count ? n : x->device_count;
	return r;
}

/* Vector i to what the guest's table and flags say. Under irq_lock. */
static void vec_sync(struct vfio_pci *v, unsigned i, int enabled, int fmask)
{
	struct vfio_msix *x = &v->msix;
	struct vfio_msix_vec *e = &x->vec[i];
	struct vfio_msi m;
	int masked;
	vfio_msix_entry(x->table, i, &m, &masked);
	if (!enabled || fmask || masked) {
		if (e->irqfd && vm_irqfd(v->vm, e->efd, e->gsi, 0) == 0)
			e->irqfd = 0;
		return;
	}
	if (e->efd < 0 && (e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		log_warn("%s: MSI-X vector %u: eventfd: %s", v->name, i, strerror(errno));
		return;
	}
	int gsi = vm_msi_route(v->vm, m.addr, m.data, e->gsi);
	if (gsi < 0) {
		log_warn("%s: MSI-X vector %u: no route: %s", v->name, i, strerror(-gsi));
		return;
	}
	e->gsi = gsi;
	if (!e->on_device) {
		int r = device_grow(v, i + 1);
		if (r < 0) {
			log_warn("%s: MSI-X vector %u at VFIO: %s", v->name, i, strerror(-r));
			return;
		}
		e->on_device = 1;
	}
	if (!e->irqfd) {
		int r = vm_irqfd(v->vm, e->efd, e->gsi, 1);
		if (r < 0)
			log_warn("%s: MSI-X vector %u: irqfd: %s", v->name, i, strerror(-r));
		e->irqfd = !r;
	}
}

void vfio_msix_off_locked(struct vfio_pci *v, int vm_alive)
{
	struct vfio_msix *x = &v->msix;
	if (!x->vec)
		return;
	if (x->enabled_on_device) {
		vfio_irq_set(v, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
		log_info("%s: MSI-X off", v->name);
	}
	x->enabled_on_device = 0;
	x->device_count = 0;
	for (unsigned i = 0; i < x->l.nvec; i++) {
		struct vfio_msix_vec *e = &x->vec[i];
		if (vm_alive && e->irqfd)
			vm_irqfd(v->vm, e->efd, e->gsi, 0);
		if (vm_alive && e->gsi >= 0)
			vm_msi_route_free(v->vm, e->gsi);
		e->irqfd = e->on_device = 0;
		e->gsi = -1;
		uint64_t n;
		if (e->efd >= 0 && read(e->efd, &n, sizeof(n)) < 0) /* drop what a disabled MSI-X left */
			n = 0;
	}
	if (v->mode == VFIO_IRQ_MSIX)
		v->mode = VFIO_IRQ_NONE;
}

void vfio_msix_update(struct vfio_pci *v)
{
	struct vfio_msix *x = &v->msix;
	int enabled, fmask;
	vfio_msix_flags(&v->pci, x->cap, &enabled, &fmask);
	pthread_mutex_lock(&v->irq_lock);
	if (enabled && v->mode != VFIO_IRQ_MSIX) {
		vfio_irq_mode_locked(v, VFIO_IRQ_MSIX);
		v->mode = VFIO_IRQ_MSIX;
		log_info("%s: MSI-X on: %u vectors", v->name, x->l.nvec);
	}
	if (!enabled && v->mode == VFIO_IRQ_MSIX) {
		vfio_msix_off_locked(v, 1);
		vfio_irq_mode_locked(v, VFIO_IRQ_INTX);
	} else if (enabled) {
		for (unsigned i = 0; i < x->l.nvec; i++)
			vec_sync(v, i, enabled, fmask);
	}
	pthread_mutex_unlock(&v->irq_lock);
}

/* Pending bit of vector i: an interrupt counted while the guest masks it. */
static int vec_pending(const struct vfio_msix_vec *e)
{
	if (e->efd < 0 || e->irqfd)
		return 0;
	struct pollfd p = { .fd = e->efd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

int vfio_msix_bar_access(struct vfio_bar *b, uint64_t off, uint8_t *data, unsigned size, int write)
{
	struct vfio_pci *v = b->dev;
	struct vfio_msix *x = &v->msix;
	if (!x->vec)
		return 0;
	int bar = (int)(b - v->bar);
	uint64_t tlen = x->l.nvec * 16ull, plen = vfio_msix_pba_len(x->l.nvec);
	if (bar == x->l.table_bar && off < x->l.table_off + tlen && x->l.table_off < off + size) {
		pthread_mutex_lock(&v->irq_lock);
		unsigned first, last;
		/* An access straddling the table's edge is not one a driver
		 * makes: reads get ones, writes are dropped. */
		if (vfio_msix_table_access(x->table, x->l.nvec, off - x->l.table_off, data, size, write, &first,
					   &last) < 0) {
			if (!write)
				memset(data, 0xff, size);
		} else if (write && v->mode == VFIO_IRQ_MSIX) {
			int enabled, fmask;
			vfio_msix_flags(&v->pci, x->cap, &enabled, &fmask);
			for (unsigned i = first; i <= last; i++)
				vec_sync(v, i, enabled, fmask);
		}
		pthread_mutex_unlock(&v->irq_lock);
		return 1;
	}
	if (bar == x->l.pba_bar && off < x->l.pba_off + plen && x->l.pba_off < off + size) {
		if (write) /* the PBA is read-only */
			return 1;
		pthread_mutex_lock(&v->irq_lock);
		for (unsigned i = 0; i < size; i++) {
			uint64_t o = off + i;
			uint8_t byte = 0;
			if (o >= x->l.pba_off && o < x->l.pba_off + plen)
				for (unsigned bit = 0; bit < 8; bit++) {
					uint64_t vec = (o - x->l.pba_off) * 8 + bit;
					if (vec < x->l.nvec && vec_pending(&x->vec[vec]))
						byte |= (uint8_t)(1u << bit);
				}
			data[i] = byte;
		}
		pthread_mutex_unlock(&v->irq_lock);
		return 1;
	}
	return 0;
}

void vfio_msix_close(struct vfio_pci *v)
{
	struct vfio_msix *x = &v->msix;
	for (unsigned i = 0; x->vec && i < x->l.nvec; i++)
		if (x->vec[i].efd >= 0)
			close(x->vec[i].efd);
	free(x->vec);
	free(x->table);
	x->vec = NULL;
	x->table = NULL;
}
