/* Building and running one VM on KVM: the /dev/kvm handshake, guest memory,
 * the in-kernel interrupt controllers and PIT, the boot layout from vmm/x86,
 * the registered devices and the vCPU threads. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "kvm/kvm.h"
#include "log.h"
#include "vmm/config.h"
#include "x86/boot.h"
#include "x86/irqroute.h"
#include "x86/layout.h"

#define KVM_TSS_ADDR 0xfffbd000UL      /* 3 pages just below the BIOS ROM alias; Intel needs them */
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* --- the interface devices use (vm.h) --- */
struct bus *vm_pio(struct vm *vm) { return &vm->pio; }
struct bus *vm_mmio(struct vm *vm) { return &vm->mmio; }
int vm_ncpus(const struct vm *vm) { return vm->ncpus; }
struct vm_serial *vm_serial(struct vm *vm) { return &vm->serial; }

int vm_serial_set_output(struct vm_serial *s, int fd)
{
	pthread_mutex_lock(&s->lock);
	int old = s->out_fd;
	s->out_fd = fd;
	pthread_mutex_unlock(&s->lock);
	return old;
}

int vm_irq_line(struct vm *vm, unsigned irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

void vm_set_console_input(struct vm *vm, void (*fn)(void *, const uint8_t *, unsigned), void *opaque)
{
	vm->console_input = fn;
	vm->console_opaque = opaque;
}

void vm_request_stop(struct vm *vm, enum vm_stop why, const char *detail)
{
	int running = VM_RUNNING;
	/* Only the request that stops the VM kicks the vCPUs: a later one may
	 * come while the main thread is already joining them. */
	if (!atomic_compare_exchange_strong(&vm->stop, &running, (int)why))
		return;
	snprintf(vm->stop_detail, sizeof(vm->stop_detail), "%s", detail);
	uint64_t one = 1;
	if (write(vm->stop_efd, &one, sizeof(one)) < 0)
		log_warn("waking the main loop: %s", strerror(errno));
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	vcpu_kick_all(vm);
}

const struct guest_mem *vm_mem(struct vm *vm) { return &vm->mem; }
const struct vmm_config *vm_config(struct vm *vm) { return vm->cfg; }

/* Re-install the base routes plus every MSI route; under irq_lock. */
static int vm_commit_routes(struct vm *vm)
{
	size_t max = IRQROUTE_ENTRIES + VM_MSI_ROUTES;
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	unsigned n = 0;
	int rc = irqroute_build(r->entries, IRQROUTE_ENTRIES, &n);
	if (rc < 0) {
		free(r);
		return rc;
	}
	for (unsigned i = 0; i < VM_MSI_ROUTES; i++) {
		if (!vm->msi[i].used)
			continue;
		struct kvm_irq_routing_entry *e = &r->entries[n++];
		e->gsi = VM_MSI_GSI_BASE + i;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)vm->msi[i].addr;
		e->u.msi.address_hi = (uint32_t)(vm->msi[i].addr >> 32);
		e->u.msi.data = vm->msi[i].data;
	}
	r->nr = n;
	rc = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0 ? -errno : 0;
	free(r);
	return rc;
}

int vm_msi_route(struct vm *vm, uint64_t addr, uint32_t data, int gsi)
{
	pthread_mutex_lock(&vm->irq_lock);
	int i = gsi - VM_MSI_GSI_BASE, r;
	if (gsi < 0) {
		for (i = 0; i < VM_MSI_ROUTES && vm->msi[i].used; i++)
			;
		if (i == VM_MSI_ROUTES) {
			r = -ENOSPC;
			goto out;
		}
	} else if (i < 0 || i >= VM_MSI_ROUTES || !vm->msi[i].used) {
		r = -EINVAL;
		goto out;
	}
	struct vm_msi_route old = vm->msi[i];
	if (old.used && old.addr == addr && old.data == data) {
		r = VM_MSI_GSI_BASE + i;
		goto out;
	}
	vm->msi[i] = (struct vm_msi_route){ .addr = addr, .data = data, .used = 1 };
	r = vm_commit_routes(vm);
	if (r < 0)
		vm->msi[i] = old;
	else
		r = VM_MSI_GSI_BASE + i;
out:
	pthread_mutex_unlock(&vm->irq_lock);
	return r;
}

