/* ACPI PM1 fixed hardware: how a guest powers off, and how we press its
 * power button. Ports and bits are those the FADT and DSDT describe
 * (vmm/x86/acpi.h): PM1_STS/PM1_EN at 0x600, PM1_CNT at 0x604, SCI on IRQ 9.
 */
#include <pthread.h>
#include <string.h>

#include "device.h"
#include "kvm/kvm.h"
#include "log.h"
#include "vm.h"
#include "x86/acpi.h"
#include "x86/layout.h"

struct acpi_pm {
	pthread_mutex_t lock;
	struct vm *vm;
	uint16_t sts, en, cnt;
	int sci_level;
};

static void pm_update_sci(struct acpi_pm *p)
{
	int level = (p->sts & p->en) != 0;
	if (level != p->sci_level) {
		p->sci_level = level;
		vm_irq_line(p->vm, X86_SCI_IRQ, level);
	}
}

static void pm_read(void *opaque, uint64_t off, uint8_t *data, unsigned size, int cnt_block)
{
	struct acpi_pm *p = opaque;
	uint8_t regs[4];
	pthread_mutex_lock(&p->lock);
	if (cnt_block) {
		uint16_t v = p->cnt | ACPI_PM1_SCI_EN; /* no SMI_CMD: ACPI mode is always on */
		memcpy(regs, &v, 2);
		memset(regs + 2, 0, 2);
	} else {
		memcpy(regs, &p->sts, 2);
		memcpy(regs + 2, &p->en, 2);
	}
	pthread_mutex_unlock(&p->lock);
	memset(data, 0, size);
	for (unsigned i = 0; i < size && off + i < 4; i++)
		data[i] = regs[off + i];
}

static void pm_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size, int cnt_block)
{
	struct acpi_pm *p = opaque;
	uint8_t regs[4] = { 0 };
	pthread_mutex_lock(&p->lock);
	if (cnt_block) {
		memcpy(regs, &p->cnt, 2);
		for (unsigned i = 0; i < size && off + i < 2; i++)
			regs[off + i] = data[i];
		memcpy(&p->cnt, regs, 2);
		unsigned typ = (p->cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
		if ((p->cnt & ACPI_PM1_SLP_EN) && typ == X86_S5_SLP_TYP) {
			p->cnt &= (uint16_t)~ACPI_PM1_SLP_EN;
			vm_request_stop(p->vm, VM_STOP_POWEROFF, "ACPI S5 through PM1a_CNT");
		} else if (p->cnt & ACPI_PM1_SLP_EN) {
			p->cnt &= (uint16_t)~ACPI_PM1_SLP_EN; /* other sleep states are not offered */
		}
	} else {
		/* PM1_STS bits clear when written with 1; PM1_EN is plain. A byte
		 * access changes only its byte, so start from the current values
		 * (and from "clear nothing" for the status half). */
		memcpy(regs + 2, &p->en, 2);
		for (unsigned i = 0; i < size && off + i < 4; i++)
			regs[off + i] = data[i];
		uint16_t clear, en;
		memcpy(&clear, regs, 2);
		memcpy(&en, regs + 2, 2);
		p->sts &= (uint16_t)~clear;
		/* Keep every enable bit: the guest reads PM1_EN back to check that
		 * its global-lock and RTC enables stuck, and complains otherwise. */
		p->en = en;
	}
	pm_update_sci(p);
	pthread_mutex_unlock(&p->lock);
}

static void evt_read(void *o, uint64_t off, uint8_t *d, unsigned n) { pm_read(o, off, d, n, 0); }
static void evt_write(void *o, uint64_t off, const uint8_t *d, unsigned n) { pm_write(o, off, d, n, 0); }
static void cnt_read(void *o, uint64_t off, uint8_t *d, unsigned n) { pm_read(o, off, d, n, 1); }
static void cnt_write(void *o, uint64_t off, const uint8_t *d, unsigned n) { pm_write(o, off, d, n, 1); }
static const struct bus_ops evt_ops = { .read = evt_read, .write = evt_write };
static const struct bus_ops cnt_ops = { .read = cnt_read, .write = cnt_write };

static void pm_power_button(void *opaque)
{
	struct acpi_pm *p = opaque;
	pthread_mutex_lock(&p->lock);
	p->sts |= ACPI_PM1_PWRBTN;
	pm_update_sci(p);
	pthread_mutex_unlock(&p->lock);
}

static int acpi_pm_create(struct vm *vm)
{
	static struct acpi_pm pm;
	pthread_mutex_init(&pm.lock, NULL);
	pm.vm = vm;
	int r = bus_register(vm_pio(vm), X86_PM1A_EVT_PORT, X86_PM1A_EVT_LEN, "acpi-pm1-evt", &evt_ops, &pm);
	if (!r)
		r = bus_register(vm_pio(vm), X86_PM1A_CNT_PORT, X86_PM1A_CNT_LEN, "acpi-pm1-cnt", &cnt_ops, &pm);
	if (r < 0) {
		log_error("acpi: cannot claim the PM1 ports: %s", strerror(-r));
		return r;
	}
	vm->power_button = pm_power_button;
	vm->power_button_opaque = &pm;
	return 0;
}
DEVICE_REGISTER("acpi-pm", acpi_pm_create, 10);
