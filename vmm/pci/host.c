/* Every VM gets PCI bus 0 with its host bridge, made before any other device
 * (order 0) so that device models can find it with vm_pci(). The windows are
 * the ones the DSDT's \_SB.PCI0._CRS describes (see x86/layout.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "pci/pci.h"
#include "vm.h"
#include "x86/layout.h"

/* One VM per VMM process; a few slots leave room for tests that build more. */
#define PCI_MAX_VMS 4

static struct {
	struct vm *vm;
	struct pci_bus *bus;
} buses[PCI_MAX_VMS];
static pthread_mutex_t buses_lock = PTHREAD_MUTEX_INITIALIZER;

struct pci_bus *vm_pci(struct vm *vm)
{
	struct pci_bus *b = NULL;
	pthread_mutex_lock(&buses_lock);
	for (int i = 0; i < PCI_MAX_VMS; i++)
		if (buses[i].vm == vm)
			b = buses[i].bus;
	pthread_mutex_unlock(&buses_lock);
	return b;
}

struct pci_bus_config pci_bus_config_x86(int (*set_irq)(void *opaque, unsigned gsi, int level), void *irq_opaque)
{
	return (struct pci_bus_config){
		.ecam_base = X86_ECAM_BASE,
		.io_base = X86_PCI_IO_BASE, .io_size = X86_PCI_IO_SIZE,
		.mem32_base = X86_PCI_MEM32_BASE, .mem32_size = X86_PCI_MEM32_SIZE,
		.mem64_base = X86_PCI_MEM64_BASE, .mem64_size = X86_PCI_MEM64_SIZE,
		.set_irq = set_irq, .irq_opaque = irq_opaque,
	};
}

static int set_irq(void *opaque, unsigned gsi, int level)
{
	return vm_irq_line(opaque, gsi, level);
}

static int pci_host_create(struct vm *vm)
{
	if (vm_pci(vm))
		return 0;
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	struct pci_bus_config c = pci_bus_config_x86(set_irq, vm);
	int r = pci_bus_init(bus, vm_pio(vm), vm_mmio(vm), &c);
	if (r < 0) {
		/* The bus keeps pointers to bus ranges it may have registered: leak
		 * it rather than leave them dangling; the VM is not started. */
		log_error("PCI: registering the config ports and windows: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&buses_lock);
	int slot = -1;
	for (int i = 0; i < PCI_MAX_VMS && slot < 0; i++)
		if (!buses[i].vm)
			slot = i;
	if (slot >= 0)
		buses[slot].vm = vm, buses[slot].bus = bus;
	pthread_mutex_unlock(&buses_lock);
	if (slot < 0) {
		log_error("PCI: more than %d VMs in one process", PCI_MAX_VMS);
		return -ENOSPC;
	}
	return 0;
}

DEVICE_REGISTER("pci-host", pci_host_create, 0);
