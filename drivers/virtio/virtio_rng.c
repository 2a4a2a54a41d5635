/* virtio-rng (virtio 1.2, 5.4): one request queue; the device fills each
 * chain's writable buffers with bytes from getrandom().
 *
 * Every VM gets one unless its config says "rng": false (or --no-rng): it
 * costs a PCI slot, a thread asleep in epoll and a few KiB, and Linux guests
 * want an entropy source. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "device.h"
#include "log.h"
#include "virtio/virtio_pci.h"
#include "vm.h"
#include "vmm/config.h"

#define VIRTIO_ID_RNG 4
#define RNG_QUEUE_SIZE 64
#define RNG_MAX_REQUEST 4096 /* bytes given per request at most */
#define PCI_CLASS_OTHER 0xff0000

struct virtio_rng {
	struct virtio_pci vp;
	struct virtq_chain chain; /* 16 KiB: not on the device thread's stack */
};

/* Fill the writable buffers, up to RNG_MAX_REQUEST bytes; returns the count. */
static uint32_t rng_fill(const struct virtq_chain *c)
{
	uint32_t done = 0;
	for (unsigned i = 0; i < c->in_num && done < RNG_MAX_REQUEST; i++) {
		size_t want = c->in_iov[i].iov_len;
		if (want > RNG_MAX_REQUEST - done)
			want = RNG_MAX_REQUEST - done;
		size_t got = 0;
		while (got < want) {
			ssize_t n = getrandom((uint8_t *)c->in_iov[i].iov_base + got, want - got, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done + (uint32_t)got;
			got += (size_t)n;
		}
		done += (uint32_t)got;
	}
	return done;
}

static int64_t rng_request(struct virtio_pci *vp, struct virtqueue *vq, struct virtq_chain *c)
{
	(void)vp;
	if (c->out_num) {
		virtq_mark_broken(vq, "virtio-rng request with a device-readable buffer");
		return -1;
	}
	return rng_fill(c);
}

static void rng_queue_notify(struct virtio_pci *vp, unsigned q)
{
	struct virtio_rng *rng = vp->opaque;
	virtio_pci_drain(vp, q, &rng->chain, rng_request);
}

static const struct virtio_pci_ops rng_ops = { .queue_notify = rng_queue_notify };

static int virtio_rng_create(struct vm *vm)
{
	struct pci_bus *bus = vm_pci(vm);
	const struct vmm_config *cfg = vm_config(vm);
	if (!bus || (cfg && !cfg->rng))
		return 0;
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	int r = virtio_pci_init(&rng->vp, vm, vm_mem(vm), "virtio-rng", VIRTIO_ID_RNG, PCI_CLASS_OTHER, 1,
				RNG_QUEUE_SIZE, 0, 0, &rng_ops, rng);
	if (r >= 0)
		r = virtio_pci_register(&rng->vp, bus);
	if (r < 0) {
		/* Left allocated: the bus may point at it. The VM is not started. */
		log_error("virtio-rng: %s", strerror(-r));
		return r;
	}
	return 0;
}

DEVICE_REGISTER("virtio-rng", virtio_rng_create, 50);
