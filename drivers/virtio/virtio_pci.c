/* Modern virtio-pci transport; see virtio_pci.h for the layout and threads. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

/* Common configuration fields (virtio 1.2, 4.1.4.3); 64-bit addresses are
 * handled as their two 32-bit halves. */
enum {
	F_DFSELECT = 0x00, F_DF = 0x04, F_GFSELECT = 0x08, F_GF = 0x0c, F_MSIX = 0x10, F_NUMQ = 0x12,
	F_STATUS = 0x14, F_CFGGEN = 0x15, F_QSELECT = 0x16, F_QSIZE = 0x18, F_QMSIX = 0x1a,
	F_QENABLE = 0x1c, F_QNOFF = 0x1e, F_QDESC = 0x20, F_QDRIVER = 0x28, F_QDEVICE = 0x30,
};
static const struct {
	uint8_t off, size;
} fields[] = {
	{ F_DFSELECT, 4 }, { F_DF, 4 },	    { F_GFSELECT, 4 },	 { F_GF, 4 },	       { F_MSIX, 2 },
	{ F_NUMQ, 2 },	   { F_STATUS, 1 }, { F_CFGGEN, 1 },	 { F_QSELECT, 2 },     { F_QSIZE, 2 },
	{ F_QMSIX, 2 },	   { F_QENABLE, 2 }, { F_QNOFF, 2 },	 { F_QDESC, 4 },       { F_QDESC + 4, 4 },
	{ F_QDRIVER, 4 },  { F_QDRIVER + 4, 4 }, { F_QDEVICE, 4 }, { F_QDEVICE + 4, 4 },
};

/* Complaints logged once per device (bits of vp->logged above the queues'). */
enum {
	LOG_FEATURES = 1u << 16, LOG_LATE_FEATURES = 1u << 17, LOG_QUEUE_EARLY = 1u << 18,
	LOG_DISABLED_KICK = 1u << 19, LOG_ROUTE = 1u << 20, LOG_IOEVENTFD = 1u << 21, LOG_ACCESS = 1u << 22,
	LOG_QSIZE = 1u << 23, LOG_SLOW_NOTIFY = 1u << 24,
};

static bool once(struct virtio_pci *vp, unsigned bit)
{
	if (vp->logged & bit)
		return false;
	vp->logged |= bit;
	return true;
}

static struct virtio_pci_queue *cur_queue(struct virtio_pci *vp)
{
	return vp->queue_select < vp->num_queues ? &vp->q[vp->queue_select] : NULL;
}

/* --- interrupts --- */

static void msix_fire(struct virtio_pci *vp, unsigned v)
{
	struct virtio_pci_vector *e = &vp->vec[v];
	if (vp->msix_masked || (e->ctrl & 1)) {
		e->pending = true;
		return;
	}
	e->pending = false;
	if (!vp->vm || e->efd < 0) {
		vp->irqs_sent++;
		return;
	}
	if (e->dirty || e->gsi < 0) {
		uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
		int gsi = vm_msi_route(vp->vm, addr, e->data, e->gsi);
		if (gsi < 0) {
			if (once(vp, LOG_ROUTE))
				log_error("%s: MSI-X vector %u: no KVM route: %s", vp->name, v, strerror(-gsi));
			return;
		}
		if (e->gsi < 0) {
			int r = vm_irqfd(vp->vm, e->efd, gsi, 1);
			if (r < 0) {
				if (once(vp, LOG_ROUTE))
					log_error("%s: MSI-X vector %u: irqfd: %s", vp->name, v, strerror(-r));
				vm_msi_route_free(vp->vm, gsi);
				return;
			}
			e->gsi = gsi;
			log_debug("%s: MSI-X vector %u on GSI %d", vp->name, v, gsi);
		}
		e->dirty = false;
	}
	uint64_t one = 1;
	if (write(e->efd, &one, sizeof(one)) == sizeof(one))
		vp->irqs_sent++;
}

