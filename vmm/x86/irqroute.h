/* The KVM GSI routing that matches the MADT and MP table.
 *
 * Both tables say the PIT's ISA IRQ0 arrives on IOAPIC pin 2 (GSI 2), as on
 * real PCs. KVM's default routing sends GSI 0 (what the in-kernel PIT
 * raises) to IOAPIC pin 0 instead, so the VMM must install this table with
 * KVM_SET_GSI_ROUTING right after KVM_CREATE_IRQCHIP, or early timer
 * interrupts land on a pin the guest never unmasked. Everything else is
 * identity: ISA IRQ n on PIC pin n and IOAPIC pin n, PCI GSIs 16-23 on the
 * IOAPIC only; the PIC cascade (IRQ2) has no route of its own.
 */
#ifndef KVMBOX_X86_IRQROUTE_H
#define KVMBOX_X86_IRQROUTE_H

#include <linux/kvm.h>

#define IRQROUTE_ENTRIES 38 /* 15 PIC + 23 IOAPIC routes */

/* Fill e[0..max) with the routes; *n gets the count. -E2BIG if max is short. */
int irqroute_build(struct kvm_irq_routing_entry *e, unsigned max, unsigned *n);

/* The same, as a heap-allocated struct kvm_irq_routing ready for
 * KVM_SET_GSI_ROUTING (free() it after the ioctl). This avoids wrapping the
 * flexible-array struct in another struct, which clang -Werror rejects
 * (-Wgnu-variable-sized-type-not-at-end). -ENOMEM on allocation failure. */
int irqroute_alloc(struct kvm_irq_routing **out);

#endif