void vm_msi_route_free(struct vm *vm, int gsi)
{
	int i = gsi - VM_MSI_GSI_BASE;
	if (i < 0 || i >= VM_MSI_ROUTES)
		return;
	pthread_mutex_lock(&vm->irq_lock);
	if (vm->msi[i].used) {
		vm->msi[i].used = 0;
		vm_commit_routes(vm);
	}
	pthread_mutex_unlock(&vm->irq_lock);
}

/* Device slots follow the RAM slots. The table is per process, which is per
 * VM (one VM per VMM process), so struct vm needs no new field. */
#define VM_DEVICE_SLOT_BASE 16
#define VM_DEVICE_SLOTS 32
static pthread_mutex_t device_slot_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t device_slot_used[VM_DEVICE_SLOTS];

int vm_map_device_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *hva)
{
	if (!size || (gpa | size | (uint64_t)(uintptr_t)hva) & 4095)
		return -EINVAL;
	pthread_mutex_lock(&device_slot_lock);
	int i = 0;
	while (i < VM_DEVICE_SLOTS && device_slot_used[i])
		i++;
	int r = -ENOSPC;
	if (i < VM_DEVICE_SLOTS) {
		struct kvm_userspace_memory_region m = {
			.slot = (uint32_t)(VM_DEVICE_SLOT_BASE + i), .guest_phys_addr = gpa, .memory_size = size,
			.userspace_addr = (uint64_t)(uintptr_t)hva,
		};
		r = ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0 ? -errno : VM_DEVICE_SLOT_BASE + i;
		if (r >= 0)
			device_slot_used[i] = 1;
	}
	pthread_mutex_unlock(&device_slot_lock);
	return r;
}

void vm_unmap_device_memory(struct vm *vm, int slot)
{
	int i = slot - VM_DEVICE_SLOT_BASE;
	if (i < 0 || i >= VM_DEVICE_SLOTS)
		return;
	pthread_mutex_lock(&device_slot_lock);
	/* Size 0 deletes the slot. */
	struct kvm_userspace_memory_region m = { .slot = (uint32_t)slot };
	if (device_slot_used[i] && ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) == 0)
		device_slot_used[i] = 0;
	pthread_mutex_unlock(&device_slot_lock);
}

int vm_irqfd(struct vm *vm, int efd, int gsi, int assign)
{
	struct kvm_irqfd f = { .fd = (uint32_t)efd, .gsi = (uint32_t)gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
	return ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}

int vm_irqfd_resample(struct vm *vm, int efd, int rfd, int gsi, int assign)
{
	struct kvm_irqfd f = { .fd = (uint32_t)efd, .gsi = (uint32_t)gsi };
	if (assign) {
		f.flags = KVM_IRQFD_FLAG_RESAMPLE;
		f.resamplefd = (uint32_t)rfd;
	} else {
		f.flags = KVM_IRQFD_FLAG_DEASSIGN;
	}
	return ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}

int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, unsigned len, int assign)
{
	struct kvm_ioeventfd e = { .addr = addr, .len = len, .fd = efd, .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN };
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0 ? -errno : 0;
}

void vm_press_power_button(struct vm *vm)
{
	if (vm->power_button)
		vm->power_button(vm->power_button_opaque);
}

/* --- devices --- */
/* Weak: a program that links no device (a unit test) has no such section. */
extern const struct device_type __start_kvmbox_devices[] __attribute__((weak));
extern const struct device_type __stop_kvmbox_devices[] __attribute__((weak));

int devices_create(struct vm *vm)
{
	/* Lowest order first; the set is small, so a selection pass per order is fine. */
	int min = -1;
	for (;;) {
		int next = -1;
		for (const struct device_type *t = __start_kvmbox_devices; t < __stop_kvmbox_devices; t++)
			if (t->order > min && (next < 0 || t->order < next))
				next = t->order;
		if (next < 0)
			return 0;
		for (const struct device_type *t = __start_kvmbox_devices; t < __stop_kvmbox_devices; t++) {
			if (t->order != next)
				continue;
			int r = t->create(vm);
			if (r < 0) {
				/* The device said why (device.h); only an allocation
				 * failure may come back unexplained. */
				if (r == -ENOMEM)
					log_error("device %s: %s", t->name, strerror(-r));
				return r;
			}
		}
		min = next;
	}
}

/* --- building the VM --- */
#define VM_BOOT_FILE_MAX (4ULL << 30) /* a kernel or initrd; the guest's RAM bounds it anyway */