static void raise_irq(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	if (vp->msix_enabled) {
		if (vector < vp->nvectors)
			msix_fire(vp, vector);
		return;
	}
	vp->isr |= isr_bit;
	pci_intx_set(&vp->pci, 1);
	vp->irqs_sent++;
}

void virtio_pci_notify_queue(struct virtio_pci *vp, unsigned q)
{
	if (q < vp->num_queues)
		raise_irq(vp, vp->q[q].msix_vector, 1);
}

void virtio_pci_notify_config(struct virtio_pci *vp)
{
	vp->config_generation++;
	raise_irq(vp, vp->config_vector, 2);
}

void virtio_pci_queue_broken(struct virtio_pci *vp, unsigned q)
{
	if (q < VIRTIO_PCI_MAX_QUEUES && once(vp, 1u << q) && vp->broken_logs < VIRTIO_PCI_BROKEN_LOGS) {
		vp->broken_logs++;
		log_error("%s: %s; the device needs a reset%s", vp->name, vp->q[q].vq.reason,
			  vp->broken_logs == VIRTIO_PCI_BROKEN_LOGS ? " (further ones are not logged)" : "");
	}
	if (!(vp->status & VIRTIO_STATUS_NEEDS_RESET)) {
		vp->status |= VIRTIO_STATUS_NEEDS_RESET;
		if (vp->status & VIRTIO_STATUS_DRIVER_OK)
			virtio_pci_notify_config(vp);
	}
}

/* --- the common configuration --- */

static void device_reset(struct virtio_pci *vp)
{
	for (unsigned i = 0; i < vp->num_queues; i++) {
		struct virtio_pci_queue *q = &vp->q[i];
		virtq_reset(&q->vq);
		q->size = (uint16_t)q->max_size;
		q->msix_vector = VIRTIO_PCI_NO_VECTOR;
		q->enabled = 0;
		q->desc = q->driver = q->device = 0;
	}
	/* The MSI-X table is PCI state and survives; its routes are re-made
	 * from the table at the next interrupt. */
	for (unsigned v = 0; v < vp->nvectors; v++)
		vp->vec[v].dirty = true;
	vp->dfselect = vp->gfselect = 0;
	vp->guest_features = 0;
	vp->config_vector = VIRTIO_PCI_NO_VECTOR;
	vp->status = 0;
	vp->queue_select = 0;
	vp->isr = 0;
	/* A queue that breaks again after the reset is a new complaint. */
	vp->logged &= ~((1u << VIRTIO_PCI_MAX_QUEUES) - 1);
	pci_intx_set(&vp->pci, 0);
	if (vp->ops->reset)
		vp->ops->reset(vp);
}

