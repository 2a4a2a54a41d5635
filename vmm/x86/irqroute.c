/* Building the GSI routing table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "x86/irqroute.h"
#include "x86/layout.h"

#define ISA_IRQS 16
#define PIT_GSI 0
#define CASCADE_IRQ 2

static void route(struct kvm_irq_routing_entry *e, unsigned gsi, unsigned chip, unsigned pin)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

int irqroute_build(struct kvm_irq_routing_entry *e, unsigned max, unsigned *n)
{
	unsigned k = 0;

	*n = 0;
	if (max < IRQROUTE_ENTRIES)
		return -E2BIG;
	for (unsigned irq = 0; irq < ISA_IRQS; irq++)
		if (irq != CASCADE_IRQ)
			route(&e[k++], irq, irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
			      irq % 8);
	for (unsigned gsi = 0; gsi < X86_IOAPIC_PINS; gsi++)
		if (gsi != CASCADE_IRQ)
			route(&e[k++], gsi, KVM_IRQCHIP_IOAPIC, gsi == PIT_GSI ? 2 : gsi);
	*n = k;
	return 0;
}

int irqroute_alloc(struct kvm_irq_routing **out)
{
	struct kvm_irq_routing *r =
		calloc(1, sizeof(*r) + IRQROUTE_ENTRIES * sizeof(struct kvm_irq_routing_entry));
	unsigned n;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	if (irqroute_build(r->entries, IRQROUTE_ENTRIES, &n)) {
		free(r);
		return -E2BIG;
	}
	r->nr = n;
	*out = r;
	return 0;
}
