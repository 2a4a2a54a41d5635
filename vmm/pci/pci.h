/* PCI bus 0: config space (legacy 0xCF8/0xCFC and ECAM), BARs, capabilities
 * and INTx for the emulated and passed-through devices of one VM.
 *
 * The bus owns whole address windows rather than one bus range per BAR: at
 * pci_bus_init() it registers the config ports, the ECAM window, its I/O
 * window and its two MMIO windows (the same windows the DSDT's \_SB.PCI0._CRS
 * offers the guest) on the VM's port and MMIO buses, and dispatches accesses
 * inside the windows to whichever BAR decodes them. So when the guest moves a
 * BAR or toggles decoding, from a vCPU thread while other vCPUs run, nothing
 * on the (lock-free) VM buses changes; only the BAR's published address does.
 *
 * A device embeds struct pci_device, fills it with pci_device_init(),
 * pci_bar_define() and pci_cap_add(), then calls pci_register() while the VM is
 * built (before any vCPU runs). The VMM places every BAR in the windows and
 * programs it, so guests need not reassign anything.
 *
 * Locking: config accesses (guest or device) are serialised by the bus's
 * config lock; the ops->config_read/config_write/bar_map hooks run under it
 * and may use the pci_cfg_* accessors, but must not call pci_config_read/
 * pci_config_write. BAR dispatch takes no PCI lock; the device's bus_ops
 * serialise its own state. pci_intx_set may be called from any thread,
 * including from a BAR handler.
 */
#ifndef KVMBOX_PCI_H
#define KVMBOX_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"

#define PCI_SLOTS 32            /* devices on bus 0; function 0 only */
#define PCI_CFG_SIZE 4096       /* PCIe config space of one function */
#define PCI_CFG_LEGACY_SIZE 256 /* what 0xCF8/0xCFC reaches */
#define PCI_NUM_BARS 6

/* Type 0 header registers (PCI Local Bus 3.0, 6.1) */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09 /* 3 bytes: prog-if, subclass, class */
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CAP_START 0x40 /* first byte the capability allocator hands out */
#define PCI_EXT_CAP_START 0x100

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_STATUS_W1C 0xf900 /* parity, target/master aborts, SERR, parity error */

#define PCI_BAR_IO_FLAG 0x1
#define PCI_BAR_MEM64_FLAG 0x4
#define PCI_BAR_PREFETCH_FLAG 0x8

#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_MSIX 0x11

/* The host bridge at 00:00.0. 0x1b36 is Red Hat's vendor id, which Red Hat
 * opened to emulators for generic, vendor-neutral virtual devices (see QEMU's
 * docs/specs/pci-ids.rst); 0x0008 is its "generic PCIe host bridge" device
 * id, which guests treat as a plain host bridge with no chipset quirks
 * (unlike an Intel id such as 8086:29c0, which makes Linux and Windows apply
 * Q35/ICH9 quirks to hardware we do not emulate). */
#define PCI_HOST_VENDOR 0x1b36
#define PCI_HOST_DEVICE 0x0008
#define PCI_CLASS_HOST_BRIDGE 0x060000

enum pci_bar_type { PCI_BAR_NONE = 0, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

#define PCI_BAR_UNMAPPED UINT64_MAX

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size;        /* a power of two: I/O 4..256, memory 16.. */
	int prefetchable;
	const struct bus_ops *ops; /* accesses the guest makes; may be NULL (reads all ones) */
	void *opaque;
	/* Where the BAR decodes now, or PCI_BAR_UNMAPPED (decode off, or the
	 * guest put it outside the bus's window). Written under the config
	 * lock, read lock-free by dispatch. */
	_Atomic uint64_t mapped;
};

struct pci_device;

struct pci_device_ops {
	/* Before the guest reads [off, off+size): refresh dynamic registers. */
	void (*config_read)(struct pci_device *d, unsigned off, unsigned size);
	/* After the guest's write to [off, off+size) went through the masks
	 * (and after any bar_map calls it caused). */
	void (*config_write)(struct pci_device *d, unsigned off, unsigned size);
	/* A BAR started or stopped decoding, or moved: old/new are addresses or
	 * PCI_BAR_UNMAPPED. Accesses are already routed by the bus; this is for
	 * what the bus cannot do: ioeventfds, KVM memory slots of mmapped BARs. */
	void (*bar_map)(struct pci_device *d, int bar, uint64_t old_addr, uint64_t new_addr);
};

struct pci_device {
	const char *name;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* bits the guest clears by writing 1 */
	struct pci_bar bar[PCI_NUM_BARS];
	const struct pci_device_ops *ops;
	void *opaque;
	/* Set by pci_register() */
	struct pci_bus *bus;
	int slot;
	/* Capability allocation */
	unsigned cap_next, cap_last;         /* next free byte; last cap's offset, 0 if none */
	unsigned ext_cap_next, ext_cap_last; /* the same in extended space */
	/* INTx state: the device's wish, and the COMMAND bit that masks it */
	pthread_mutex_t intx_lock;
	int intx_level, intx_disabled, intx_raised;
};