static void queue_enable(struct virtio_pci *vp, unsigned qi)
{
	struct virtio_pci_queue *q = &vp->q[qi];
	if (q->enabled || q->vq.broken)
		return;
	if (!(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
		if (once(vp, LOG_QUEUE_EARLY))
			log_warn("%s: queue %u enabled before FEATURES_OK; refused", vp->name, qi);
		return;
	}
	if (q->size > q->max_size) {
		if (once(vp, LOG_QSIZE))
			log_warn("%s: queue %u: size %u above the maximum %u", vp->name, qi, q->size, q->max_size);
		virtq_mark_broken(&q->vq, "size %u above the maximum %u", q->size, q->max_size);
		virtio_pci_queue_broken(vp, qi);
		return;
	}
	if (virtq_setup(&q->vq, vp->gm, q->size, q->desc, q->driver, q->device, vp->guest_features) < 0) {
		virtio_pci_queue_broken(vp, qi);
		return;
	}
	q->enabled = 1;
	if ((vp->status & VIRTIO_STATUS_DRIVER_OK) && virtq_start(&q->vq) < 0)
		virtio_pci_queue_broken(vp, qi);
}

static void set_status(struct virtio_pci *vp, uint8_t v)
{
	if (!v) {
		device_reset(vp);
		return;
	}
	uint8_t old = vp->status;
	/* The driver may only add bits (virtio 1.2, 2.1.1); only a reset clears
	 * them, so DRIVER_OK can never stand without FEATURES_OK. */
	uint8_t now = (uint8_t)(v | old);
	if ((now & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t extra = vp->guest_features & ~vp->host_features;
		if (!(vp->guest_features & VIRTIO_FEATURE_VERSION_1) || extra) {
			if (once(vp, LOG_FEATURES))
				log_warn("%s: FEATURES_OK refused: features 0x%llx (%s)", vp->name,
					 (unsigned long long)vp->guest_features,
					 extra ? "some were not offered" : "no VERSION_1: legacy drivers are not supported");
			now &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((now & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (now & VIRTIO_STATUS_FEATURES_OK) {
			for (unsigned i = 0; i < vp->num_queues; i++)
				if (vp->q[i].enabled && virtq_start(&vp->q[i].vq) < 0)
					virtio_pci_queue_broken(vp, i);
		} else {
			now &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
		}
	}
	vp->status = now;
}

static uint32_t common_get(struct virtio_pci *vp, unsigned f)
{
	struct virtio_pci_queue *q = cur_queue(vp);
	switch (f) {
	case F_DFSELECT: return vp->dfselect;
	case F_DF: return vp->dfselect < 2 ? (uint32_t)(vp->host_features >> (32 * vp->dfselect)) : 0;
	case F_GFSELECT: return vp->gfselect;
	case F_GF: return vp->gfselect < 2 ? (uint32_t)(vp->guest_features >> (32 * vp->gfselect)) : 0;
	case F_MSIX: return vp->config_vector;
	case F_NUMQ: return vp->num_queues;
	case F_STATUS: return vp->status;
	case F_CFGGEN: return vp->config_generation;
	case F_QSELECT: return vp->queue_select;
	case F_QSIZE: return q ? q->size : 0;
	case F_QMSIX: return q ? q->msix_vector : VIRTIO_PCI_NO_VECTOR;
	case F_QENABLE: return q ? q->enabled : 0;
	case F_QNOFF: return q ? vp->queue_select : 0;
	case F_QDESC: return q ? (uint32_t)q->desc : 0;
	case F_QDESC + 4: return q ? (uint32_t)(q->desc >> 32) : 0;
	case F_QDRIVER: return q ? (uint32_t)q->driver : 0;
	case F_QDRIVER + 4: return q ? (uint32_t)(q->driver >> 32) : 0;
	case F_QDEVICE: return q ? (uint32_t)q->device : 0;
	case F_QDEVICE + 4: return q ? (uint32_t)(q->device >> 32) : 0;
	}
	return 0;
}

static void set_half(uint64_t *p, unsigned hi, uint32_t v)
{
	*p = hi ? (*p & 0xffffffffull) | (uint64_t)v << 32 : (*p & ~0xffffffffull) | v;
}

static void common_set(struct virtio_pci *vp, unsigned f, uint32_t v)
{
	struct virtio_pci_queue *q = cur_queue(vp);
	bool q_writable = q && !q->enabled;
	switch (f) {
	case F_DFSELECT: vp->dfselect = v; break;
	case F_GFSELECT: vp->gfselect = v; break;
	case F_GF:
		if (vp->status & VIRTIO_STATUS_FEATURES_OK) {
			if (once(vp, LOG_LATE_FEATURES))
				log_warn("%s: driver features written after FEATURES_OK; ignored", vp->name);
		} else if (vp->gfselect < 2) {
			set_half(&vp->guest_features, vp->gfselect, v);
		}
		break;
	case F_MSIX: vp->config_vector = v < vp->nvectors ? (uint16_t)v : VIRTIO_PCI_NO_VECTOR; break;
	case F_STATUS: set_status(vp, (uint8_t)v); break;
	case F_QSELECT: vp->queue_select = (uint16_t)v; break;
	case F_QSIZE: if (q_writable) q->size = (uint16_t)v; break;
	case F_QMSIX: if (q) q->msix_vector = v < vp->nvectors ? (uint16_t)v : VIRTIO_PCI_NO_VECTOR; break;
	case F_QENABLE: if (q && v == 1) queue_enable(vp, vp->queue_select); break;
	case F_QDESC: case F_QDESC + 4: if (q_writable) set_half(&q->desc, f != F_QDESC, v); break;
	case F_QDRIVER: case F_QDRIVER + 4: if (q_writable) set_half(&q->driver, f != F_QDRIVER, v); break;
	case F_QDEVICE: case F_QDEVICE + 4: if (q_writable) set_half(&q->device, f != F_QDEVICE, v); break;
	default: break; /* read-only */
	}
}

static void common_read(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned size)
{
	uint8_t buf[VIRTIO_PCI_COMMON_LEN + 8] = { 0 };
	for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint32_t v = common_get(vp, fields[i].off);
		for (unsigned b = 0; b < fields[i].size; b++)
			buf[fields[i].off + b] = (uint8_t)(v >> (8 * b));
	}
	if (off + size <= VIRTIO_PCI_COMMON_LEN)
		memcpy(data, buf + off, size);
}

static void common_write(struct virtio_pci *vp, unsigned off, const uint8_t *data, unsigned size)
{
	for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		unsigned fo = fields[i].off, fe = fo + fields[i].size;
		unsigned lo = off > fo ? off : fo, hi = off + size < fe ? off + size : fe;
		if (lo >= hi)
			continue;
		uint32_t v = common_get(vp, fo);
		for (unsigned b = lo; b < hi; b++) {
			unsigned sh = 8 * (b - fo);
			v = (v & ~(0xffu << sh)) | (uint32_t)data[b - off] << sh;
		}
		common_set(vp, fo, v);
	}
}

/* --- MSI-X table and PBA --- */

static void msix_table_read(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned size)
{
	unsigned v = off / 16, w = (off % 16) / 4;
	if (v >= vp->nvectors || (size != 4 && size != 8) || (off & (size - 1)))
		return;
	struct virtio_pci_vector *e = &vp->vec[v];
	uint32_t words[4] = { e->addr_lo, e->addr_hi, e->data, e->ctrl };
	for (unsigned b = 0; b < size; b++)
		data[b] = (uint8_t)(words[w + b / 4] >> (8 * (b % 4)));
}

static void msix_table_write(struct virtio_pci *vp, unsigned off, const uint8_t *data, unsigned size)
{
	unsigned v = off / 16;
	if (v >= vp->nvectors || (size != 4 && size != 8) || (off & (size - 1)))
		return;
	struct virtio_pci_vector *e = &vp->vec[v];
	for (unsigned i = 0; i < size / 4; i++) {
		uint32_t x = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 | (uint32_t)data[4 * i + 2] << 16 |
			     (uint32_t)data[4 * i + 3] << 24;
		switch ((off % 16) / 4 + i) {
		case 0: e->addr_lo = x; e->dirty = true; break;
		case 1: e->addr_hi = x; e->dirty = true; break;
		case 2: e->data = x; e->dirty = true; break;
		case 3:
			e->ctrl = x & 1;
			if (!(e->ctrl & 1) && e->pending && vp->msix_enabled)
				msix_fire(vp, v);
			break;
		}
	}
}

static void pba_read(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned size)
{
	for (unsigned b = 0; b < size; b++) {
		uint8_t x = 0;
		for (unsigned bit = 0; bit < 8; bit++) {
			unsigned v = (off + b) * 8 + bit;
			if (v < vp->nvectors && vp->vec[v].pending)
				x |= (uint8_t)(1u << bit);
		}
		data[b] = x;
	}
}

/* --- the BAR --- */

static void bar_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	unsigned off = (unsigned)offset;
	memset(data, 0, size);
	if (offset >= VIRTIO_PCI_BAR_SIZE)
		return;
	pthread_mutex_lock(&vp->lock);
	if (off < VIRTIO_PCI_COMMON_LEN) {
		common_read(vp, off, data, size);
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		data[0] = vp->isr; /* reading clears it */
		vp->isr = 0;
		pci_intx_set(&vp->pci, 0);
	} else if (off >= VIRTIO_PCI_DEVCFG_OFF && off < VIRTIO_PCI_DEVCFG_OFF + VIRTIO_PCI_DEVCFG_MAX) {
		unsigned o = off - VIRTIO_PCI_DEVCFG_OFF;
		if (o + size <= vp->cfg_size && vp->ops->config_read)
			vp->ops->config_read(vp, o, data, size);
	} else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
		msix_table_read(vp, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, size);
	} else if (off >= VIRTIO_PCI_MSIX_PBA_OFF) {
		pba_read(vp, off - VIRTIO_PCI_MSIX_PBA_OFF, data, size);
	}
	pthread_mutex_unlock(&vp->lock);
}

static void bar_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	unsigned off = (unsigned)offset;
	if (offset >= VIRTIO_PCI_BAR_SIZE)
		return;
	if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_MSIX_TABLE_OFF) {
		/* A notification that KVM's ioeventfd did not take. */
		unsigned q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;
		if (q >= vp->num_queues)
			return;
		pthread_mutex_lock(&vp->lock);
		if (once(vp, LOG_SLOW_NOTIFY))
			log_debug("%s: a queue notification reached the VMM (not taken by an ioeventfd)", vp->name);
		pthread_mutex_unlock(&vp->lock);
		uint64_t one = 1;
		if (vp->thread_started && vp->q[q].kick_efd >= 0) {
			if (write(vp->q[q].kick_efd, &one, sizeof(one)) < 0)
				return;
		} else {
			virtio_pci_kick(vp, q);
		}
		return;
	}
	pthread_mutex_lock(&vp->lock);
	if (off < VIRTIO_PCI_COMMON_LEN) {
		common_write(vp, off, data, size);
	} else if (off >= VIRTIO_PCI_DEVCFG_OFF && off < VIRTIO_PCI_DEVCFG_OFF + VIRTIO_PCI_DEVCFG_MAX) {
		unsigned o = off - VIRTIO_PCI_DEVCFG_OFF;
		if (o + size <= vp->cfg_size && vp->ops->config_write)
			vp->ops->config_write(vp, o, data, size);
	} else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
		msix_table_write(vp, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, size);
	}
	pthread_mutex_unlock(&vp->lock);
}

