/* Device models register themselves with DEVICE_REGISTER(); the VM calls each
 * registered type's create() while it is built, and the type decides from the
 * VM's configuration whether (and how many times) to attach. Adding a device
 * never means editing a central list. */
#ifndef KVMBOX_DEVICE_H
#define KVMBOX_DEVICE_H

struct vm;

struct device_type {
	const char *name;
	/* Returns 0 (attached, or not wanted by this VM) or -errno after logging why. */
	int (*create)(struct vm *vm);
	int order; /* lower first: interrupt controllers before the devices that use them */
};

#define DEVICE_REGISTER(dname, fn, ord)                                                   \
	static const struct device_type device_type_##fn                                  \
		__attribute__((used, section("kvmbox_devices"), aligned(sizeof(void *)))) = { \
			.name = dname, .create = fn, .order = ord }

int devices_create(struct vm *vm);

#endif
