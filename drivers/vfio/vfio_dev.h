/* The passed-through device inside the VMM: what vfio_pci.c (setup, BARs,
 * config space), vfio_container.c (container, groups, DMA), vfio_irq.c
 * (INTx and MSI) and vfio_msix.c (the MSI-X table) share. Not for the rest
 * of the VMM: it sees a pci_device on its bus.
 */
#ifndef KVMBOX_VFIO_DEV_H
#define KVMBOX_VFIO_DEV_H

#include <pthread.h>
#include <stdint.h>

#include "vfio/host_pci.h"
#include "vfio/vfio_pci.h"

struct vm;
struct vfio_pci;

struct vfio_bar {
	struct vfio_pci *dev;
	uint64_t size, offset; /* the region in the device fd */
	void *map;             /* the mmapped region, or NULL: all trapped */
	/* Pages never mapped into the guest, even when map is set: those
	 * holding the MSI-X table and PBA. [trap_lo, trap_hi), page-aligned. */
	uint64_t trap_lo, trap_hi;
	int slot[2];           /* KVM memory slots: before and after the trap */
};

/* One MSI-X vector: the device signals efd; KVM turns that into the guest's
 * message on gsi while the guest has it unmasked (irqfd attached). */
struct vfio_msix_vec {
	int efd, gsi;
	int irqfd;     /* attached to KVM */
	int on_device; /* efd given to VFIO for this vector */
};

struct vfio_msix {
	struct vfio_msix_layout l;
	unsigned cap;
	uint8_t *table;             /* the guest's table, l.nvec * 16 bytes */
	struct vfio_msix_vec *vec;
	int enabled_on_device;      /* VFIO's MSI-X index is on */
	unsigned device_count;      /* vectors VFIO was given */
	int can_grow;               /* VFIO adds vectors while enabled */
};

enum vfio_irq_mode { VFIO_IRQ_NONE, VFIO_IRQ_INTX, VFIO_IRQ_MSI, VFIO_IRQ_MSIX };

struct vfio_pci {
	struct pci_device pci;
	struct vm *vm;
	char id[64];    /* a BDF, or an mdev's UUID */
	char name[80];  /* "vfio 0000:00:03.0", for the log */
	int is_mdev;
	struct vfio_group *group;
	int fd;
	int bound;      /* we moved the group to vfio-pci */
	int keep;       /* release=off: it stays there when the VM stops */
	struct host_pci_binding saved;
	uint64_t cfg_offset;
	struct vfio_bar bar[PCI_NUM_BARS];
	int can_reset;

	/* Interrupts: one VFIO index at a time (the kernel allows no more),
	 * switched under irq_lock, which also guards everything below. */
	pthread_mutex_t irq_lock;
	enum vfio_irq_mode mode;
	unsigned msi_cap;
	int msi_efd, msi_gsi, msi_on;
	int intx_pin;                 /* 0: the device has none */
	int intx_gsi, intx_efd, intx_rfd, intx_on, intx_guest_masked;
	pthread_t intx_thread;
	int intx_thread_on, intx_stop;
	struct vfio_msix msix;

	struct vfio_pci *next;
};

/* vfio_container.c: the one container of this VMM (all guest RAM mapped for
 * DMA once) and the groups in it, shared by the devices. */
struct vfio_group;
int vfio_group_get(struct vfio_pci *v, int number, struct vfio_group **out);
int vfio_group_fd(const struct vfio_group *g);
void vfio_group_put(struct vfio_group *g);

/* vfio_irq.c */
int vfio_irq_set(struct vfio_pci *v, unsigned index, unsigned action, unsigned start, unsigned count,
		 const int *fds);
int vfio_intx_setup(struct vfio_pci *v);   /* after pci_register: the pin's GSI is known */
void vfio_intx_command(struct vfio_pci *v);/* the guest wrote COMMAND */
void vfio_msi_update(struct vfio_pci *v);  /* the guest wrote the MSI capability */
void vfio_irq_close(struct vfio_pci *v, int vm_alive);
/* Under irq_lock: leave the current mode for want (INTx comes back when
 * MSI and MSI-X are both off). */
int vfio_irq_mode_locked(struct vfio_pci *v, enum vfio_irq_mode want);
void vfio_intx_on_locked(struct vfio_pci *v);

/* vfio_msix.c */
int vfio_msix_setup(struct vfio_pci *v, unsigned cap);
int vfio_msix_bar_access(struct vfio_bar *b, uint64_t off, uint8_t *data, unsigned size, int write);
void vfio_msix_update(struct vfio_pci *v); /* the guest wrote the capability */
void vfio_msix_off_locked(struct vfio_pci *v, int vm_alive);
void vfio_msix_close(struct vfio_pci *v);

#endif