static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

/* --- config space hooks --- */

static struct virtio_pci *vp_of(struct pci_device *d)
{
	return d->opaque;
}

/* The VIRTIO_PCI_CAP_PCI_CFG window: the BAR access that bar/offset/length
 * describe, through pci_cfg_data. Only 1, 2 or 4 bytes, naturally aligned,
 * inside our BAR; anything else reads 0 and writes nothing. */
static bool cfg_window(struct virtio_pci *vp, unsigned off, unsigned size, unsigned *o, unsigned *len)
{
	unsigned data = vp->pcicfg_cap + 16;
	if (!vp->pcicfg_cap || off + size <= data || off >= data + 4)
		return false;
	struct pci_device *d = &vp->pci;
	*o = pci_cfg_read32(d, vp->pcicfg_cap + 8);
	*len = pci_cfg_read32(d, vp->pcicfg_cap + 12);
	return pci_cfg_read8(d, vp->pcicfg_cap + 4) == VIRTIO_PCI_BAR && (*len == 1 || *len == 2 || *len == 4) &&
	       *o < VIRTIO_PCI_BAR_SIZE && *o % *len == 0;
}

static void cfg_read(struct pci_device *d, unsigned off, unsigned size)
{
	struct virtio_pci *vp = vp_of(d);
	unsigned o, len;
	if (!vp->pcicfg_cap || off + size <= vp->pcicfg_cap + 16 || off >= vp->pcicfg_cap + 20)
		return;
	uint8_t b[4] = { 0 };
	if (cfg_window(vp, off, size, &o, &len))
		bar_read(vp, o, b, len);
	for (unsigned i = 0; i < 4; i++)
		pci_cfg_write8(d, vp->pcicfg_cap + 16 + i, b[i]);
}

