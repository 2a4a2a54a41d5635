/* Modern virtio-pci transport (virtio 1.2, section 4.1; virtio 1.x only, no
 * legacy interface), shared by every virtio device model.
 *
 * Layout: one 32-bit memory BAR (VIRTIO_PCI_BAR, 32 KiB):
 *   0x0000  common configuration   (cfg_type 1)
 *   0x1000  ISR status              (cfg_type 3)
 *   0x2000  device configuration    (cfg_type 4, only if the device has one)
 *   0x3000  notifications           (cfg_type 2, queue q at 0x3000 + 4 * q)
 *   0x4000  MSI-X table             (one vector per queue, plus one for config)
 *   0x5000  MSI-X pending bit array
 * plus the PCI configuration access capability (cfg_type 5), a window onto
 * the BAR through config space.
 *
 * Threads. The guest's vCPU threads access the BAR and the config space; a
 * device thread per device (started by virtio_pci_register) waits in epoll on
 * one eventfd per queue, which KVM signals directly when the guest writes the
 * queue's notify address (KVM_IOEVENTFD; a notify write that still reaches
 * the VMM, e.g. of another width, signals the same eventfd). The device thread
 * calls ops->queue_notify with vp->lock held, so the vCPU thread never does
 * device I/O, and a reset or re-configuration from a vCPU thread waits for the
 * request in flight. Interrupts: the MSI-X vector's eventfd, bound to a KVM MSI
 * route with KVM_IRQFD; with MSI-X off, the ISR bit and INTx.
 *
 * A hostile driver (bad selectors, sizes, addresses, feature sets, kicks
 * before DRIVER_OK) gets its write refused or the device marked
 * DEVICE_NEEDS_RESET, with one log line per cause; nothing outside guest RAM
 * is touched (the virtqueues check every ring access).
 */
#ifndef KVMBOX_VIRTIO_PCI_H
#define KVMBOX_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci.h"
#include "virtio/virtqueue.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + the virtio device id */
#define VIRTIO_PCI_MAX_QUEUES 16
#define VIRTIO_PCI_NO_VECTOR 0xffff
#define VIRTIO_PCI_MAX_SOURCES 16 /* other fds the device thread waits on */
#define VIRTIO_PCI_BROKEN_LOGS 32 /* "needs a reset" lines per device, at most */

#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x0038
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVCFG_OFF 0x2000
#define VIRTIO_PCI_DEVCFG_MAX 0x1000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x5000

/* device_status bits (virtio 1.2, 2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_FEATURE_VERSION_1 (1ull << 32)
#define VIRTIO_FEATURE_RING_INDIRECT_DESC (1ull << 28)
#define VIRTIO_FEATURE_RING_EVENT_IDX (1ull << 29)

struct virtio_pci;

struct virtio_pci_ops {
	/* Device thread, vp->lock held: drain queue q (see virtqueue.h's loop)
	 * and call virtio_pci_notify_queue() when virtq_should_notify says so. */
	void (*queue_notify)(struct virtio_pci *vp, unsigned q);
	/* vCPU thread, vp->lock held: the device configuration space (size 1, 2,
	 * 4 or 8 at off < cfg_size). May be NULL when cfg_size is 0. */
	void (*config_read)(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned size);
	void (*config_write)(struct virtio_pci *vp, unsigned off, const uint8_t *data, unsigned size);
	/* vp->lock held: the driver reset the device (may be NULL). */
	void (*reset)(struct virtio_pci *vp);
};

struct virtio_pci_queue {
	struct virtqueue vq;
	unsigned max_size;   /* what queue_size reads after a reset */
	uint16_t size;       /* as the driver wrote it */
	uint16_t msix_vector;
	uint16_t enabled;
	uint64_t desc, driver, device;
	int kick_efd;        /* the ioeventfd */
};

struct virtio_pci_vector {
	uint32_t addr_lo, addr_hi, data, ctrl; /* the MSI-X table entry, as the guest wrote it */
	int efd;             /* irqfd */
	int gsi;             /* its KVM MSI route, or -1 */
	bool dirty;          /* the entry changed since the route was set */
	bool pending;        /* PBA bit */
};

struct virtio_pci {
	struct pci_device pci;
	struct vm *vm;       /* NULL in unit tests: no KVM, interrupts recorded only */
	const struct guest_mem *gm;
	const char *name;
	unsigned device_id;
	const struct virtio_pci_ops *ops;
	void *opaque;        /* the device model's */
	unsigned cfg_size;   /* device configuration bytes */
	uint64_t host_features; /* offered, VERSION_1 and the ring features included */

