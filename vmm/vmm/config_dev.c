/* Disk and NIC settings: `--disk PATH,key=value,...`, `--net key=value,...`,
 * and the "disks" / "nics" arrays of a JSON config. Both forms go through
 * one key/value setter per kind, so they accept exactly the same things and
 * say the same thing when a value is wrong. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfio/host_pci.h"
#include "vmm/config.h"

static int parse_bool(const char *v, int *out)
{
	if (!*v || !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

static int parse_uint(const char *v, unsigned long max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || !*v || *v == '-' || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (s[3 * i + 2] != ':' && i < 5)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL; /* multicast, broadcast or all-zero: not a station address */
	return 0;
}

/* A printable serial: the guest shows it in /sys/block/vdX/serial and
 * /dev/disk/by-id, so control characters and spaces are refused. */
static int serial_ok(const char *v)
{
	size_t n = strlen(v);
	if (!n || n > VMM_DISK_SERIAL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return 0;
	return 1;
}

int vmm_disk_set(struct vmm_disk *d, unsigned n, const char *key, const char *val, char *err, size_t errlen);
int vmm_disk_set(struct vmm_disk *d, unsigned n, const char *key, const char *val, char *err, size_t errlen)
{
	if (!strcmp(key, "path")) {
		size_t len = strlen(val);
		if (!len || len >= sizeof(d->path)) {
			snprintf(err, errlen, "disk %u: path is empty or too long", n);
			return -EINVAL;
		}
		memcpy(d->path, val, len + 1);
		return 0;
	}
	if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "discard")) {
		int b;
		if (parse_bool(val, &b) < 0) {
			snprintf(err, errlen, "disk %u: %s must be on or off, not '%s'", n, key, val);
			return -EINVAL;
		}
		if (key[0] == 'd')
			d->discard = b;
		else
			d->readonly = b;
		return 0;
	}
	if (!strcmp(key, "serial")) {
		if (!serial_ok(val)) {
			snprintf(err, errlen, "disk %u: serial must be 1 to %d printable characters without spaces", n,
				 VMM_DISK_SERIAL_MAX);
			return -EINVAL;
		}
		snprintf(d->serial, sizeof(d->serial), "%s", val);
		return 0;
	}
	if (!strcmp(key, "block-size")) {
		unsigned bs;
		if (parse_uint(val, 65536, &bs) < 0 || bs < 512 || (bs & (bs - 1))) {
			snprintf(err, errlen, "disk %u: block-size must be a power of two from 512 to 65536, not '%s'", n, val);
			return -EINVAL;
		}
		d->block_size = bs;
		return 0;
	}
	snprintf(err, errlen, "disk %u: unknown setting '%s' (path, readonly, serial, block-size, discard)", n, key);
	return -EINVAL;
}

