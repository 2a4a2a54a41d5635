/* Interrupts of a passed-through device: INTx and MSI (MSI-X is vfio_msix.c).
 *
 * VFIO allows one interrupt index at a time, so the device is in one mode:
 * INTx while the guest uses neither MSI nor MSI-X (from the start, when the
 * device has a pin), MSI or MSI-X once the guest enables one, and INTx again
 * when it turns that off. Every switch goes through vfio_irq_mode_locked().
 *
 * INTx is level-triggered and the device's line stays up until the guest's
 * driver quiets the device, so VFIO masks it each time it fires. The device's
 * eventfd drives the guest's IOAPIC pin through a resampling irqfd: KVM keeps
 * the pin asserted until the guest's EOI, then signals the resample eventfd.
 * A small thread then unmasks the device at VFIO, unless the guest has set
 * INTx Disable in COMMAND (the bit is ours to emulate: passing it to the
 * device would fight VFIO, which uses the same bit to mask). The line never
 * carries an interrupt the guest has not acknowledged, and the thread runs
 * once per interrupt, which is the price of INTx everywhere.
 *
 * MSI: one vector; its eventfd raises the guest's message through an irqfd
 * on an MSI route, with no VMM thread in the path.
 */
#include <errno.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "vfio/vfio_dev.h"
#include "vm.h"

int vfio_irq_set(struct vfio_pci *v, unsigned index, unsigned action, unsigned start, unsigned count,
		 const int *fds)
{
	size_t size = sizeof(struct vfio_irq_set) + (fds ? count * sizeof(int32_t) : 0);
	struct vfio_irq_set *s = calloc(1, size);
	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)size;
	s->flags = action | (fds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	s->index = index;
	s->start = start;
	s->count = count;
	if (fds)
		memcpy(s->data, fds, count * sizeof(int32_t));
	int r = ioctl(v->fd, VFIO_DEVICE_SET_IRQS, s) < 0 ? -errno : 0;
	free(s);
	return r;
}

/* --- INTx --- */

static void *intx_thread(void *arg)
{
	struct vfio_pci *v = arg;
	for (;;) {
		uint64_t n;
		if (read(v->intx_rfd, &n, sizeof(n)) != (ssize_t)sizeof(n) && errno != EINTR)
			break;
		pthread_mutex_lock(&v->irq_lock);
		int stop = v->intx_stop;
		if (!stop && v->intx_on && !v->intx_guest_masked)
			vfio_irq_set(v, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, NULL);
		pthread_mutex_unlock(&v->irq_lock);
		if (stop)
			break;
	}
	return NULL;
}

void vfio_intx_on_locked(struct vfio_pci *v)
{
	if (!v->intx_pin || v->intx_on || v->intx_gsi < 0)
		return;
	int r = vm_irqfd_resample(v->vm, v->intx_efd, v->intx_rfd, v->intx_gsi, 1);
	if (!r && (r = vfio_irq_set(v, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &v->intx_efd)) < 0)
		vm_irqfd_resample(v->vm, v->intx_efd, v->intx_rfd, v->intx_gsi, 0);
	if (r < 0) {
		log_warn("%s: INTx on GSI %d: %s", v->name, v->intx_gsi, strerror(-r));
		return;
	}
	v->intx_on = 1;
	v->mode = VFIO_IRQ_INTX;
	if (v->intx_guest_masked)
		vfio_irq_set(v, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_MASK, 0, 1, NULL);
}

