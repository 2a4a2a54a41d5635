/* virtio-console (virtio 1.2, 5.3): hvc0, a second console that is much
 * faster than the UART (one exit per buffer, not per byte), in the same
 * console hub: its output goes where the UART's goes (stdout, the console
 * socket, the seed mirror), under the same lock, so lines from the two never
 * interleave mid-write. Console input goes to the UART by default, or here
 * with --console-input hvc.
 *
 * No feature bits (no MULTIPORT, no SIZE): port 0 only, queue 0 is the
 * guest's receive queue, queue 1 its transmit queue. Every VM gets one
 * unless --no-hvc ("hvc": false). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "virtio/virtio_pci.h"
#include "vm.h"
#include "vmm/config.h"

#define VIRTIO_ID_CONSOLE 3
#define CONSOLE_QUEUE_SIZE 64
#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1
#define CONSOLE_INPUT_MAX 4096 /* input held while the guest posts no buffers */
#define PCI_CLASS_COMMUNICATION_OTHER 0x078000

struct virtio_console {
	struct virtio_pci vp;
	struct vm_serial *serial;
	/* Input from the main thread, waiting for the device thread. */
	pthread_mutex_t in_lock;
	uint8_t in[CONSOLE_INPUT_MAX];
	unsigned in_len;
	unsigned long in_dropped;
	int in_efd;
	struct virtq_chain chain; /* 16 KiB: not on the device thread's stack */
};

/* Guest output: every readable byte of each chain, written to the console
 * in one go per buffer. A write the console cannot take is dropped, like
 * the UART's: a stuck console client must not stall the guest forever. */
static void console_tx(struct virtio_console *c, struct virtqueue *vq)
{
	const struct virtq_chain *ch = &c->chain;
	pthread_mutex_lock(&c->serial->lock);
	int fd = c->serial->out_fd;
	for (unsigned i = 0; fd >= 0 && i < ch->out_num; i++) {
		const uint8_t *p = ch->out_iov[i].iov_base;
		size_t left = ch->out_iov[i].iov_len;
		while (left) {
			ssize_t n = write(fd, p, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			p += n;
			left -= (size_t)n;
		}
	}
	pthread_mutex_unlock(&c->serial->lock);
	(void)vq;
}

/* Guest input: fill posted receive buffers from the pending input. */
static void console_rx(struct virtio_console *c)
{
	struct virtio_pci *vp = &c->vp;
	struct virtqueue *vq = &vp->q[CONSOLE_RXQ].vq;
	if (!vq->ready || vq->broken)
		return;
	pthread_mutex_lock(&c->in_lock);
	unsigned pushed = 0;
again:
	while (c->in_len && virtq_pop(vq, vp->gm, &c->chain) > 0) {
		if (c->chain.out_num) {
			virtq_mark_broken(vq, "virtio-console receive buffer that the device must read");
			break;
		}
		unsigned done = 0;
		for (unsigned i = 0; i < c->chain.in_num && done < c->in_len; i++) {
			size_t n = c->chain.in_iov[i].iov_len;
			if (n > c->in_len - done)
				n = c->in_len - done;
			memcpy(c->chain.in_iov[i].iov_base, c->in + done, n);
			done += (unsigned)n;
		}
		memmove(c->in, c->in + done, c->in_len - done);
		c->in_len -= done;
		if (virtq_push(vq, vp->gm, c->chain.head, done) < 0)
			break;
		pushed++;
	}
	/* Input left and no buffers: ask for a kick when the guest posts some
	 * (with EVENT_IDX it would not send one otherwise), unless buffers
	 * arrived while we asked. */
	if (c->in_len && !vq->broken && virtq_enable_notify(vq, vp->gm) > 0)
		goto again;
	pthread_mutex_unlock(&c->in_lock);
	if (pushed && virtq_should_notify(vq, vp->gm))
		virtio_pci_notify_queue(vp, CONSOLE_RXQ);
	if (vq->broken)
		virtio_pci_queue_broken(vp, CONSOLE_RXQ);
}

static int64_t console_tx_request(struct virtio_pci *vp, struct virtqueue *vq, struct virtq_chain *c)
{
	if (c->in_num) {
		virtq_mark_broken(vq, "virtio-console transmit buffer that the device must write");
		return -1;
	}
	console_tx(vp->opaque, vq);
	return 0;
}

static void console_queue_notify(struct virtio_pci *vp, unsigned q)
{
	struct virtio_console *c = vp->opaque;
	if (q == CONSOLE_RXQ)
		console_rx(c); /* new buffers: pending input can go in */
	else
		virtio_pci_drain(vp, q, &c->chain, console_tx_request);
}

/* Device thread: the main thread queued input. */
static void console_input_ready(struct virtio_pci *vp, void *arg, uint32_t events)
{
	struct virtio_console *c = arg;
	uint64_t n;
	(void)events;
	if (read(c->in_efd, &n, sizeof(n)) != sizeof(n))
		return;
	(void)vp;
	console_rx(c);
}

/* Main thread: bytes typed at the console. Held (up to CONSOLE_INPUT_MAX)
 * until the guest posts receive buffers; beyond that they are dropped and
 * counted, so a guest that never reads cannot grow the VMM. */
static void console_input(void *opaque, const uint8_t *buf, unsigned len)
{
	struct virtio_console *c = opaque;
	pthread_mutex_lock(&c->in_lock);
	unsigned room = CONSOLE_INPUT_MAX - c->in_len;
	unsigned n = len < room ? len : room;
	memcpy(c->in + c->in_len, buf, n);
	c->in_len += n;
	c->in_dropped += len - n;
	pthread_mutex_unlock(&c->in_lock);
	uint64_t one = 1;
	if (write(c->in_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("virtio-console: input wakeup: %s", strerror(errno));
}

static void console_reset(struct virtio_pci *vp)
{
	struct virtio_console *c = vp->opaque;
	pthread_mutex_lock(&c->in_lock);
	c->in_len = 0; /* input typed for the old driver instance is stale */
	pthread_mutex_unlock(&c->in_lock);
}

static const struct virtio_pci_ops console_ops = { .queue_notify = console_queue_notify, .reset = console_reset };

static int virtio_console_create(struct vm *vm)
{
	struct pci_bus *bus = vm_pci(vm);
	const struct vmm_config *cfg = vm_config(vm);
	if (!bus || (cfg && !cfg->hvc))
		return 0;
	struct virtio_console *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->serial = vm_serial(vm);
	pthread_mutex_init(&c->in_lock, NULL);
	int r = virtio_pci_init(&c->vp, vm, vm_mem(vm), "virtio-console", VIRTIO_ID_CONSOLE,
				PCI_CLASS_COMMUNICATION_OTHER, 2, CONSOLE_QUEUE_SIZE, 0, 0, &console_ops, c);
	if (r >= 0 && (c->in_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		r = -errno;
	if (r >= 0)
		r = virtio_pci_add_source(&c->vp, c->in_efd, EPOLLIN, console_input_ready, c);
	if (r >= 0)
		r = virtio_pci_register(&c->vp, bus);
	if (r < 0) {
		/* Left allocated: the bus may point at it. The VM is not started. */
		log_error("virtio-console: %s", strerror(-r));
		return r;
	}
	if (cfg && cfg->console_input == CONSOLE_IN_HVC)
		vm_set_console_input(vm, console_input, c);
	return 0;
}

/* After the UART (10), so that --console-input hvc takes the input over. */
DEVICE_REGISTER("virtio-console", virtio_console_create, 55);