int vmm_nic_set(struct vmm_nic *nic, unsigned n, const char *key, const char *val, char *err, size_t errlen);
int vmm_nic_set(struct vmm_nic *nic, unsigned n, const char *key, const char *val, char *err, size_t errlen)
{
	if (!strcmp(key, "bridge") || !strcmp(key, "tap")) {
		size_t len = strlen(val);
		/* An interface name: what the kernel's dev_valid_name() takes. */
		if (!len || len >= VMM_IFNAME_MAX || strchr(val, '/') || strchr(val, ':') || strpbrk(val, " \t\n") ||
		    !strcmp(val, ".") || !strcmp(val, "..")) {
			snprintf(err, errlen, "nic %u: %s '%s' is not an interface name (1 to %d characters, no '/', ':' or spaces)",
				 n, key, val, VMM_IFNAME_MAX - 1);
			return -EINVAL;
		}
		memcpy(key[0] == 'b' ? nic->bridge : nic->tap, val, len + 1);
		return 0;
	}
	if (!strcmp(key, "mac")) {
		if (parse_mac(val, nic->mac) < 0) {
			snprintf(err, errlen, "nic %u: mac '%s' is not a unicast address such as 52:54:00:12:34:56", n, val);
			return -EINVAL;
		}
		nic->mac_set = 1;
		return 0;
	}
	if (!strcmp(key, "queues")) {
		if (parse_uint(val, VMM_NIC_MAX_QUEUES, &nic->queues) < 0 || !nic->queues) {
			snprintf(err, errlen, "nic %u: queues must be 1 to %d, not '%s'", n, VMM_NIC_MAX_QUEUES, val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "user")) {
		if (strcmp(val, "on") && strcmp(val, "off")) {
			snprintf(err, errlen, "nic %u: user must be on or off, not '%s'", n, val);
			return -EINVAL;
		}
		nic->user = !strcmp(val, "on");
		return 0;
	}
	char uerr[200];
	int r = usernet_config_set(&nic->unet, key, val, uerr, sizeof(uerr));
	if (r == 0 || r != -ENOENT) {
		if (r < 0)
			snprintf(err, errlen, "nic %u: %s", n, uerr);
		return r;
	}
	snprintf(err, errlen,
		 "nic %u: unknown setting '%s' (bridge, tap, mac, queues; user with net, host, dns, guest, restrict, hostfwd)",
		 n, key);
	return -EINVAL;
}

/* A NIC as a whole: user-mode settings only with user, which takes no tap. */
int vmm_nic_check(const struct vmm_nic *nic, unsigned n, char *err, size_t errlen);
int vmm_nic_check(const struct vmm_nic *nic, unsigned n, char *err, size_t errlen)
{
	struct usernet_config def;
	usernet_config_defaults(&def);
	if (!nic->user) {
		if (memcmp(&def, &nic->unet, sizeof(def))) {
			snprintf(err, errlen, "nic %u: net, host, dns, guest, restrict and hostfwd are for a user NIC (--net user,...)", n);
			return -EINVAL;
		}
		return 0;
	}
	if (nic->bridge[0] || nic->tap[0] || nic->queues != 1) {
		snprintf(err, errlen, "nic %u: a user NIC has no bridge, tap or queues", n);
		return -EINVAL;
	}
	char uerr[200];
	if (usernet_config_check(&nic->unet, uerr, sizeof(uerr)) < 0) {
		snprintf(err, errlen, "nic %u: %s", n, uerr);
		return -EINVAL;
	}
	return 0;
}

void vmm_disk_defaults(struct vmm_disk *d);
void vmm_disk_defaults(struct vmm_disk *d)
{
	memset(d, 0, sizeof(*d));
	d->discard = 1;
	d->block_size = 512;
}

void vmm_nic_defaults(struct vmm_nic *nic);
void vmm_nic_defaults(struct vmm_nic *nic)
{
	memset(nic, 0, sizeof(*nic));
	nic->queues = 1;
	usernet_config_defaults(&nic->unet);
}

/* "a=1,b,c=x" pairs; a bare word is key "" for the first item when first_is
 * names it (the disk's path), else a boolean key set to "on". Commas cannot
 * be escaped: paths with commas go in a JSON config. */
static int spec_each(const char *spec, const char *first_is, char *err, size_t errlen,
		     int (*set)(void *obj, unsigned n, const char *key, const char *val, char *err, size_t errlen),
		     void *obj, unsigned n)
{
	char buf[VMM_PATH_MAX + 256];
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "%s %u: the setting is too long", first_is ? "disk" : "nic", n);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save = NULL;
	int first = 1;
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save), first = 0) {
		char *eq = strchr(item, '=');
		int r;
		if (eq) {
			*eq = '\0';
			r = set(obj, n, item, eq + 1, err, errlen);
		} else if (first && first_is) {
			r = set(obj, n, first_is, item, err, errlen);
		} else {
			r = set(obj, n, item, "on", err, errlen);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int disk_set_any(void *obj, unsigned n, const char *key, const char *val, char *err, size_t errlen)
{
	return vmm_disk_set(obj, n, key, val, err, errlen);
}

static int nic_set_any(void *obj, unsigned n, const char *key, const char *val, char *err, size_t errlen)
{
	return vmm_nic_set(obj, n, key, val, err, errlen);
}

int vmm_config_add_disk(struct vmm_config *c, const char *spec, char *err, size_t errlen)
{
	if (c->ndisks >= VMM_MAX_DISKS) {
		snprintf(err, errlen, "too many disks (at most %d)", VMM_MAX_DISKS);
		return -E2BIG;
	}
	struct vmm_disk *d = &c->disks[c->ndisks];
	vmm_disk_defaults(d);
	int r = spec_each(spec, "path", err, errlen, disk_set_any, d, c->ndisks);
	if (r < 0)
		return r;
	if (!d->path[0]) {
		snprintf(err, errlen, "disk %u: no path (--disk PATH[,readonly][,serial=S][,block-size=N][,discard=off])",
			 c->ndisks);
		return -EINVAL;
	}
	c->ndisks++;
	return 0;
}

int vmm_config_add_nic(struct vmm_config *c, const char *spec, char *err, size_t errlen)
{
	if (c->nnics >= VMM_MAX_NICS) {
		snprintf(err, errlen, "too many nics (at most %d)", VMM_MAX_NICS);
		return -E2BIG;
	}
	struct vmm_nic *nic = &c->nics[c->nnics];
	vmm_nic_defaults(nic);
	int r = spec_each(spec, NULL, err, errlen, nic_set_any, nic, c->nnics);
	if (r < 0)
		return r;
	c->nnics++;
	return 0;
}

/* An mdev instance: its UUID, alone or as its sysfs path. Lower case, as
 * sysfs names it. 0 or -EINVAL. */
static int parse_mdev(const char *in, char out[VMM_BDF_MAX])
{
	static const char prefix[] = "/sys/bus/mdev/devices/";
	if (!strncmp(in, prefix, sizeof(prefix) - 1))
		in += sizeof(prefix) - 1;
	else if (!strncmp(in, "mdev=", 5))
		in += 5;
	size_t n = strlen(in);
	if (n && in[n - 1] == '/')
		n--;
	if (n != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		char ch = in[i];
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? ch != '-' : !isxdigit((unsigned char)ch))
			return -EINVAL;
		out[i] = (char)tolower((unsigned char)ch);
	}
	out[36] = '\0';
	return 0;
}

int vmm_config_add_pci(struct vmm_config *c, const char *spec, char *err, size_t errlen)
{
	char norm[VMM_BDF_MAX], dev[128];
	_Static_assert(HOST_PCI_BDF_LEN <= VMM_BDF_MAX, "a BDF fits the config");
	/* DEVICE[,release=on|off]: off keeps a PCI function's group on
	 * vfio-pci when the VM stops, for a device only VMs use. */
	snprintf(dev, sizeof(dev), "%s", spec);
	int keep = 0;
	char *opt = strchr(dev, ',');
	if (opt) {
		*opt++ = '\0';
		if (!strcmp(opt, "release=off"))
			keep = 1;
		else if (strcmp(opt, "release=on")) {
			snprintf(err, errlen, "device %.40s: unknown setting '%.40s' (release=on|off)", dev, opt);
			return -EINVAL;
		}
	}
	if (host_pci_parse_bdf(dev, norm) < 0 && parse_mdev(dev, norm) < 0) {
		snprintf(err, errlen,
			 "device '%.60s' is neither a PCI address such as 0000:00:03.0 nor an mdev UUID "
			 "(or /sys/bus/mdev/devices/UUID)",
			 dev);
		return -EINVAL;
	}
	if (c->npcidevs >= VMM_MAX_PCI_DEVS) {
		snprintf(err, errlen, "too many devices (at most %d)", VMM_MAX_PCI_DEVS);
		return -E2BIG;
	}
	/* Twice the same function would bind one VFIO group twice. */
	for (unsigned i = 0; i < c->npcidevs; i++)
		if (!strcmp(c->pcidevs[i], norm)) {
			snprintf(err, errlen, "device %s is given twice", norm);
			return -EINVAL;
		}
	c->pcidev_keep[c->npcidevs] = (unsigned char)keep;
	memcpy(c->pcidevs[c->npcidevs++], norm, sizeof(norm));
	return 0;
}
