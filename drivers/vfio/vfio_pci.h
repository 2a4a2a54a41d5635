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
 * ids, class, revision, subsystem ids from the device; no ROM, no INTx pin
 * (the caller offers one when it routes INTx); the capability chain cut down
 * to the ones that are safe or emulated (PM, PCI Express: read-only copies;
 * MSI: emulated, one vector, no per-vector masking; MSI-X: emulated, only
 * when msix_cap is not NULL); no extended capabilities. BARs are not defined
 * here. name must outlive d. Returns the offset of the MSI capability, or 0;
 * *msix_cap gets that of MSI-X, or 0. */
unsigned vfio_cfg_init(struct pci_device *d, const char *name, const uint8_t *real, size_t len, unsigned *msix_cap);

/* What the guest has programmed into the MSI capability at cap. */
struct vfio_msi {
	int enabled;
	uint64_t addr;
	uint32_t data;
};
void vfio_cfg_msi(const struct pci_device *d, unsigned cap, struct vfio_msi *m);

/* MSI-X (PCI 3.0, 6.8.2): the capability says where the table (16 bytes a
 * vector) and the PBA (a bit a vector) lie, in which BARs. */
#define VFIO_MSIX_ENABLE 0x8000
#define VFIO_MSIX_MASKALL 0x4000
struct vfio_msix_layout {
	unsigned nvec;
	int table_bar, pba_bar;
	uint64_t table_off, pba_off;
};
static inline uint64_t vfio_msix_pba_len(unsigned nvec)
{
	return (nvec + 63u) / 64u * 8u;
}
/* Reads the layout of the capability at cap; -1 when it does not fit the
 * BARs defined on d (the caller then hides the capability). */
int vfio_cfg_msix(const struct pci_device *d, unsigned cap, struct vfio_msix_layout *l);
void vfio_msix_flags(const struct pci_device *d, unsigned cap, int *enabled, int *masked);
/* A guest access of size bytes at off in the emulated table (nvec entries):
 * write 1 stores data (reserved bits of Vector Control stay 0), write 0 fills
 * data. *first..*last are the vectors touched. -1 when the access does not
 * fit in the table. */
int vfio_msix_table_access(uint8_t *table, unsigned nvec, uint64_t off, uint8_t *data, unsigned size, int write,
			   unsigned *first, unsigned *last);
/* Entry i's message and mask bit. */
void vfio_msix_entry(const uint8_t *table, unsigned i, struct vfio_msi *m, int *masked);

/* Whether a guest config write to [off, off+size) touches [start, start+len). */
static inline int vfio_cfg_overlaps(unsigned off, unsigned size, unsigned start, unsigned len)
{
	return off < start + len && start < off + size;
}

#endif
