/* Names for host PCI devices: a small table of the vendors, devices and
 * classes an operator is likely to meet (the appliance has no pci.ids), so
 * that `kvmbox pci` and the API say "Intel 82574L" rather than 8086:10d3. */
#include <stddef.h>
#include <stdint.h>

#include "vfio/host_pci.h"

static const struct {
	uint16_t id;
	const char *name;
} vendors[] = {
	{ 0x1002, "AMD (ATI graphics)" },
	{ 0x1022, "AMD" },
	{ 0x102b, "Matrox" },
	{ 0x1077, "QLogic" },
	{ 0x10de, "NVIDIA" },
	{ 0x10ec, "Realtek" },
	{ 0x1137, "Cisco" },
	{ 0x1234, "QEMU" },
	{ 0x144d, "Samsung" },
	{ 0x14e4, "Broadcom" },
	{ 0x15ad, "VMware" },
	{ 0x15b3, "Mellanox (NVIDIA networking)" },
	{ 0x1b36, "Red Hat (QEMU)" },
	{ 0x1c5c, "SK hynix" },
	{ 0x1d0f, "Amazon" },
	{ 0x1af4, "Red Hat (virtio)" },
	{ 0x8086, "Intel" },
};

static const struct {
	uint16_t vendor, device;
	const char *name;
} devices[] = {
	{ 0x1234, 0x1111, "standard VGA" },
	{ 0x1234, 0x11e8, "edu test device" },
	{ 0x1af4, 0x1000, "virtio network (legacy)" },
	{ 0x1af4, 0x1001, "virtio block (legacy)" },
	{ 0x1af4, 0x1041, "virtio network" },
	{ 0x1af4, 0x1042, "virtio block" },
	{ 0x1af4, 0x1043, "virtio console" },
	{ 0x1af4, 0x1044, "virtio entropy source" },
	{ 0x1af4, 0x1045, "virtio memory balloon" },
	{ 0x1af4, 0x1048, "virtio SCSI" },
	{ 0x1af4, 0x1050, "virtio GPU" },
	{ 0x1af4, 0x1053, "virtio vsock" },
	{ 0x1af4, 0x105a, "virtio filesystem" },
	{ 0x1b36, 0x0001, "PCI-PCI bridge" },
	{ 0x1b36, 0x000c, "PCIe root port" },
	{ 0x1b36, 0x000d, "xHCI USB controller" },
	{ 0x1b36, 0x0010, "NVMe controller" },
	{ 0x8086, 0x100e, "82540EM gigabit NIC (e1000)" },
	{ 0x8086, 0x10d3, "82574L gigabit NIC (e1000e)" },
	{ 0x8086, 0x10c9, "82576 gigabit NIC (igb)" },
	{ 0x8086, 0x1521, "I350 gigabit NIC" },
	{ 0x8086, 0x1572, "X710 10GbE NIC" },
	{ 0x8086, 0x10fb, "82599 10GbE NIC" },
	{ 0x8086, 0x1592, "E810 100GbE NIC" },
	{ 0x8086, 0x2918, "ICH9 LPC interface" },
	{ 0x8086, 0x2922, "ICH9 SATA controller (AHCI)" },
	{ 0x8086, 0x2930, "ICH9 SMBus controller" },
	{ 0x8086, 0x29c0, "Q35 host bridge" },
	{ 0x8086, 0x7000, "PIIX3 ISA bridge" },
	{ 0x8086, 0x7010, "PIIX3 IDE controller" },
	{ 0x8086, 0x7113, "PIIX4 ACPI" },
	{ 0x8086, 0x1237, "440FX host bridge" },
	{ 0x15b3, 0x1017, "ConnectX-5" },
	{ 0x15b3, 0x101b, "ConnectX-6" },
	{ 0x15b3, 0x101d, "ConnectX-6 Dx" },
	{ 0x15b3, 0x1021, "ConnectX-7" },
	{ 0x14e4, 0x16d7, "BCM57414 25GbE NIC" },
	{ 0x144d, 0xa808, "NVMe SSD (970 EVO/PM981 family)" },
	{ 0x144d, 0xa80a, "NVMe SSD (980 PRO/PM9A1 family)" },
	{ 0x10de, 0x2330, "H100 SXM5" },
	{ 0x10de, 0x2331, "H100 PCIe" },
	{ 0x10de, 0x20b0, "A100 SXM4" },
};

static const struct {
	uint32_t code;  /* base and sub class, or base, sub and prog-if when wide */
	bool wide;
	const char *name;
} classes[] = {
	{ 0x010802, true, "NVMe controller" },
	{ 0x0c0330, true, "USB controller (xHCI)" },
	{ 0x0000, false, "Non-VGA unclassified device" },
	{ 0x0001, false, "VGA-compatible unclassified device" },
	{ 0x0100, false, "SCSI storage controller" },
	{ 0x0101, false, "IDE interface" },
	{ 0x0104, false, "RAID bus controller" },
	{ 0x0106, false, "SATA controller" },
	{ 0x0107, false, "Serial Attached SCSI controller" },
	{ 0x0108, false, "Non-volatile memory controller" },
	{ 0x0180, false, "Mass storage controller" },
	{ 0x0200, false, "Ethernet controller" },
	{ 0x0207, false, "InfiniBand controller" },
	{ 0x0280, false, "Network controller" },
	{ 0x0300, false, "VGA controller" },
	{ 0x0302, false, "3D controller" },
	{ 0x0380, false, "Display controller" },
	{ 0x0401, false, "Audio device" },
	{ 0x0403, false, "Audio device" },
	{ 0x0500, false, "RAM memory" },
	{ 0x0600, false, "Host bridge" },
	{ 0x0601, false, "ISA bridge" },
	{ 0x0604, false, "PCI bridge" },
	{ 0x0609, false, "PCI bridge (semi-transparent)" },
	{ 0x0680, false, "Bridge" },
	{ 0x0700, false, "Serial controller" },
	{ 0x0880, false, "System peripheral" },
	{ 0x0c03, false, "USB controller" },
	{ 0x0c05, false, "SMBus controller" },
	{ 0x1200, false, "Processing accelerator" },
};

static const char *const base_classes[] = {
	"Unclassified device", "Mass storage controller", "Network controller", "Display controller",
	"Multimedia controller", "Memory controller", "Bridge", "Communication controller",
	"Generic system peripheral", "Input device controller", "Docking station", "Processor",
	"Serial bus controller", "Wireless controller", "Intelligent controller",
	"Satellite communications controller", "Encryption controller", "Signal processing controller",
	"Processing accelerator", "Non-essential instrumentation",
};

const char *host_pci_vendor_name(uint16_t vendor)
{
	for (size_t i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++)
		if (vendors[i].id == vendor)
			return vendors[i].name;
	return NULL;
}

const char *host_pci_device_name(uint16_t vendor, uint16_t device)
{
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
		if (devices[i].vendor == vendor && devices[i].device == device)
			return devices[i].name;
	return NULL;
}

const char *host_pci_class_name(uint32_t class_code)
{
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i].wide ? classes[i].code == class_code : classes[i].code == class_code >> 8)
			return classes[i].name;
	uint32_t base = class_code >> 16;
	if (base < sizeof(base_classes) / sizeof(base_classes[0]))
		return base_classes[base];
	return base == 0xff ? "Unassigned class" : "Unknown class";
}

