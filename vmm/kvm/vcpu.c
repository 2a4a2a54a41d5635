/* vCPU threads: one per vCPU, each looping on KVM_RUN and handling exits.
 *
 * Port and MMIO exits go to the buses; everything else either stops the VM
 * with a reason or is counted and resumed. A stop or pause request sets
 * immediate_exit and signals the thread, so a vCPU inside KVM_RUN comes out
 * at once without a race between checking the flag and entering the guest.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "log.h"

#define VCPU_KICK_SIGNAL SIGUSR1

const char *const vm_exit_names[EXIT_KINDS] = {
	[EXIT_IO] = "io", [EXIT_MMIO] = "mmio", [EXIT_HLT] = "hlt", [EXIT_INTR] = "interrupted",
	[EXIT_SHUTDOWN] = "shutdown", [EXIT_IRQ_WINDOW] = "irq_window", [EXIT_OTHER] = "other",
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void kick_handler(int sig) { (void)sig; }

void vcpu_kick_all(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->started)
			continue;
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
}

/* Returns 1 when the vCPU should leave its loop. */
static int vcpu_park_or_stop(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (atomic_load(&vm->stop) != VM_RUNNING)
		return 1;
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		vm->parked++;
		pthread_cond_broadcast(&vm->pause_cond);
		while (vm->paused && atomic_load(&vm->stop) == VM_RUNNING)
			pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	return atomic_load(&vm->stop) != VM_RUNNING;
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;
	/* Bound what a string instruction can ask of us to the kvm_run page. */
	if (size > 8 || run->io.data_offset + (uint64_t)size * run->io.count > (uint64_t)v->vm->run_size)
		return;
	for (uint32_t i = 0; i < run->io.count; i++, data += size)
		if (bus_access(&v->vm->pio, run->io.port, data, size, run->io.direction == KVM_EXIT_IO_OUT) < 0)
			__atomic_add_fetch(&v->vm->unhandled_io, 1, __ATOMIC_RELAXED);
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	if (bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write) < 0)
		__atomic_add_fetch(&v->vm->unhandled_io, 1, __ATOMIC_RELAXED);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!vcpu_park_or_stop(v)) {
		uint64_t t0 = now_ns();
		int r = ioctl(v->fd, KVM_RUN, 0);
		int err = errno;
		uint64_t t1 = now_ns();
		atomic_fetch_add_explicit(&v->c.run_ns, t1 - t0, memory_order_relaxed);
		enum vm_exit_kind kind = EXIT_OTHER;
		if (r < 0) {
			__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			if (err == EINTR || err == EAGAIN) {
				kind = EXIT_INTR;
			} else {
				char why[96];
				snprintf(why, sizeof(why), "KVM_RUN on vCPU %d failed: %s", v->index, strerror(err));
				vm_request_stop(vm, VM_STOP_ERROR, why);
			}
		} else {
			switch (v->run->exit_reason) {
			case KVM_EXIT_IO: kind = EXIT_IO; vcpu_handle_io(v); break;
			case KVM_EXIT_MMIO: kind = EXIT_MMIO; vcpu_handle_mmio(v); break;
			case KVM_EXIT_HLT: kind = EXIT_HLT; break; /* the in-kernel LAPIC handles HLT; not expected */
			case KVM_EXIT_IRQ_WINDOW_OPEN: kind = EXIT_IRQ_WINDOW; break;
			case KVM_EXIT_INTR: kind = EXIT_INTR; break;
			case KVM_EXIT_SHUTDOWN:
				/* A triple fault. Linux uses one as its last way to reboot, but
				 * a guest that gets here has usually crashed. */
				kind = EXIT_SHUTDOWN;
				vm_request_stop(vm, VM_STOP_CRASH, "the guest triple-faulted (KVM_EXIT_SHUTDOWN)");
				break;
			case KVM_EXIT_SYSTEM_EVENT:
				if (v->run->system_event.type == KVM_SYSTEM_EVENT_RESET)
					vm_request_stop(vm, VM_STOP_REBOOT, "the guest asked for a reset");
				else if (v->run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
					vm_request_stop(vm, VM_STOP_POWEROFF, "the guest shut down");
				else
					vm_request_stop(vm, VM_STOP_CRASH, "the guest crashed (system event)");
				break;
			case KVM_EXIT_FAIL_ENTRY: {
				char why[128];
				snprintf(why, sizeof(why), "KVM could not enter vCPU %d (hardware reason 0x%llx)", v->index,
					 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
				vm_request_stop(vm, VM_STOP_CRASH, why);
				break;
			}
			case KVM_EXIT_INTERNAL_ERROR: {
				char why[128];
				snprintf(why, sizeof(why), "KVM internal error on vCPU %d (suberror %u)", v->index,
					 v->run->internal.suberror);
				vm_request_stop(vm, VM_STOP_CRASH, why);
				break;
			}
			default: {
				char why[96];
				snprintf(why, sizeof(why), "unexpected KVM exit %u on vCPU %d", v->run->exit_reason, v->index);
				vm_request_stop(vm, VM_STOP_ERROR, why);
				break;
			}
			}
		}
		atomic_fetch_add_explicit(&v->c.exits[kind], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&v->c.handler_ns[kind], now_ns() - t1, memory_order_relaxed);
	}
	return NULL;
}

/* CPUID: what KVM supports, with the topology made to say "one socket with
 * ncpus cores, one thread each" and this vCPU's APIC id. */
static int vcpu_set_cpuid(struct vm *vm, struct vcpu *v)
{
	int n = 256;
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + (size_t)n * sizeof(struct kvm_cpuid_entry2));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = (uint32_t)n;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		int r = -errno;
		free(cpuid);
		return r;
	}
	unsigned ncpus = (unsigned)vm->ncpus, id = (unsigned)v->index;
	int tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	unsigned shift = 0;
	while ((1u << shift) < ncpus)
		shift++;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (id << 24) | ((ncpus > 255 ? 255 : ncpus) << 16);
			if (ncpus > 1)
				e->edx |= 1u << 28; /* HTT: more than one logical CPU in the package */
			e->ecx |= 1u << 31;  /* running under a hypervisor */
			/* KVM emulates the TSC-deadline timer but leaves it out of the
			 * supported list; offering it spares the guest its 100 ms
			 * calibration of the local APIC timer. */
			if (tsc_deadline)
				e->ecx |= 1u << 24;
			break;
		case 4: /* Intel caches: all cores share the package's last level */
			if (e->eax & 0x1f) {
				unsigned level = (e->eax >> 5) & 7;
				unsigned sharing = level >= 3 ? ncpus - 1 : 0;
				e->eax = (e->eax & 0x3fff) | (sharing << 14) | ((ncpus - 1) << 26);
			}
			break;
		case 0xb:
		case 0x1f: /* x2APIC topology: level 0 = SMT (1 thread), level 1 = core */
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0; e->ebx = 1; e->ecx = 0 | (1u << 8);
			} else if (e->index == 1) {
				e->eax = shift; e->ebx = ncpus; e->ecx = 1 | (2u << 8);
			} else {
				e->eax = 0; e->ebx = 0; e->ecx = e->index;
			}
			break;
		case 0x80000008: /* AMD: number of cores and the APIC id bits they use */
			e->ecx = (e->ecx & ~0xf0ffu) | (shift << 12) | (ncpus - 1);
			break;
		default: break;
		}
	}
	int r = ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
	free(cpuid);
	return r;
}