static int map_file(const char *path, const char *what, void **data, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		log_error("%s %s: %s", what, path, strerror(errno));
		return r;
	}
	/* A file, or a block device holding one: a CI job hands the appliance
	 * its kernel as a raw QEMU drive (-drive file=bzImage,if=virtio), with
	 * no file system to make. The device's zero padding up to a whole
	 * sector is harmless: the loaders read sizes from the image's headers,
	 * and Linux skips zeros after an initramfs archive. */
	struct stat st;
	uint64_t len = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		len = (uint64_t)st.st_size;
	else if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &len) < 0)
		len = 0;
	if (!len || len > VM_BOOT_FILE_MAX) {
		log_error("%s %s: not a non-empty file or block device of at most %llu MiB", what, path,
			  (unsigned long long)(VM_BOOT_FILE_MAX >> 20));
		close(fd);
		return -EINVAL;
	}
	st.st_size = (off_t)len;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int err = errno;
	close(fd);
	if (p == MAP_FAILED) {
		log_error("%s %s: %s", what, path, strerror(err));
		return -err;
	}
	*data = p;
	*size = (size_t)st.st_size;
	return 0;
}

static int kvm_open(struct vm *vm, unsigned ncpus)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int r = -errno;
		log_error("/dev/kvm: %s (is KVM enabled, and is virtualization on in the firmware?)", strerror(errno));
		return r;
	}
	int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		log_error("/dev/kvm speaks API version %d, we need %d", api, KVM_API_VERSION);
		return -ENOTSUP;
	}
	static const struct { int cap; const char *name; } need[] = {
		{ KVM_CAP_IRQCHIP, "in-kernel irqchip" }, { KVM_CAP_USER_MEMORY, "user memory" },
		{ KVM_CAP_PIT2, "in-kernel PIT" },       { KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
		{ KVM_CAP_IRQ_ROUTING, "IRQ routing" },  { KVM_CAP_EXT_CPUID, "CPUID" },
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			log_error("KVM lacks %s support; this kernel is too old", need[i].name);
			return -ENOTSUP;
		}
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && ncpus > (unsigned)max) {
		log_error("%u vCPUs asked for, but KVM allows at most %d here", ncpus, max);
		return -EINVAL;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -EIO;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		int r = -errno;
		log_error("KVM_CREATE_VM: %s", strerror(errno));
		return r;
	}
	return 0;
}

static int kvm_setup_irqchip(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		return -errno;
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap); /* Intel only; AMD says EINVAL or ignores it */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return -errno;
	struct kvm_irq_routing *routes;
	int r = irqroute_alloc(&routes);
	if (r < 0)
		return r;
	r = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, routes) < 0 ? -errno : 0;
	free(routes);
	if (r < 0)
		return r;
	/* The PIT's speaker port (0x61) is handled in the kernel too, as a dummy. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return -errno;
	return 0;
}

static int kvm_add_memory(struct vm *vm)
{
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		struct guest_mem_region *g = &vm->mem.region[i];
		struct kvm_userspace_memory_region r = {
			.slot = i, .guest_phys_addr = g->gpa, .memory_size = g->size, .userspace_addr = (uint64_t)(uintptr_t)g->hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
	}
	return 0;
}

/* Guest RAM is allocated lazily, so an impossible size would only fail
 * later, when the guest touches it and the host runs out. Refuse it now. */
