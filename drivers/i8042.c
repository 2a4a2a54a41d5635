/* i8042 keyboard controller (ports 0x60 and 0x64, IRQ 1), for the reset
 * that guests ask for, and enough of a controller and a keyboard that
 * Linux's probe answers quickly instead of waiting out its timeouts (each
 * poll is a VM exit, and a timed-out probe costs seconds under nested
 * virtualization). There is no mouse: the AUX port reports a failed
 * interface test, so the guest skips it.
 */
#include <pthread.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "vm.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_IRQ 1
#define OUTQ 8

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_UNLOCKED 0x10
#define CTR_KBDINT 0x01
#define CTR_AUXDIS 0x20

struct i8042 {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t ctr, status, pending_cmd;
	uint8_t out[OUTQ];
	unsigned out_head, out_count;
};

static void i8042_push(struct i8042 *k, uint8_t v)
{
	if (k->out_count == OUTQ)
		return;
	k->out[(k->out_head + k->out_count++) % OUTQ] = v;
	if (k->ctr & CTR_KBDINT) { /* ISA interrupts are edges: pulse the line */
		vm_irq_line(k->vm, I8042_IRQ, 1);
		vm_irq_line(k->vm, I8042_IRQ, 0);
	}
}

/* A keyboard with nothing pressed: acknowledges commands, answers identify and reset. */
static void keyboard_command(struct i8042 *k, uint8_t v)
{
	switch (v) {
	case 0xff: i8042_push(k, 0xfa); i8042_push(k, 0xaa); break; /* reset: ACK, self-test passed */
	case 0xf2: i8042_push(k, 0xfa); i8042_push(k, 0xab); i8042_push(k, 0x83); break; /* MF2 keyboard */
	case 0xee: i8042_push(k, 0xee); break; /* echo */
	default: i8042_push(k, 0xfa); break;
	}
}

static void controller_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case 0x20: i8042_push(k, k->ctr); break;          /* read control register */
	case 0x60: case 0xd1: case 0xd3: case 0xd4:       /* these take a data byte */
		k->pending_cmd = cmd;
		break;
	case 0xa7: k->ctr |= CTR_AUXDIS; break;
	case 0xa8: k->ctr &= (uint8_t)~CTR_AUXDIS; break;
	case 0xa9: i8042_push(k, 0x02); break;            /* AUX test: clock line stuck, i.e. no mouse port */
	case 0xaa: k->status |= ST_SYS; i8042_push(k, 0x55); break; /* self-test passed */
	case 0xab: i8042_push(k, 0x00); break;            /* keyboard interface test passed */
	case 0xad: case 0xae: break;                      /* keyboard disable/enable */
	case 0xfe:                                        /* pulse the reset line */
		vm_request_stop(k->vm, VM_STOP_REBOOT, "reset through the i8042 keyboard controller");
		break;
	default: break;
	}
}

static void i8042_read(struct i8042 *k, int is_cmd_port, uint8_t *data, unsigned size)
{
	memset(data, 0, size);
	pthread_mutex_lock(&k->lock);
	if (!is_cmd_port) {
		if (k->out_count) {
			data[0] = k->out[k->out_head];
			k->out_head = (k->out_head + 1) % OUTQ;
			k->out_count--;
		}
	} else {
		data[0] = k->status | ST_UNLOCKED | (k->out_count ? ST_OBF : 0);
	}
	pthread_mutex_unlock(&k->lock);
}

static void i8042_write(struct i8042 *k, int is_cmd_port, const uint8_t *data)
{
	uint8_t v = data[0];
	pthread_mutex_lock(&k->lock);
	if (is_cmd_port) {
		k->status |= ST_CMD;
		controller_command(k, v);
	} else {
		k->status &= (uint8_t)~ST_CMD;
		uint8_t cmd = k->pending_cmd;
		k->pending_cmd = 0;
		switch (cmd) {
		case 0x60: k->ctr = v; break;
		case 0xd1: /* output port: bit 0 low holds the CPU in reset */
			if (!(v & 1))
				vm_request_stop(k->vm, VM_STOP_REBOOT, "reset through the i8042 output port");
			break;
		case 0xd3: i8042_push(k, 0x00); break; /* AUX loopback does not echo: no AUX port */
		case 0xd4: break;                       /* bytes for a mouse that is not there */
		default: keyboard_command(k, v); break;
		}
	}
	pthread_mutex_unlock(&k->lock);
}

/* The data and command ports are one byte each, so each gets its own ops. */
static void data_read(void *o, uint64_t off, uint8_t *d, unsigned n) { (void)off; i8042_read(o, 0, d, n); }
static void cmd_read(void *o, uint64_t off, uint8_t *d, unsigned n) { (void)off; i8042_read(o, 1, d, n); }
static void data_write(void *o, uint64_t off, const uint8_t *d, unsigned n) { (void)off; (void)n; i8042_write(o, 0, d); }
static void cmd_write(void *o, uint64_t off, const uint8_t *d, unsigned n) { (void)off; (void)n; i8042_write(o, 1, d); }
static const struct bus_ops data_ops = { .read = data_read, .write = data_write };
static const struct bus_ops cmd_ops = { .read = cmd_read, .write = cmd_write };

static int i8042_create(struct vm *vm)
{
	static struct i8042 kbc;
	struct i8042 *k = &kbc;
	pthread_mutex_init(&k->lock, NULL);
	k->vm = vm;
	k->ctr = CTR_KBDINT | CTR_AUXDIS;
	/* Two one-port ranges: 0x61-0x63 belong to the PIT's speaker port. */
	int r = bus_register(vm_pio(vm), I8042_DATA, 1, "i8042", &data_ops, k);
	if (!r)
		r = bus_register(vm_pio(vm), I8042_CMD, 1, "i8042", &cmd_ops, k);
	if (r < 0)
		log_error("i8042: cannot claim ports 0x60/0x64: %s", strerror(-r));
	return r;
}
DEVICE_REGISTER("i8042", i8042_create, 10);