/* Local APIC: LINT0 takes the PIC's interrupts (ExtINT) and LINT1 is NMI, as
 * firmware leaves it, so the guest gets timer interrupts before it programs
 * the IOAPIC. */
static int vcpu_set_lapic(struct vcpu *v)
{
	struct kvm_lapic_state lapic;
	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	uint32_t *lint0 = (uint32_t *)&lapic.regs[0x350], *lint1 = (uint32_t *)&lapic.regs[0x360];
	*lint0 = (*lint0 & ~0x700u & ~0x10000u) | 0x700; /* delivery mode ExtINT, unmasked */
	*lint1 = (*lint1 & ~0x700u & ~0x10000u) | 0x400; /* delivery mode NMI, unmasked */
	return ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

int vcpu_init(struct vm *vm, struct vcpu *v, int index)
{
	v->vm = vm;
	v->index = index;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return -errno;
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	int r = vcpu_set_cpuid(vm, v);
	if (r < 0) {
		log_error("vCPU %d: setting CPUID: %s", index, strerror(-r));
		return r;
	}
	r = vcpu_set_lapic(v);
	if (r < 0) {
		log_error("vCPU %d: setting up the local APIC: %s", index, strerror(-r));
		return r;
	}
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	/* vCPU threads take the kick signal; a handler (not SIG_IGN) is needed
	 * for it to interrupt KVM_RUN. */
	struct sigaction sa = { .sa_handler = kick_handler };
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	return 0;
}
