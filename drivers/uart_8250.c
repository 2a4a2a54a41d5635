/* 16550A UART at COM1 (port 0x3f8, IRQ 4): the guest's serial console.
 *
 * Transmission is instant: a byte written to THR goes straight to the console
 * output, so THR is always empty and the transmit interrupt fires as soon as
 * the guest enables it. Received bytes wait in a buffer larger than the real
 * 16-byte FIFO, which the driver cannot tell apart. Linux's autoconfig probes
 * (scratch register, loopback, FIFO bits in IIR, IER bits that must not stick)
 * all see a plain 16550A.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "vm.h"

#define UART_BASE 0x3f8
#define UART_IRQ 4
#define UART_RX_BUF 4096

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define IIR_NONE 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

struct uart {
	pthread_mutex_t lock;
	struct vm *vm;
	struct vm_serial *serial; /* out_fd can change: a console client connects */
	uint8_t ier, fcr, lcr, mcr, lsr_err, scr, dll, dlm;
	int thr_pending; /* the transmit-empty interrupt is owed */
	int irq_level;
	uint8_t rx[UART_RX_BUF];
	unsigned rx_head, rx_count;
	uint64_t dropped; /* output bytes the console sink refused */
};

static uint8_t uart_msr(const struct uart *u)
{
	if (u->mcr & MCR_LOOP) /* loopback: modem inputs mirror the outputs */
		return (uint8_t)(((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x04) << 4) |
				 ((u->mcr & 0x08) << 4));
	return 0xb0; /* DCD, DSR, CTS: a terminal is always there */
}

static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
	if ((u->ier & IER_RLSI) && u->lsr_err)
		return IIR_RLSI | fifo;
	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI | fifo;
	if ((u->ier & IER_THRI) && u->thr_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static void uart_update_irq(struct uart *u)
{
	int level = !(uart_iir(u) & IIR_NONE);
	if (level != u->irq_level) {
		u->irq_level = level;
		vm_irq_line(u->vm, UART_IRQ, level);
	}
}

static void uart_rx_push(struct uart *u, uint8_t c)
{
	if (u->rx_count == UART_RX_BUF) {
		u->lsr_err |= LSR_OE;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_RX_BUF] = c;
	u->rx_count++;
}

/* Called with u->lock held; returns with it released. The byte is written
 * under the console's own lock only, so a console that blocks (a pipe nobody
 * reads fast enough) holds up this vCPU but not console input or the other
 * registers. Taking the console lock before dropping the UART lock keeps
 * bytes from two vCPUs in order. */
static void uart_transmit_unlock(struct uart *u, uint8_t c)
{
	pthread_mutex_lock(&u->serial->lock);
	pthread_mutex_unlock(&u->lock);
	int fd = u->serial->out_fd;
	ssize_t n = 1;
	if (fd >= 0) {
		do
			n = write(fd, &c, 1);
		while (n < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&u->serial->lock);
	if (n != 1)
		__atomic_add_fetch(&u->dropped, 1, __ATOMIC_RELAXED); /* a non-blocking client that is full */
}

static void uart_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = 0;
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case RBR_THR:
		if (u->lcr & LCR_DLAB) {
			v = u->dll;
		} else if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_RX_BUF;
			u->rx_count--;
		}
		break;
	case IER: v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier; break;
	case IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR acknowledges the transmit interrupt it reports. */
		if ((v & 0x0f) == IIR_THRI)
			u->thr_pending = 0;
		break;
	case LCR: v = u->lcr; break;
	case MCR: v = u->mcr; break;
	case LSR:
		v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | u->lsr_err;
		u->lsr_err = 0; /* error bits clear on read */
		break;
	case MSR: v = uart_msr(u); break;
	case SCR: v = u->scr; break;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	memset(data, 0, size);
	data[0] = v;
}

static void uart_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = data[0];
	(void)size;
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
		} else if (u->mcr & MCR_LOOP) {
			uart_rx_push(u, v); /* loopback: what is sent comes back */
			u->thr_pending = 1;
		} else {
			/* Sent at once, so THR is empty again: raise that first,
			 * then write the byte without the UART lock. */
			u->thr_pending = 1;
			uart_update_irq(u);
			uart_transmit_unlock(u, v);
			return;
		}
		break;
	case IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
		} else {
			/* Turning the transmit interrupt on while THR is empty raises it. */
			if ((v & IER_THRI) && !(u->ier & IER_THRI))
				u->thr_pending = 1;
			u->ier = v & 0x0f;
		}
		break;
	case IIR_FCR:
		u->fcr = v & 0xc9; /* enable, DMA mode and trigger level stick; the reset bits don't */
		if (v & FCR_CLEAR_RX)
			u->rx_count = 0;
		break;
	case LCR: u->lcr = v; break;
	case MCR: u->mcr = v & 0x1f; break;
	case SCR: u->scr = v; break;
	default: break; /* LSR and MSR are read-only */
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_input(void *opaque, const uint8_t *buf, unsigned len)
{
	struct uart *u = opaque;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < len; i++)
		uart_rx_push(u, buf[i]);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static const struct bus_ops uart_ops = { .read = uart_read, .write = uart_write };

static int uart_create(struct vm *vm)
{
	static struct uart com1; /* one per VMM process: one VM per process */
	struct uart *u = &com1;
	pthread_mutex_init(&u->lock, NULL);
	u->vm = vm;
	u->serial = vm_serial(vm);
	u->lcr = 0x03;
	int r = bus_register(vm_pio(vm), UART_BASE, 8, "uart-8250", &uart_ops, u);
	if (r < 0) {
		log_error("uart: cannot claim ports 0x%x-0x%x: %s", UART_BASE, UART_BASE + 7, strerror(-r));
		return r;
	}
	vm_set_console_input(vm, uart_input, u);
	return 0;
}
DEVICE_REGISTER("uart-8250", uart_create, 10);
