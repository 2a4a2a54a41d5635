/* virtio-blk (virtio 1.2, 5.2): one device per --disk, in the order given,
 * so the guest sees them as vda, vdb... One request queue, drained by the
 * device's own thread with positioned vector I/O straight between guest RAM
 * and the image (no bounce buffer); flush is fdatasync, so a flushed write
 * survives the VMM being killed and the host losing power.
 *
 * The disks are opened (and locked) while the VM is built, before any vCPU
 * runs: a disk that is missing or in use stops the VM from starting, with
 * the reason, rather than giving the guest a broken device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_pci.h"
#include "vm.h"
#include "vmm/config.h"

#define BLK_QUEUE_SIZE 256
#define PCI_CLASS_STORAGE_SCSI 0x010000 /* what Linux and Windows drivers expect of virtio-blk */

struct virtio_blk {
	struct virtio_pci vp;
	struct disk disk;
	struct virtio_blk_params params;
	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	char name[32];
	bool logged_error;
	struct virtq_chain chain;  /* 16 KiB each: not on the device thread's stack */
	struct virtio_blk_req req;
};

static int64_t blk_request(struct virtio_pci *vp, struct virtqueue *vq, struct virtq_chain *c)
{
	struct virtio_blk *b = vp->opaque;
	char why[160];
	if (virtio_blk_parse(c, &b->req, why, sizeof(why)) < 0) {
		virtq_mark_broken(vq, "%s", why);
		return -1;
	}
	uint32_t n = virtio_blk_execute(&b->disk, &b->params, &b->req);
	if (*b->req.status == VIRTIO_BLK_S_IOERR && !b->logged_error) {
		/* Once: a guest probing past the end would flood the log. */
		b->logged_error = true;
		log_warn("%s: request type %u at sector %llu (%llu bytes) failed; further errors are not logged", b->name,
			 b->req.type, (unsigned long long)b->req.sector, (unsigned long long)b->req.data_len);
	}
	return n;
}

static void blk_queue_notify(struct virtio_pci *vp, unsigned q)
{
	struct virtio_blk *b = vp->opaque;
	virtio_pci_drain(vp, q, &b->chain, blk_request);
}

static void blk_config_read(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned size)
{
	struct virtio_blk *b = vp->opaque;
	for (unsigned i = 0; i < size; i++)
		data[i] = off + i < sizeof(b->cfg) ? b->cfg[off + i] : 0;
}

/* The config space is read-only here (no CONFIG_WCE): writes are ignored. */
static void blk_config_write(struct virtio_pci *vp, unsigned off, const uint8_t *data, unsigned size)
{
	(void)vp, (void)off, (void)data, (void)size;
}

static const struct virtio_pci_ops blk_ops = {
	.queue_notify = blk_queue_notify,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
};

static int virtio_blk_create_one(struct vm *vm, struct pci_bus *bus, const struct vmm_config *cfg, unsigned i)
{
	const struct vmm_disk *dc = &cfg->disks[i];
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	snprintf(b->name, sizeof(b->name), "virtio-blk %u", i);
	b->params.readonly = dc->readonly;
	b->params.discard = dc->discard;
	b->params.block_size = dc->block_size ? dc->block_size : VIRTIO_BLK_SECTOR;
	if (dc->serial[0])
		snprintf(b->params.serial, sizeof(b->params.serial), "%s", dc->serial);
	else
		snprintf(b->params.serial, sizeof(b->params.serial), "kvmbox-%u-%.11s", i, cfg->name);
	char err[400];
	int r = disk_open(&b->disk, dc->path, dc->readonly, b->params.block_size, err, sizeof(err));
	if (r < 0) {
		log_error("disk %u: %s", i, err);
		free(b);
		return r;
	}
	virtio_blk_config(&b->params, b->disk.size, BLK_QUEUE_SIZE, b->cfg);
	r = virtio_pci_init(&b->vp, vm, vm_mem(vm), b->name, VIRTIO_ID_BLOCK, PCI_CLASS_STORAGE_SCSI, 1, BLK_QUEUE_SIZE,
			    virtio_blk_features(&b->params), VIRTIO_BLK_CFG_SIZE, &blk_ops, b);
	if (r >= 0)
		r = virtio_pci_register(&b->vp, bus);
	if (r < 0) {
		/* Left allocated: the bus may point at it. The VM is not started. */
		log_error("%s: %s", b->name, strerror(-r));
		return r;
	}
	log_info("disk %u: %s, %llu MiB%s, block size %u, serial %s", i, dc->path,
		 (unsigned long long)(b->disk.size >> 20), dc->readonly ? ", read-only" : "", b->params.block_size,
		 b->params.serial);
	return 0;
}

static int virtio_blk_create(struct vm *vm)
{
	struct pci_bus *bus = vm_pci(vm);
	const struct vmm_config *cfg = vm_config(vm);
	if (!cfg || !cfg->ndisks)
		return 0;
	if (!bus) {
		log_error("disks need the PCI bus");
		return -ENODEV;
	}
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		int r = virtio_blk_create_one(vm, bus, cfg, i);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Before virtio-rng (50): disks take the first slots, so their PCI
 * addresses do not move when other devices come and go. */
DEVICE_REGISTER("virtio-blk", virtio_blk_create, 40);
