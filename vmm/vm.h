/* What a device model may ask of the virtual machine it is attached to. */
#ifndef KVMBOX_VM_H
#define KVMBOX_VM_H

#include <pthread.h>
#include <stdint.h>

#include "bus.h"

/* Why the VM stopped; also the VMM's exit status (see vmm/vmm.c). */
enum vm_stop {
	VM_RUNNING = -1,
	VM_STOP_POWEROFF = 0, /* the guest powered off */
	VM_STOP_ERROR = 1,    /* the VMM failed */
	VM_STOP_REBOOT = 3,   /* the guest asked for a reboot */
	VM_STOP_HOST = 4,     /* stopped from outside: signal or control socket */
	VM_STOP_CRASH = 5,    /* the guest crashed: triple fault, or KVM could not run it */
	/* The guest wrote its exit status N (0..63) to the exit port
	 * (drivers/exit_port.c): the VMM exits with VM_STOP_EXIT_BASE + N. */
	VM_STOP_EXIT_BASE = 16,
	VM_STOP_EXIT_MAX = 16 + 63,
};

struct vm_serial {
	/* out_fd changes when a console client attaches; lock guards it and
	 * orders the writes, so a byte never goes to a closed or reused fd. */
	pthread_mutex_t lock;
	int out_fd;  /* where guest console output goes, or -1 */
	int in_fd;   /* where console input comes from, or -1 */
};
/* Point console output at fd (or -1); returns the old fd for the caller to close. */
int vm_serial_set_output(struct vm_serial *s, int fd);

struct vm;

struct bus *vm_pio(struct vm *vm);
struct bus *vm_mmio(struct vm *vm);
/* Drive an ISA interrupt line (IOAPIC pin = PIC line for 0..15). */
int vm_irq_line(struct vm *vm, unsigned irq, int level);
/* Ask every vCPU to stop; the first reason given wins. */
void vm_request_stop(struct vm *vm, enum vm_stop why, const char *detail);
int vm_ncpus(const struct vm *vm);
struct vm_serial *vm_serial(struct vm *vm);
/* The console device registers where input from vm_serial()->in_fd goes. */
void vm_set_console_input(struct vm *vm, void (*fn)(void *opaque, const uint8_t *buf, unsigned len), void *opaque);
/* The ACPI power button: raise the fixed-feature event for the guest. */
void vm_press_power_button(struct vm *vm);

/* The VM's settings; valid while devices are created (NULL in tests). */
struct vmm_config;
const struct vmm_config *vm_config(struct vm *vm);

/* Guest RAM, for devices that do DMA (virtqueues). */
struct guest_mem;
const struct guest_mem *vm_mem(struct vm *vm);

/* MSI routing, for MSI-X capable devices. MSI routes live on GSIs from
 * VM_MSI_GSI_BASE up, after the IOAPIC's 24 pins. vm_msi_route() sets the
 * route of gsi (or of a new GSI when gsi < 0) to the MSI message addr/data
 * and re-installs the whole routing table; it returns the GSI or -errno.
 * vm_msi_route_free() gives a GSI back. Both may be called from any thread. */
#define VM_MSI_GSI_BASE 24
#define VM_MSI_ROUTES 128
int vm_msi_route(struct vm *vm, uint64_t addr, uint32_t data, int gsi);
void vm_msi_route_free(struct vm *vm, int gsi);
/* KVM_IRQFD: writing the eventfd efd raises gsi (edge) without a VM exit.
 * assign 0 unbinds. 0 or -errno. */
int vm_irqfd(struct vm *vm, int efd, int gsi, int assign);
/* The level-triggered kind, for a passed-through device's INTx on an IOAPIC
 * pin: a write to efd asserts gsi and keeps it asserted until the guest's EOI,
 * which deasserts it and signals rfd (the "resample" eventfd), so the owner
 * can unmask the device's interrupt and let it fire again if still pending.
 * assign 0 unbinds. 0 or -errno. */
int vm_irqfd_resample(struct vm *vm, int efd, int rfd, int gsi, int assign);
/* KVM_IOEVENTFD on an MMIO address: a guest write of len bytes (1, 2, 4 or 8;
 * 0: any length) to addr signals efd in the kernel, without a VM exit to
 * the VMM. assign 0 removes the same binding. 0 or -errno. */
int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, unsigned len, int assign);

/* Device memory (a passed-through device's mmapped BAR) in the guest's
 * physical space: a KVM memory slot after the RAM ones, so the guest reaches
 * it without exits. vm_map_device_memory() returns the slot, or -errno;
 * size and hva must be page-aligned. vm_unmap_device_memory() removes it.
 * Callable from a vCPU thread (the bus's bar_map hook). */
int vm_map_device_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *hva);
void vm_unmap_device_memory(struct vm *vm, int slot);

#endif
