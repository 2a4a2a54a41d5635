/* VFIO passthrough of a host PCI function to the guest (issue 5, part 3).
 *
 * vfio_pci.c is the device model: for each --device BDF it binds the IOMMU
 * group to vfio-pci, opens a type1 container and the group, DMA-maps all
 * guest RAM at its guest-physical addresses, and puts a pci_device on our bus
 * whose BARs are the real ones (mmapped into the guest through KVM memory
 * slots, or trapped and forwarded) and whose MSI is routed eventfd -> irqfd.
 *
 * vfio_pci_cfg.c is the part that needs no device: building the guest's view
 * of the config space from the real bytes, and reading the guest's MSI
 * settings back, so the unit test and the fuzzer run it on made-up bytes.
 */
#ifndef KVMBOX_VFIO_PCI_H
#define KVMBOX_VFIO_PCI_H

#include <stddef.h>
#include <stdint.h>

#include "pci/pci.h"

/* The BAR i of the real config (len >= 64 bytes): its type and whether it is
 * prefetchable. PCI_BAR_NONE for an empty BAR or the high half of a 64-bit
 * one. */
enum pci_bar_type vfio_cfg_bar_type(const uint8_t *real, int i, int *prefetchable);

/* The guest's view of the real config space real[0..len) (len >= 256):
 * ids, class, revision, subsystem ids from the device; no ROM, no INTx pin;
 * the capability chain cut down to the ones that are safe or emulated (PM,
 * PCI Express: read-only copies; MSI: emulated, one vector, no per-vector
 * masking); no extended capabilities. BARs are not defined here. name must
 * outlive d. Returns the offset of the MSI capability, or 0. */
unsigned vfio_cfg_init(struct pci_device *d, const char *name, const uint8_t *real, size_t len);

/* What the guest has programmed into the MSI capability at cap. */
struct vfio_msi {
	int enabled;
	uint64_t addr;
	uint32_t data;
};
void vfio_cfg_msi(const struct pci_device *d, unsigned cap, struct vfio_msi *m);

/* Whether a guest config write to [off, off+size) touches [start, start+len). */
static inline int vfio_cfg_overlaps(unsigned off, unsigned size, unsigned start, unsigned len)
{
	return off < start + len && start < off + size;
}

#endif