	pthread_mutex_t lock;
	uint32_t dfselect, gfselect;
	uint64_t guest_features;
	uint16_t config_vector;
	uint8_t status;
	uint8_t config_generation;
	uint8_t isr;
	uint16_t queue_select;
	unsigned num_queues;
	struct virtio_pci_queue q[VIRTIO_PCI_MAX_QUEUES];
	unsigned nvectors;   /* num_queues + 1 */
	struct virtio_pci_vector vec[VIRTIO_PCI_MAX_QUEUES + 1];
	bool msix_enabled, msix_masked; /* MSI-X capability control bits */
	unsigned msix_cap;
	unsigned pcicfg_cap; /* VIRTIO_PCI_CAP_PCI_CFG */
	uint64_t bar_addr;   /* where the BAR decodes, for the ioeventfds */
	unsigned logged;     /* bit per kind of complaint already logged */
	unsigned broken_logs; /* "needs a reset" lines logged, over the device's life */
	uint64_t irqs_sent;  /* interrupts delivered (tests) */

	int epfd;
	unsigned nsources;
	struct virtio_pci_source {
		int fd;
		void (*fn)(struct virtio_pci *vp, void *arg, uint32_t events);
		void *arg;
	} sources[VIRTIO_PCI_MAX_SOURCES];
	pthread_t thread;
	bool thread_started;
};

/* Fill vp: device id (e.g. 4 for rng), class code, queues (each of size max
 * queue_max, a power of two), device features (VERSION_1 and the ring
 * features are added), device config size. vm may be NULL (tests): then
 * neither eventfds nor a thread are made. 0 or -errno. */
int virtio_pci_init(struct virtio_pci *vp, struct vm *vm, const struct guest_mem *gm, const char *name,
		    unsigned device_id, uint32_t class_code, unsigned num_queues, unsigned queue_max,
		    uint64_t features, unsigned cfg_size, const struct virtio_pci_ops *ops, void *opaque);
/* Have the device thread also wait on fd (a tap, an eventfd...) for events
 * (EPOLLIN, EPOLLOUT...; level-triggered) and call fn with vp->lock held when
 * one fires: the device's backend work stays off the vCPU and main threads.
 * Call between virtio_pci_init and virtio_pci_register; fd stays the
 * caller's. 0 or -errno (-ENOSPC past VIRTIO_PCI_MAX_SOURCES). */
int virtio_pci_add_source(struct virtio_pci *vp, int fd, uint32_t events,
			  void (*fn)(struct virtio_pci *vp, void *arg, uint32_t events), void *arg);
/* Change what the device thread waits for on a source's fd (e.g. add
 * EPOLLOUT while a backend is full). vp->lock held or not. 0 or -errno. */
int virtio_pci_source_events(struct virtio_pci *vp, int fd, uint32_t events);

/* Put it on the bus and start the device thread. 0 or -errno. */
int virtio_pci_register(struct virtio_pci *vp, struct pci_bus *bus);

/* Device side, vp->lock held: interrupt the driver for queue q, or for a
 * configuration change. */
void virtio_pci_notify_queue(struct virtio_pci *vp, unsigned q);
void virtio_pci_notify_config(struct virtio_pci *vp);
/* A queue broke (vq->reason says why): log it once per break (a reset
 * re-arms it; VIRTIO_PCI_BROKEN_LOGS lines per device at most, against a
 * driver that breaks and resets in a loop), set NEEDS_RESET and tell the
 * driver. vp->lock held. */
void virtio_pci_queue_broken(struct virtio_pci *vp, unsigned q);

/* The loop of virtqueue.h for a device that answers each request at once:
 * take every available chain of queue q into *chain, call handle, push the
 * chain back with the byte count handle returns (bytes written into its
 * writable buffers), interrupt the driver as it asks, and go on until the
 * queue is empty with notifications re-enabled, so no kick is lost. handle
 * returns < 0 after virtq_mark_broken() for a chain that breaks the rules;
 * the drain then stops (the transport logs the reason). Device thread,
 * vp->lock held. */
void virtio_pci_drain(struct virtio_pci *vp, unsigned q, struct virtq_chain *chain,
		      int64_t (*handle)(struct virtio_pci *vp, struct virtqueue *vq, struct virtq_chain *c));

/* What the device thread does on a kick of queue q (tests call it directly). */
void virtio_pci_kick(struct virtio_pci *vp, unsigned q);

#endif
