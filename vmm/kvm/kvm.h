/* The VM and its vCPUs on KVM: private to the VMM core (devices use vm.h). */
#ifndef KVMBOX_KVM_H
#define KVMBOX_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "vm.h"
#include "x86/guest_mem.h"

/* Exit reasons we count, each with the time spent handling it. */
enum vm_exit_kind {
	EXIT_IO, EXIT_MMIO, EXIT_HLT, EXIT_INTR, EXIT_SHUTDOWN, EXIT_IRQ_WINDOW, EXIT_OTHER,
	EXIT_KINDS
};
extern const char *const vm_exit_names[EXIT_KINDS];

struct vcpu_counters {
	_Atomic uint64_t exits[EXIT_KINDS];
	_Atomic uint64_t handler_ns[EXIT_KINDS]; /* time in our handler, out of KVM_RUN */
	_Atomic uint64_t run_ns;                 /* time inside KVM_RUN */
};

struct vcpu {
	struct vm *vm;
	int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
	struct vcpu_counters c;
};

struct vm {
	int kvm_fd, vm_fd;
	int run_size;
	struct guest_mem mem;
	int ncpus;
	struct vcpu *vcpus;
	struct bus pio, mmio;
	struct vm_serial serial;
	void (*console_input)(void *opaque, const uint8_t *buf, unsigned len);
	void *console_opaque;

	_Atomic int stop;      /* enum vm_stop; VM_RUNNING while it runs */
	char stop_detail[160];
	int stop_efd;          /* eventfd: written when a stop is requested */

	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	int paused;            /* requested state */
	int parked;            /* vCPUs currently parked */

	/* ACPI PM1 registers, shared with drivers/acpi_pm.c through vm_press_power_button */
	void (*power_button)(void *opaque);
	void *power_button_opaque;
	uint64_t unhandled_io; /* guest accesses that hit no device */
	const struct vmm_config *cfg; /* during vm_create only: for devices_create */

	/* MSI routes (GSI VM_MSI_GSI_BASE + i) added to the base routing of
	 * x86/irqroute.c; under irq_lock, since vCPU threads program MSI-X. */
	pthread_mutex_t irq_lock;
	struct vm_msi_route {
		uint64_t addr;
		uint32_t data;
		int used;
	} msi[VM_MSI_ROUTES];
};

struct vmm_config;
/* Build the whole VM: KVM, memory, kernel, firmware tables, devices, vCPUs. */
int vm_create(struct vm *vm, const struct vmm_config *cfg);
int vm_start(struct vm *vm);
void vm_pause(struct vm *vm, int pause);
/* Wait for the vCPU threads after a stop; returns the stop reason. */
enum vm_stop vm_join(struct vm *vm);
void vm_destroy(struct vm *vm);
/* Sum (and optionally reset) every vCPU's counters. */
void vm_counters(struct vm *vm, struct vcpu_counters *sum, int reset);

int vcpu_init(struct vm *vm, struct vcpu *v, int index);
void *vcpu_thread(void *arg);
void vcpu_kick_all(struct vm *vm);

#endif