static int check_host_memory(uint64_t want)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long total_kb = 0;
	if (f) {
		if (fscanf(f, "MemTotal: %llu kB", &total_kb) != 1)
			total_kb = 0;
		fclose(f);
	}
	if (total_kb && want > total_kb * 1024) {
		log_error("guest memory: %llu MiB asked for, but this machine has only %llu MiB",
			  (unsigned long long)(want >> 20), total_kb / 1024);
		return -ENOMEM;
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vmm_config *cfg)
{
	char err[256] = "";
	int r;
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	vm->mem.fd = -1;
	atomic_store(&vm->stop, VM_RUNNING);
	vm->pio.name = "pio";
	vm->mmio.name = "mmio";
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	pthread_mutex_init(&vm->irq_lock, NULL);
	vm->ncpus = (int)cfg->cpus;
	pthread_mutex_init(&vm->serial.lock, NULL);
	vm->serial.out_fd = cfg->serial == SERIAL_STDIO ? 1 : -1;
	vm->serial.in_fd = cfg->serial == SERIAL_STDIO ? 0 : -1;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return -errno;

	/* Read the kernel and initrd first: a bad file is the commonest mistake,
	 * and it should be reported before anything is allocated. */
	void *kernel = NULL, *initrd = NULL;
	size_t kernel_size = 0, initrd_size = 0;
	if ((r = map_file(cfg->kernel, "kernel", &kernel, &kernel_size)) < 0)
		return r;
	if (cfg->initrd[0] && (r = map_file(cfg->initrd, "initrd", &initrd, &initrd_size)) < 0)
		goto out;

	if ((r = check_host_memory(cfg->mem_bytes)) < 0 || (r = kvm_open(vm, cfg->cpus)) < 0)
		goto out;
	r = guest_mem_alloc(&vm->mem, cfg->mem_bytes, cfg->hugepages ? GUEST_MEM_HUGEPAGES : 0, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		goto out;
	}
	struct x86_boot_config bc = {
		.kernel = kernel, .kernel_size = kernel_size, .initrd = initrd, .initrd_size = initrd_size,
		.cmdline = cfg->cmdline, .ncpus = cfg->cpus,
	};
	struct x86_boot boot;
	r = x86_boot_setup(&vm->mem, &bc, &boot, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		goto out;
	}
	if ((r = kvm_setup_irqchip(vm)) < 0) {
		log_error("setting up the interrupt controllers: %s", strerror(-r));
		goto out;
	}
	if ((r = kvm_add_memory(vm)) < 0) {
		log_error("giving guest memory to KVM: %s", strerror(-r));
		goto out;
	}
	vm->cfg = cfg;
	r = devices_create(vm);
	vm->cfg = NULL;
	if (r < 0)
		goto out;

	vm->vcpus = calloc((size_t)vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		vm->vcpus[i].fd = -1;
		if ((r = vcpu_init(vm, &vm->vcpus[i], i)) < 0) {
			log_error("creating vCPU %d: %s", i, strerror(-r));
			goto out;
		}
	}
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	if (ioctl(vm->vcpus[0].fd, KVM_GET_SREGS, &sregs) < 0 || x86_boot_regs(&boot, &sregs, &regs) < 0 ||
	    ioctl(vm->vcpus[0].fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vm->vcpus[0].fd, KVM_SET_REGS, &regs) < 0) {
		r = -errno ? -errno : -EINVAL;
		log_error("setting the boot vCPU's registers: %s", strerror(-r));
		goto out;
	}
	log_debug("kernel entry 0x%llx, initrd %llu bytes at 0x%llx", (unsigned long long)boot.kernel.entry,
		  (unsigned long long)boot.initrd_size, (unsigned long long)boot.initrd_addr);
	r = 0;
out:
	/* The kernel and initrd were copied into guest RAM; the mappings can go. */
	if (kernel)
		munmap(kernel, kernel_size);
	if (initrd)
		munmap(initrd, initrd_size);
	return r;
}

int vm_start(struct vm *vm)
{
	/* vCPU threads inherit this mask; they unblock only the kick signal. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = 0;
	for (int i = 0; i < vm->ncpus && !r; i++) {
		r = -pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (!r) {
			/* Named, so top -H and the benchmarks tell guest time from device time. */
			char name[16];
			snprintf(name, sizeof(name), "vcpu %d", i);
			pthread_setname_np(vm->vcpus[i].thread, name);
			vm->vcpus[i].started = 1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		vm_request_stop(vm, VM_STOP_ERROR, "could not start the vCPU threads");
	return r;
}

void vm_pause(struct vm *vm, int pause)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->paused = pause;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	if (!pause)
		return;
	vcpu_kick_all(vm);
	/* Wait until every vCPU is out of the guest, so that "paused" is true when we answer. */
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < vm->ncpus && atomic_load(&vm->stop) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

enum vm_stop vm_join(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus && vm->vcpus[i].started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = 0;
		}
	return (enum vm_stop)atomic_load(&vm->stop);
}

void vm_counters(struct vm *vm, struct vcpu_counters *sum, int reset)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu_counters *c = &vm->vcpus[i].c;
		for (int k = 0; k < EXIT_KINDS; k++) {
			sum->exits[k] += reset ? atomic_exchange(&c->exits[k], 0) : atomic_load(&c->exits[k]);
			sum->handler_ns[k] += reset ? atomic_exchange(&c->handler_ns[k], 0) : atomic_load(&c->handler_ns[k]);
		}
		sum->run_ns += reset ? atomic_exchange(&c->run_ns, 0) : atomic_load(&c->run_ns);
	}
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; vm->vcpus && i < vm->ncpus; i++) {
		if (vm->vcpus[i].run)
			munmap(vm->vcpus[i].run, (size_t)vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	guest_mem_free(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
}