static void intx_off_locked(struct vfio_pci *v, int vm_alive)
{
	if (!v->intx_on)
		return;
	vfio_irq_set(v, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
	if (vm_alive)
		vm_irqfd_resample(v->vm, v->intx_efd, v->intx_rfd, v->intx_gsi, 0);
	v->intx_on = 0;
	if (v->mode == VFIO_IRQ_INTX)
		v->mode = VFIO_IRQ_NONE;
}

int vfio_intx_setup(struct vfio_pci *v)
{
	if (!v->intx_pin)
		return 0;
	v->intx_gsi = (int)pci_intx_gsi((unsigned)v->pci.slot, (unsigned)v->intx_pin);
	if ((v->intx_efd = eventfd(0, EFD_CLOEXEC)) < 0 || (v->intx_rfd = eventfd(0, EFD_CLOEXEC)) < 0) {
		log_error("%s: eventfd: %s", v->name, strerror(errno));
		return -errno;
	}
	int r = pthread_create(&v->intx_thread, NULL, intx_thread, v);
	if (r) {
		log_error("%s: INTx thread: %s", v->name, strerror(r));
		return -r;
	}
	v->intx_thread_on = 1;
	char tname[16];
	snprintf(tname, sizeof(tname), "vfio-intx %d", v->pci.slot);
	pthread_setname_np(v->intx_thread, tname);
	pthread_mutex_lock(&v->irq_lock);
	vfio_intx_on_locked(v);
	pthread_mutex_unlock(&v->irq_lock);
	log_info("%s: INTx pin %c on GSI %d%s", v->name, 'A' + v->intx_pin - 1, v->intx_gsi, v->intx_on ? "" : " (off)");
	return 0;
}

void vfio_intx_command(struct vfio_pci *v)
{
	int masked = !!(pci_cfg_read16(&v->pci, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	pthread_mutex_lock(&v->irq_lock);
	if (masked != v->intx_guest_masked) {
		v->intx_guest_masked = masked;
		if (v->intx_on)
			vfio_irq_set(v, VFIO_PCI_INTX_IRQ_INDEX,
				     masked ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, NULL);
	}
	pthread_mutex_unlock(&v->irq_lock);
}

/* --- MSI --- */

static void msi_off_locked(struct vfio_pci *v, int vm_alive)
{
	if (!v->msi_on)
		return;
	log_info("%s: MSI off", v->name);
	vfio_irq_set(v, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
	/* vm_alive 0: the VM's KVM fd is already closed (the exit path runs
	 * after vm_destroy), and its routes went with it. */
	if (vm_alive) {
		vm_irqfd(v->vm, v->msi_efd, v->msi_gsi, 0);
		vm_msi_route_free(v->vm, v->msi_gsi);
	}
	v->msi_gsi = -1;
	v->msi_on = 0;
	if (v->mode == VFIO_IRQ_MSI)
		v->mode = VFIO_IRQ_NONE;
}

static void msi_on_locked(struct vfio_pci *v, const struct vfio_msi *m)
{
	/* Re-routing an enabled vector (the guest moved its affinity) only
	 * changes the route; the device keeps signalling the same eventfd. */
	int gsi = vm_msi_route(v->vm, m->addr, m->data, v->msi_on ? v->msi_gsi : -1);
	if (gsi < 0) {
		log_warn("%s: MSI route: %s", v->name, strerror(-gsi));
		return;
	}
	if (v->msi_on) {
		log_debug("%s: MSI moved: message %#llx/%#x", v->name, (unsigned long long)m->addr, m->data);
		return;
	}
	int r = vfio_irq_mode_locked(v, VFIO_IRQ_MSI);
	if (!r)
		r = vm_irqfd(v->vm, v->msi_efd, gsi, 1);
	if (!r && (r = vfio_irq_set(v, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &v->msi_efd)) < 0)
		vm_irqfd(v->vm, v->msi_efd, gsi, 0);
	if (r < 0) {
		log_warn("%s: enabling MSI: %s", v->name, strerror(-r));
		vm_msi_route_free(v->vm, gsi);
		vfio_intx_on_locked(v);
		return;
	}
	v->msi_gsi = gsi;
	v->msi_on = 1;
	v->mode = VFIO_IRQ_MSI;
	log_info("%s: MSI on: GSI %d, message %#llx/%#x", v->name, gsi, (unsigned long long)m->addr, m->data);
}

void vfio_msi_update(struct vfio_pci *v)
{
	struct vfio_msi m;
	vfio_cfg_msi(&v->pci, v->msi_cap, &m);
	pthread_mutex_lock(&v->irq_lock);
	if (m.enabled) {
		msi_on_locked(v, &m);
	} else if (v->msi_on) {
		msi_off_locked(v, 1);
		vfio_irq_mode_locked(v, VFIO_IRQ_INTX);
	}
	pthread_mutex_unlock(&v->irq_lock);
}

/* --- switching --- */

int vfio_irq_mode_locked(struct vfio_pci *v, enum vfio_irq_mode want)
{
	if (v->mode == want)
		return 0;
	if (v->mode == VFIO_IRQ_INTX)
		intx_off_locked(v, 1);
	else if (v->mode == VFIO_IRQ_MSI)
		msi_off_locked(v, 1);
	else if (v->mode == VFIO_IRQ_MSIX)
		vfio_msix_off_locked(v, 1);
	v->mode = VFIO_IRQ_NONE;
	if (want == VFIO_IRQ_INTX)
		vfio_intx_on_locked(v);
	/* MSI and MSI-X: their callers turn them on. */
	return 0;
}

void vfio_irq_close(struct vfio_pci *v, int vm_alive)
{
	pthread_mutex_lock(&v->irq_lock);
	msi_off_locked(v, vm_alive);
	vfio_msix_off_locked(v, vm_alive);
	intx_off_locked(v, vm_alive);
	v->intx_stop = 1;
	pthread_mutex_unlock(&v->irq_lock);
	if (v->intx_thread_on) {
		uint64_t one = 1;
		if (write(v->intx_rfd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			pthread_join(v->intx_thread, NULL);
		v->intx_thread_on = 0;
	}
	int *fds[] = { &v->msi_efd, &v->intx_efd, &v->intx_rfd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	vfio_msix_close(v);
}