static void cfg_write(struct pci_device *d, unsigned off, unsigned size)
{
	struct virtio_pci *vp = vp_of(d);
	unsigned o, len;
	if (cfg_window(vp, off, size, &o, &len)) {
		uint8_t b[4];
		for (unsigned i = 0; i < 4; i++)
			b[i] = pci_cfg_read8(d, vp->pcicfg_cap + 16 + i);
		bar_write(vp, o, b, len);
	}
	unsigned ctl = vp->msix_cap + 2;
	if (!vp->msix_cap || off + size <= ctl || off >= ctl + 2)
		return;
	uint16_t c = pci_cfg_read16(d, ctl);
	pthread_mutex_lock(&vp->lock);
	vp->msix_enabled = c & 0x8000;
	vp->msix_masked = c & 0x4000;
	if (vp->msix_enabled) {
		pci_intx_set(d, 0);
		if (!vp->msix_masked)
			for (unsigned v = 0; v < vp->nvectors; v++)
				if (vp->vec[v].pending && !(vp->vec[v].ctrl & 1))
					msix_fire(vp, v);
	}
	pthread_mutex_unlock(&vp->lock);
}

static void cfg_bar_map(struct pci_device *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_pci *vp = vp_of(d);
	if (bar != VIRTIO_PCI_BAR || !vp->vm)
		return;
	pthread_mutex_lock(&vp->lock);
	for (unsigned q = 0; q < vp->num_queues; q++) {
		uint64_t o = VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
		if (vp->q[q].kick_efd < 0)
			continue;
		if (old_addr != PCI_BAR_UNMAPPED)
			vm_ioeventfd(vp->vm, vp->q[q].kick_efd, old_addr + o, 2, 0);
		if (new_addr != PCI_BAR_UNMAPPED) {
			int r = vm_ioeventfd(vp->vm, vp->q[q].kick_efd, new_addr + o, 2, 1);
			if (r < 0 && once(vp, LOG_IOEVENTFD))
				log_warn("%s: KVM_IOEVENTFD: %s; notifications go through the VMM", vp->name,
					 strerror(-r));
		}
	}
	vp->bar_addr = new_addr;
	pthread_mutex_unlock(&vp->lock);
}