/* An address window [base, base+size). */
struct pci_window {
	uint64_t base, size;
	uint64_t next; /* the BAR allocator's cursor */
};

/* What a window's bus range points at. */
struct pci_window_ctx {
	struct pci_bus *bus;
	uint64_t base;
	int io;
};

struct pci_bus {
	struct bus *pio, *mmio;
	uint64_t ecam_base;
	struct pci_window io, mem32, mem64;
	struct pci_device *slot[PCI_SLOTS];
	pthread_mutex_t cfg_lock;
	uint32_t cf8; /* CONFIG_ADDRESS, under cfg_lock */
	/* Drives a GSI (the guest's IOAPIC pin); NULL in tests that need none. */
	int (*set_irq)(void *opaque, unsigned gsi, int level);
	void *irq_opaque;
	struct pci_window_ctx win[3]; /* io, mem32, mem64 */
	struct pci_device host;       /* 00:00.0 */
};

struct pci_bus_config {
	uint64_t ecam_base; /* 1 MiB: bus 0 */
	uint64_t io_base, io_size;
	uint64_t mem32_base, mem32_size;
	uint64_t mem64_base, mem64_size;
	int (*set_irq)(void *opaque, unsigned gsi, int level);
	void *irq_opaque;
};

/* The windows of the x86 layout (x86/layout.h), the ones the DSDT's _CRS
 * offers the guest: what every VM uses, and what the tests build. */
struct pci_bus_config pci_bus_config_x86(int (*set_irq)(void *opaque, unsigned gsi, int level), void *irq_opaque);

/* Registers 0xCF8-0xCFF and the windows on pio/mmio and puts the host bridge
 * at slot 0. -errno if a range is taken. */
int pci_bus_init(struct pci_bus *bus, struct bus *pio, struct bus *mmio, const struct pci_bus_config *c);

/* A type 0 header: class is 0xCCSSPP (class, subclass, prog-if). */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision);
void pci_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id);
/* pin 1..4 is INTA..INTD; 0 for none. */
void pci_set_intx_pin(struct pci_device *d, unsigned pin);
/* A 64-bit BAR takes index bar and bar+1. -EINVAL on a bad index, type or size. */
int pci_bar_define(struct pci_device *d, int bar, enum pci_bar_type type, uint64_t size, int prefetchable,
		   const struct bus_ops *ops, void *opaque);
/* A standard capability of len bytes (id and next included), linked at the
 * end of the list; returns its offset, or -ENOSPC. Its bytes are read-only
 * to the guest until the device opens bits with pci_set_wmask(). */
int pci_cap_add(struct pci_device *d, uint8_t id, unsigned len);
/* An extended capability (PCIe, offset >= 0x100); returns its offset or -ENOSPC. */
int pci_ext_cap_add(struct pci_device *d, uint16_t id, uint8_t version, unsigned len);
/* Finds a standard capability the way a guest does (loop-safe); 0 if none. */
unsigned pci_cap_find(const struct pci_device *d, uint8_t id);

/* Places the BARs in the bus's windows, programs them, and puts the device at
 * slot (or the first free slot if slot < 0). Returns the slot or -errno. */
int pci_register(struct pci_bus *bus, struct pci_device *d, int slot);

/* Raw access for the device itself (no masks, no hooks, bounds-checked:
 * out of range reads give 0 and writes are dropped). */
uint8_t pci_cfg_read8(const struct pci_device *d, unsigned off);
uint16_t pci_cfg_read16(const struct pci_device *d, unsigned off);
uint32_t pci_cfg_read32(const struct pci_device *d, unsigned off);
void pci_cfg_write8(struct pci_device *d, unsigned off, uint8_t v);
void pci_cfg_write16(struct pci_device *d, unsigned off, uint16_t v);
void pci_cfg_write32(struct pci_device *d, unsigned off, uint32_t v);
/* Sets the guest-writable bits of [off, off+len) from mask (len <= 8). */
void pci_set_wmask(struct pci_device *d, unsigned off, unsigned len, uint64_t mask);
void pci_set_w1cmask(struct pci_device *d, unsigned off, unsigned len, uint64_t mask);

/* Guest config access to bus/dev/fn at off, as both mechanisms do it: absent
 * functions read all ones and ignore writes. size 1, 2 or 4. */
uint32_t pci_config_read(struct pci_bus *bus, unsigned busno, unsigned dev, unsigned fn, unsigned off,
			 unsigned size);
void pci_config_write(struct pci_bus *bus, unsigned busno, unsigned dev, unsigned fn, unsigned off,
		      unsigned size, uint32_t val);

/* INTx: level 1 asserts. Honours COMMAND.INTX_DISABLE and sets STATUS.INTERRUPT. */
void pci_intx_set(struct pci_device *d, int level);
/* The GSI INTx pin (1..4) of slot arrives on; the DSDT's _PRT says the same. */
unsigned pci_intx_gsi(unsigned slot, unsigned pin);

/* The bus a VM's devices register on (made by the "pci-host" device, which is
 * created before any other device); NULL if none. */
struct vm;
struct pci_bus *vm_pci(struct vm *vm);

#endif
