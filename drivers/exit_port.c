/* The exit port: a guest that writes a number to I/O port 0xf4 ends the VM
 * with that exit status, which `kvmbox vmm` returns as 16 + N (N = 0..63;
 * higher bits are dropped) and the supervisor reports as "the guest exited
 * with status N". It is how a test kernel in CI says pass or fail without a
 * serial-line protocol: the same port and width as QEMU's isa-debug-exit
 * device in its common iobase=0xf4,iosize=4 setup, so test images made for
 * that work unchanged (QEMU reports (N << 1) | 1 instead).
 *
 * Nothing else lives at 0xf4 on a PC, and a guest can always power itself
 * off, so the port gives a guest no new power over its VM. */
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "kvm/kvm.h"
#include "log.h"
#include "vm.h"

#define EXIT_PORT 0xf4
#define EXIT_PORT_LEN 4

static void exit_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
	(void)opaque;
	(void)off;
	memset(data, 0xff, size); /* like an empty ISA port */
}

static void exit_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
	struct vm *vm = opaque;
	if (off != 0 || !size)
		return; /* only a write at the base counts, of any width */
	unsigned code = data[0] & 63;
	char detail[64];
	snprintf(detail, sizeof(detail), "the guest wrote %u to the exit port (0x%x)", data[0], EXIT_PORT);
	vm_request_stop(vm, (enum vm_stop)(VM_STOP_EXIT_BASE + code), detail);
}

static const struct bus_ops exit_ops = { .read = exit_read, .write = exit_write };

static int exit_port_create(struct vm *vm)
{
	int r = bus_register(vm_pio(vm), EXIT_PORT, EXIT_PORT_LEN, "exit-port", &exit_ops, vm);
	if (r < 0)
		log_error("exit port: cannot claim port 0x%x: %s", EXIT_PORT, strerror(-r));
	return r;
}
DEVICE_REGISTER("exit-port", exit_port_create, 50);