static const struct pci_device_ops pci_ops = { .config_read = cfg_read, .config_write = cfg_write, .bar_map = cfg_bar_map };

/* --- the device thread --- */

void virtio_pci_drain(struct virtio_pci *vp, unsigned q, struct virtq_chain *chain,
		      int64_t (*handle)(struct virtio_pci *vp, struct virtqueue *vq, struct virtq_chain *c))
{
	struct virtqueue *vq = &vp->q[q].vq;
	int rc;
	for (;;) {
		virtq_disable_notify(vq, vp->gm);
		while ((rc = virtq_pop(vq, vp->gm, chain)) > 0) {
			int64_t n = handle(vp, vq, chain);
			if (n < 0 || virtq_push(vq, vp->gm, chain->head, (uint32_t)n) < 0) {
				rc = -EIO;
				break;
			}
		}
		if (virtq_should_notify(vq, vp->gm))
			virtio_pci_notify_queue(vp, q);
		if (rc < 0 || virtq_enable_notify(vq, vp->gm) <= 0)
			break;
	}
}

void virtio_pci_kick(struct virtio_pci *vp, unsigned qi)
{
	if (qi >= vp->num_queues)
		return;
	pthread_mutex_lock(&vp->lock);
	struct virtio_pci_queue *q = &vp->q[qi];
	if (!q->enabled) {
		if (once(vp, LOG_DISABLED_KICK))
			log_warn("%s: notification for queue %u, which is not enabled; ignored", vp->name, qi);
	} else if (virtq_kick(&q->vq) < 0) {
		virtio_pci_queue_broken(vp, qi);
	} else {
		vp->ops->queue_notify(vp, qi);
		if (q->vq.broken)
			virtio_pci_queue_broken(vp, qi);
	}
	pthread_mutex_unlock(&vp->lock);
}

/* epoll data of the extra sources: above any queue number. */
#define SOURCE_TAG 0x10000u

int virtio_pci_add_source(struct virtio_pci *vp, int fd, uint32_t events,
			  void (*fn)(struct virtio_pci *vp, void *arg, uint32_t events), void *arg)
{
	if (vp->epfd < 0 || !fn || fd < 0)
		return -EINVAL;
	if (vp->nsources >= VIRTIO_PCI_MAX_SOURCES)
		return -ENOSPC;
	struct epoll_event ev = { .events = events, .data.u32 = SOURCE_TAG + vp->nsources };
	if (epoll_ctl(vp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	vp->sources[vp->nsources++] = (struct virtio_pci_source){ .fd = fd, .fn = fn, .arg = arg };
	return 0;
}

int virtio_pci_source_events(struct virtio_pci *vp, int fd, uint32_t events)
{
	for (unsigned i = 0; i < vp->nsources; i++) {
		if (vp->sources[i].fd != fd)
			continue;
		struct epoll_event ev = { .events = events, .data.u32 = SOURCE_TAG + i };
		return epoll_ctl(vp->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	return -ENOENT;
}

static void *device_thread(void *arg)
{
	struct virtio_pci *vp = arg;
	struct epoll_event ev[VIRTIO_PCI_MAX_QUEUES];
	for (;;) {
		int n = epoll_wait(vp->epfd, ev, VIRTIO_PCI_MAX_QUEUES, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s: epoll_wait: %s; the device stops", vp->name, strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			unsigned q = ev[i].data.u32;
			uint64_t cnt;
			if (q >= SOURCE_TAG) {
				struct virtio_pci_source *s = &vp->sources[q - SOURCE_TAG];
				if (q - SOURCE_TAG >= vp->nsources)
					continue;
				pthread_mutex_lock(&vp->lock);
				s->fn(vp, s->arg, ev[i].events);
				pthread_mutex_unlock(&vp->lock);
				continue;
			}
			if (q >= vp->num_queues || read(vp->q[q].kick_efd, &cnt, sizeof(cnt)) != sizeof(cnt))
				continue;
			virtio_pci_kick(vp, q);
		}
	}
}

/* --- setup --- */

static int vndr_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset, uint32_t length, unsigned len)
{
	int c = pci_cap_add(&vp->pci, PCI_CAP_ID_VNDR, len);
	if (c < 0)
		return c;
	pci_cfg_write8(&vp->pci, (unsigned)c + 2, (uint8_t)len);
	pci_cfg_write8(&vp->pci, (unsigned)c + 3, type);
	pci_cfg_write8(&vp->pci, (unsigned)c + 4, VIRTIO_PCI_BAR);
	pci_cfg_write32(&vp->pci, (unsigned)c + 8, offset);
	pci_cfg_write32(&vp->pci, (unsigned)c + 12, length);
	return c;
}

int virtio_pci_init(struct virtio_pci *vp, struct vm *vm, const struct guest_mem *gm, const char *name,
		    unsigned device_id, uint32_t class_code, unsigned num_queues, unsigned queue_max,
		    uint64_t features, unsigned cfg_size, const struct virtio_pci_ops *ops, void *opaque)
{
	if (!num_queues || num_queues > VIRTIO_PCI_MAX_QUEUES || !queue_max || queue_max > VIRTQ_MAX_SIZE ||
	    (queue_max & (queue_max - 1)) || cfg_size > VIRTIO_PCI_DEVCFG_MAX || !ops || !ops->queue_notify)
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	vp->vm = vm;
	vp->gm = gm;
	vp->name = name;
	vp->device_id = device_id;
	vp->ops = ops;
	vp->opaque = opaque;
	vp->cfg_size = cfg_size;
	vp->host_features = features | VIRTIO_FEATURE_VERSION_1 | VIRTIO_FEATURE_RING_EVENT_IDX |
			    VIRTIO_FEATURE_RING_INDIRECT_DESC;
	vp->num_queues = num_queues;
	vp->nvectors = num_queues + 1;
	vp->epfd = -1;
	pthread_mutex_init(&vp->lock, NULL);
	for (unsigned i = 0; i < num_queues; i++) {
		virtq_init(&vp->q[i].vq, i);
		vp->q[i].max_size = queue_max;
		vp->q[i].kick_efd = -1;
	}
	for (unsigned v = 0; v <= VIRTIO_PCI_MAX_QUEUES; v++) {
		vp->vec[v].efd = -1;
		vp->vec[v].gsi = -1;
		vp->vec[v].ctrl = 1; /* masked at reset (PCI 3.0, 6.8.2.9) */
	}
	struct pci_device *d = &vp->pci;
	pci_device_init(d, name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + device_id), class_code, 1);
	device_reset(vp);
	pci_set_subsystem(d, VIRTIO_PCI_VENDOR, 0x1100);
	pci_set_intx_pin(d, 1);
	d->ops = &pci_ops;
	d->opaque = vp;
	int r = pci_bar_define(d, VIRTIO_PCI_BAR, PCI_BAR_MEM32, VIRTIO_PCI_BAR_SIZE, 0, &bar_ops, vp);
	if (r < 0)
		return r;
	if ((r = vndr_cap(vp, 1, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN, 16)) < 0)
		return r;
	if ((r = vndr_cap(vp, 2, VIRTIO_PCI_NOTIFY_OFF, num_queues * VIRTIO_PCI_NOTIFY_MULT, 20)) < 0)
		return r;
	pci_cfg_write32(d, (unsigned)r + 16, VIRTIO_PCI_NOTIFY_MULT);
	if ((r = vndr_cap(vp, 3, VIRTIO_PCI_ISR_OFF, 1, 16)) < 0)
		return r;
	if (cfg_size && (r = vndr_cap(vp, 4, VIRTIO_PCI_DEVCFG_OFF, cfg_size, 16)) < 0)
		return r;
	if ((r = vndr_cap(vp, 5, 0, 0, 20)) < 0)
		return r;
	vp->pcicfg_cap = (unsigned)r;
	pci_set_wmask(d, vp->pcicfg_cap + 4, 1, 0xff);
	pci_set_wmask(d, vp->pcicfg_cap + 8, 8, UINT64_MAX);
	pci_set_wmask(d, vp->pcicfg_cap + 16, 4, 0xffffffff);
	if ((r = pci_cap_add(d, PCI_CAP_ID_MSIX, 12)) < 0)
		return r;
	vp->msix_cap = (unsigned)r;
	pci_cfg_write16(d, vp->msix_cap + 2, (uint16_t)(vp->nvectors - 1));
	pci_cfg_write32(d, vp->msix_cap + 4, VIRTIO_PCI_MSIX_TABLE_OFF | VIRTIO_PCI_BAR);
	pci_cfg_write32(d, vp->msix_cap + 8, VIRTIO_PCI_MSIX_PBA_OFF | VIRTIO_PCI_BAR);
	pci_set_wmask(d, vp->msix_cap + 2, 2, 0xc000);

	if (!vm)
		return 0;
	for (unsigned i = 0; i < num_queues; i++)
		if ((vp->q[i].kick_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			return -errno;
	for (unsigned v = 0; v < vp->nvectors; v++)
		if ((vp->vec[v].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			return -errno;
	if ((vp->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -errno;
	for (unsigned i = 0; i < num_queues; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (epoll_ctl(vp->epfd, EPOLL_CTL_ADD, vp->q[i].kick_efd, &ev) < 0)
			return -errno;
	}
	return 0;
}

int virtio_pci_register(struct virtio_pci *vp, struct pci_bus *bus)
{
	int r = pci_register(bus, &vp->pci, -1);
	if (r < 0)
		return r;
	if (vp->epfd < 0)
		return 0;
	/* The thread takes no signals: the vCPUs' kick signal is not for it. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&vp->thread, NULL, device_thread, vp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	pthread_detach(vp->thread);
	char tname[16]; /* the kernel's limit, with the NUL */
	snprintf(tname, sizeof(tname), "%s", vp->name);
	pthread_setname_np(vp->thread, tname);
	vp->thread_started = true;
	return 0;
}
