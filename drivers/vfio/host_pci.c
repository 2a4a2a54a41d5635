/* Host PCI devices: discovery and binding to vfio-pci. See host_pci.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vfio/host_pci.h"

/* --- small sysfs helpers ------------------------------------------------ */

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Copy with truncation (snprintf "%s" would warn about it). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static const char *root_of(const struct host_pci_sys *sys)
{
	return sys && sys->root ? sys->root : "";
}

/* root + the formatted path; 0 or -ENAMETOOLONG. */
static int path_fmt(const struct host_pci_sys *sys, char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int path_fmt(const struct host_pci_sys *sys, char *buf, size_t size, const char *fmt, ...)
{
	int n = snprintf(buf, size, "%s", root_of(sys));
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)m >= size - (size_t)n ? -ENAMETOOLONG : 0;
}

/* The file's first line, without the newline. Returns its length or -errno. */
static int read_line(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return (int)strlen(buf);
}

static int read_hex(const char *path, uint32_t *out)
{
	char buf[32], *end;
	int r = read_line(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	errno = 0;
	unsigned long v = strtoul(buf, &end, 16);
	if (errno || end == buf || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* The last component of a symlink's target ("" when there is no link). */
static int link_base(const char *path, char *buf, size_t size)
{
	char target[PATH_MAX];
	buf[0] = '\0';
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	copy_str(buf, size, base ? base + 1 : target);
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(s);
	ssize_t n = write(fd, s, len);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	return (size_t)n == len ? 0 : -EIO;
}

static bool is_bdf(const char *s, size_t len)
{
	static const char pattern[] = "xxxx:xx:xx.x";
	if (len != sizeof(pattern) - 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (pattern[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != pattern[i])
			return false;
	return s[11] >= '0' && s[11] <= '7';
}

int host_pci_parse_bdf(const char *in, char out[HOST_PCI_BDF_LEN])
{
	char buf[HOST_PCI_BDF_LEN];
	size_t len = in ? strlen(in) : 0;
	if (len == 7)
		snprintf(buf, sizeof(buf), "0000:%s", in);
	else if (len == 12)
		snprintf(buf, sizeof(buf), "%s", in);
	else
		return -EINVAL;
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!is_bdf(buf, strlen(buf)))
		return -EINVAL;
	memcpy(out, buf, sizeof(buf));
	return 0;
}

/* The PCI function nearest to the end of a resolved sysfs path: the device a
 * block device or network interface sits on. */
static bool pci_of_path(const char *path, char bdf[HOST_PCI_BDF_LEN])
{
	bool found = false;
	for (const char *p = path; *p;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (is_bdf(p, len)) {
			memcpy(bdf, p, len);
			bdf[len] = '\0';
			found = true;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	return found;
}

/* --- scan --------------------------------------------------------------- */

static int by_bdf(const void *a, const void *b)
{
	return strcmp(((const struct host_pci_dev *)a)->bdf, ((const struct host_pci_dev *)b)->bdf);
}

static struct host_pci_dev *find_mut(const struct host_pci_list *l, const char *bdf)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->dev[i].bdf, bdf))
			return &l->dev[i];
	return NULL;
}

const struct host_pci_dev *host_pci_find(const struct host_pci_list *l, const char *bdf)
{
	char want[HOST_PCI_BDF_LEN];
	if (host_pci_parse_bdf(bdf, want) < 0)
		return NULL;
	return find_mut(l, want);
}

static void mark_needed(struct host_pci_list *l, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void mark_needed(struct host_pci_list *l, const char *path, const char *fmt, ...)
{
	char real[PATH_MAX], bdf[HOST_PCI_BDF_LEN];
	if (!realpath(path, real) || !pci_of_path(real, bdf))
		return;
	struct host_pci_dev *d = find_mut(l, bdf);
	if (!d || d->needed[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->needed, sizeof(d->needed), fmt, ap);
	va_end(ap);
}

/* Every mounted block device (/dev/NAME in /proc/mounts) marks its PCI
 * device: the disk holding /data, the boot disk. */
static void mark_mounts(const struct host_pci_sys *sys, struct host_pci_list *l)
{
	char path[PATH_MAX], line[1024];
	if (path_fmt(sys, path, sizeof(path), "/proc/mounts") < 0)
		return;
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char src[256], dir[256];
		if (sscanf(line, "%255s %255s", src, dir) != 2 || strncmp(src, "/dev/", 5) || strchr(src + 5, '/'))
			continue;
		if (path_fmt(sys, path, sizeof(path), "/sys/class/block/%s", src + 5) == 0)
			mark_needed(l, path, "disk %s is mounted on %s", src + 5, dir);
	}
	fclose(f);
}

/* An interface with the appliance's address marks its PCI device; a bridge,
 * bond or VLAN marks the devices under it. */
static void mark_iface(const struct host_pci_sys *sys, struct host_pci_list *l, const char *name, const char *top,
		       int depth)
{
	char path[PATH_MAX];
	if (depth > 4 || strchr(name, '/') || path_fmt(sys, path, sizeof(path), "/sys/class/net/%s/device", name) < 0)
		return;
	if (!strcmp(name, top))
		mark_needed(l, path, "network interface %s has the appliance's address", name);
	else
		mark_needed(l, path, "network interface %s carries %s, which has the appliance's address", name, top);
	const char *const subs[] = { "brif", NULL };
	for (int s = 0; subs[s]; s++) {
		if (path_fmt(sys, path, sizeof(path), "/sys/class/net/%s/%s", name, subs[s]) < 0)
			continue;
		DIR *d = opendir(path);
		for (struct dirent *e; d && (e = readdir(d));)
			if (e->d_name[0] != '.')
				mark_iface(sys, l, e->d_name, top, depth + 1);
		if (d)
			closedir(d);
	}
	/* lower_NAME links: VLANs, bonds, macvlans. */
	if (path_fmt(sys, path, sizeof(path), "/sys/class/net/%s", name) < 0)
		return;
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (!strncmp(e->d_name, "lower_", 6) && e->d_name[6])
			mark_iface(sys, l, e->d_name + 6, top, depth + 1);
	if (d)
		closedir(d);
}

static void mark_ifaces(const struct host_pci_sys *sys, struct host_pci_list *l)
{
	if (sys && sys->addr_ifaces) {
		for (int i = 0; sys->addr_ifaces[i]; i++)
			mark_iface(sys, l, sys->addr_ifaces[i], sys->addr_ifaces[i], 0);
		return;
	}
	struct ifaddrs *ifa;
	if (getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)i->ifa_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr))
				continue; /* every interface that is up has one */
		} else if (i->ifa_addr->sa_family != AF_INET) {
			continue;
		}
		mark_iface(sys, l, i->ifa_name, i->ifa_name, 0);
	}
	freeifaddrs(ifa);
}

static int scan_one(const struct host_pci_sys *sys, const char *bdf, struct host_pci_dev *d)
{
	char path[PATH_MAX], buf[64];
	uint32_t v;
	memset(d, 0, sizeof(*d));
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
#define DEVPATH(file) path_fmt(sys, path, sizeof(path), "/sys/bus/pci/devices/%s/" file, bdf)
	if (DEVPATH("vendor") < 0 || read_hex(path, &v) < 0)
		return -EIO;
	d->vendor = (uint16_t)v;
	if (DEVPATH("device") == 0 && read_hex(path, &v) == 0)
		d->device = (uint16_t)v;
	if (DEVPATH("subsystem_vendor") == 0 && read_hex(path, &v) == 0)
		d->subsys_vendor = (uint16_t)v;
	if (DEVPATH("subsystem_device") == 0 && read_hex(path, &v) == 0)
		d->subsys_device = (uint16_t)v;
	if (DEVPATH("class") == 0 && read_hex(path, &v) == 0)
		d->class_code = v & 0xffffff;
	d->vendor_name = host_pci_vendor_name(d->vendor);
	d->device_name = host_pci_device_name(d->vendor, d->device);
	d->class_name = host_pci_class_name(d->class_code);
	uint32_t sub = d->class_code >> 8;
	d->bridge = sub == 0x0600 || sub == 0x0604 || sub == 0x0609;
	d->iommu_group = -1;
	if (DEVPATH("iommu_group") == 0 && link_base(path, buf, sizeof(buf)) == 0 && buf[0]) {
		char *end;
		long g = strtol(buf, &end, 10);
		if (!*end && g >= 0 && g <= INT_MAX)
			d->iommu_group = (int)g;
	}
	if (DEVPATH("driver") == 0)
		link_base(path, d->driver, sizeof(d->driver));
	if (DEVPATH("driver_override") == 0 && read_line(path, d->driver_override, sizeof(d->driver_override)) >= 0 &&
	    !strcmp(d->driver_override, "(null)"))
		d->driver_override[0] = '\0';
	if (DEVPATH("reset_method") == 0)
		read_line(path, d->reset_method, sizeof(d->reset_method));
#undef DEVPATH
	return 0;
}

static void scan_mdev(const struct host_pci_sys *sys, struct host_pci_list *l)
{
	char path[PATH_MAX];
	if (path_fmt(sys, path, sizeof(path), "/sys/class/mdev_bus") < 0)
		return;
	DIR *bus = opendir(path);
	if (!bus)
		return;
	int cap = 0;
	for (struct dirent *p; (p = readdir(bus));) {
		if (p->d_name[0] == '.' ||
		    path_fmt(sys, path, sizeof(path), "/sys/class/mdev_bus/%s/mdev_supported_types", p->d_name) < 0)
			continue;
		DIR *types = opendir(path);
		for (struct dirent *t; types && (t = readdir(types));) {
			if (t->d_name[0] == '.')
				continue;
			if (l->nmdev == cap) {
				int ncap = cap ? cap * 2 : 8;
				void *m = realloc(l->mdev, (size_t)ncap * sizeof(*l->mdev));
				if (!m)
					break;
				l->mdev = m;
				cap = ncap;
			}
			struct host_pci_mdev_type *m = &l->mdev[l->nmdev++];
			memset(m, 0, sizeof(*m));
			copy_str(m->parent, sizeof(m->parent), p->d_name);
			copy_str(m->type, sizeof(m->type), t->d_name);
			char buf[32];
			const char *base = "/sys/class/mdev_bus/%s/mdev_supported_types/%s/%s";
#define TYPEPATH(file) path_fmt(sys, path, sizeof(path), base, p->d_name, t->d_name, file)
			if (TYPEPATH("name") == 0)
				read_line(path, m->name, sizeof(m->name));
			if (TYPEPATH("device_api") == 0)
				read_line(path, m->device_api, sizeof(m->device_api));
			if (TYPEPATH("description") == 0)
				read_line(path, m->description, sizeof(m->description));
			m->available_instances = -1;
			if (TYPEPATH("available_instances") == 0 && read_line(path, buf, sizeof(buf)) > 0)
				m->available_instances = atoi(buf);
#undef TYPEPATH
		}
		if (types)
			closedir(types);
	}
	closedir(bus);
}

static int by_type(const void *a, const void *b)
{
	const struct host_pci_mdev_type *x = a, *y = b;
	int c = strcmp(x->parent, y->parent);
	return c ? c : strcmp(x->type, y->type);
}

void host_pci_free(struct host_pci_list *l)
{
	free(l->dev);
	free(l->mdev);
	memset(l, 0, sizeof(*l));
}

int host_pci_scan(const struct host_pci_sys *sys, struct host_pci_list *l, char *err, size_t errlen)
{
	char path[PATH_MAX];
	memset(l, 0, sizeof(*l));
	if (path_fmt(sys, path, sizeof(path), "/sys/bus/pci/devices") < 0) {
		errf(err, errlen, "sysfs root too long");
		return -ENAMETOOLONG;
	}
	DIR *dir = opendir(path);
	if (!dir) {
		int e = errno;
		errf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	int cap = 0;
	for (struct dirent *e; (e = readdir(dir));) {
		if (!is_bdf(e->d_name, strlen(e->d_name)))
			continue;
		if (l->n == cap) {
			int ncap = cap ? cap * 2 : 32;
			void *p = realloc(l->dev, (size_t)ncap * sizeof(*l->dev));
			if (!p) {
				closedir(dir);
				host_pci_free(l);
				errf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			l->dev = p;
			cap = ncap;
		}
		if (scan_one(sys, e->d_name, &l->dev[l->n]) == 0)
			l->n++;
	}
	closedir(dir);
	if (l->n)
		qsort(l->dev, (size_t)l->n, sizeof(*l->dev), by_bdf);
	mark_mounts(sys, l);
	mark_ifaces(sys, l);
	scan_mdev(sys, l);
	if (l->nmdev)
		qsort(l->mdev, (size_t)l->nmdev, sizeof(*l->mdev), by_type);
	return 0;
}

/* --- binding ------------------------------------------------------------ */

static bool driver_allowed(const char *driver)
{
	return !driver[0] || !strcmp(driver, "vfio-pci") || !strcmp(driver, "pci-stub");
}

static const char *describe(const struct host_pci_dev *d, char *buf, size_t size)
{
	if (d->device_name)
		snprintf(buf, size, "%s%s%s", d->vendor_name ? d->vendor_name : "", d->vendor_name ? " " : "",
			 d->device_name);
	else
		snprintf(buf, size, "%s %04x:%04x", d->class_name, d->vendor, d->device);
	return buf;
}

int host_pci_check_bind(const struct host_pci_list *l, const char *bdf, char *err, size_t errlen)
{
	char what[160];
	const struct host_pci_dev *d = host_pci_find(l, bdf);
	if (!d) {
		errf(err, errlen, "no PCI device %s", bdf);
		return -ENODEV;
	}
	if (d->bridge) {
		errf(err, errlen, "%s is a %s: bridges are not passed through", d->bdf, d->class_name);
		return -EINVAL;
	}
	if (d->needed[0]) {
		errf(err, errlen, "%s is needed by the appliance: %s", d->bdf, d->needed);
		return -EBUSY;
	}
	if (d->iommu_group < 0) {
		errf(err, errlen, "%s has no IOMMU group (no IOMMU: boot with intel_iommu=on / amd_iommu=on)", d->bdf);
		return -ENXIO;
	}
	int endpoints = 0;
	for (int i = 0; i < l->n; i++) {
		const struct host_pci_dev *m = &l->dev[i];
		if (m->iommu_group != d->iommu_group || m == d)
			continue;
		if (m->needed[0]) {
			errf(err, errlen, "IOMMU group %d is not viable: %s [%s] is in it and is needed by the appliance: %s",
			     d->iommu_group, m->bdf, describe(m, what, sizeof(what)), m->needed);
			return -EBUSY;
		}
		if (!m->bridge && !driver_allowed(m->driver)) {
			errf(err, errlen,
			     "IOMMU group %d is not viable: %s [%s] is in it and is bound to %s; "
			     "bind it with 'kvmbox pci bind %s' (the whole group goes to vfio-pci), or unbind it from %s",
			     d->iommu_group, m->bdf, describe(m, what, sizeof(what)), m->driver, m->bdf, m->driver);
			return -EPERM;
		}
		endpoints += !m->bridge;
	}
	if (endpoints + 1 > HOST_PCI_MAX_GROUP) {
		errf(err, errlen, "IOMMU group %d has more than %d devices", d->iommu_group, HOST_PCI_MAX_GROUP);
		return -E2BIG;
	}
	return 0;
}

static void current_driver(const struct host_pci_sys *sys, const char *bdf, char *buf, size_t size)
{
	char path[PATH_MAX];
	buf[0] = '\0';
	if (path_fmt(sys, path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf) == 0)
		link_base(path, buf, size);
}

static int dev_write(const struct host_pci_sys *sys, const char *bdf, const char *file, const char *value)
{
	char path[PATH_MAX];
	int r = path_fmt(sys, path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, file);
	return r < 0 ? r : write_str(path, value);
}

static int probe(const struct host_pci_sys *sys, const char *bdf)
{
	char path[PATH_MAX];
	int r = path_fmt(sys, path, sizeof(path), "/sys/bus/pci/drivers_probe");
	return r < 0 ? r : write_str(path, bdf);
}

/* Put one device back as saved: its driver_override, then its driver. */
static int restore_one(const struct host_pci_sys *sys, const struct host_pci_saved *s, char *err, size_t errlen)
{
	char path[PATH_MAX], now[64];
	int r = dev_write(sys, s->bdf, "driver_override", s->driver_override[0] ? s->driver_override : "\n");
	if (r < 0) {
		errf(err, errlen, "%s: driver_override: %s", s->bdf, strerror(-r));
		return r;
	}
	current_driver(sys, s->bdf, now, sizeof(now));
	if (!strcmp(now, s->driver))
		return 0;
	if (now[0] && (r = dev_write(sys, s->bdf, "driver/unbind", s->bdf)) < 0) {
		errf(err, errlen, "%s: unbinding from %s: %s", s->bdf, now, strerror(-r));
		return r;
	}
	if (!s->driver[0])
		return 0;
	r = path_fmt(sys, path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", s->driver);
	if (r == 0)
		r = write_str(path, s->bdf);
	if (r < 0)
		probe(sys, s->bdf);
	current_driver(sys, s->bdf, now, sizeof(now));
	if (strcmp(now, s->driver)) {
		errf(err, errlen, "%s: could not give it back to %s (now: %s)", s->bdf, s->driver, now[0] ? now : "no driver");
		return -EIO;
	}
	return 0;
}

int host_pci_bind_vfio(const struct host_pci_sys *sys, const char *bdf, struct host_pci_binding *saved, char *err,
		       size_t errlen)
{
	struct host_pci_list l;
	struct host_pci_binding local;
	struct host_pci_binding *b = saved ? saved : &local;
	int r = host_pci_scan(sys, &l, err, errlen);
	if (r < 0)
		return r;
	r = host_pci_check_bind(&l, bdf, err, errlen);
	if (r < 0) {
		host_pci_free(&l);
		return r;
	}
	const struct host_pci_dev *d = host_pci_find(&l, bdf);
	memset(b, 0, sizeof(*b));
	b->group = d->iommu_group;
	for (int i = 0; i < l.n && b->n < HOST_PCI_MAX_GROUP; i++) {
		const struct host_pci_dev *m = &l.dev[i];
		if (m->iommu_group != d->iommu_group || m->bridge)
			continue;
		struct host_pci_saved *s = &b->dev[b->n++];
		snprintf(s->bdf, sizeof(s->bdf), "%s", m->bdf);
		snprintf(s->driver, sizeof(s->driver), "%s", m->driver);
		snprintf(s->driver_override, sizeof(s->driver_override), "%s", m->driver_override);
	}
	host_pci_free(&l);

	int done = 0;
	for (; done < b->n; done++) {
		const struct host_pci_saved *s = &b->dev[done];
		char now[64];
		if (!strcmp(s->driver, "vfio-pci") && !strcmp(s->driver_override, "vfio-pci"))
			continue;
		r = dev_write(sys, s->bdf, "driver_override", "vfio-pci");
		if (r < 0) {
			errf(err, errlen, "%s: writing driver_override: %s", s->bdf, strerror(-r));
			break;
		}
		if (!strcmp(s->driver, "vfio-pci"))
			continue;
		if (s->driver[0] && (r = dev_write(sys, s->bdf, "driver/unbind", s->bdf)) < 0) {
			errf(err, errlen, "%s: unbinding from %s: %s", s->bdf, s->driver, strerror(-r));
			break;
		}
		int pr = probe(sys, s->bdf);
		current_driver(sys, s->bdf, now, sizeof(now));
		if (strcmp(now, "vfio-pci")) {
			errf(err, errlen, "%s did not bind to vfio-pci (driver now: %s%s%s)", s->bdf,
			     now[0] ? now : "none", pr < 0 ? "; drivers_probe: " : "", pr < 0 ? strerror(-pr) : "");
			r = pr < 0 ? pr : -EIO;
			break;
		}
	}
	if (done == b->n)
		return 0;
	/* Put back everything touched, the failed one included. */
	for (int i = done; i >= 0; i--) {
		char more[256];
		if (restore_one(sys, &b->dev[i], more, sizeof(more)) < 0 && err) {
			size_t len = strlen(err);
			snprintf(err + len, errlen - len, "; and putting it back failed: %s", more);
		}
	}
	return r;
}

int host_pci_restore(const struct host_pci_sys *sys, const char *bdf, const struct host_pci_binding *saved, char *err,
		     size_t errlen)
{
	int r, ret = 0;
	if (saved) {
		for (int i = saved->n - 1; i >= 0; i--)
			if ((r = restore_one(sys, &saved->dev[i], err, errlen)) < 0 && !ret)
				ret = r;
		return ret;
	}
	struct host_pci_list l;
	if ((r = host_pci_scan(sys, &l, err, errlen)) < 0)
		return r;
	const struct host_pci_dev *d = host_pci_find(&l, bdf);
	if (!d) {
		errf(err, errlen, "no PCI device %s", bdf);
		host_pci_free(&l);
		return -ENODEV;
	}
	if (d->iommu_group >= 0) {
		char path[PATH_MAX];
		int fd = -1;
		if (path_fmt(sys, path, sizeof(path), "/dev/vfio/%d", d->iommu_group) == 0)
			fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno == EBUSY) {
			errf(err, errlen, "IOMMU group %d is in use (a VM holds /dev/vfio/%d)", d->iommu_group, d->iommu_group);
			host_pci_free(&l);
			return -EBUSY;
		}
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; i < l.n; i++) {
		const struct host_pci_dev *m = &l.dev[i];
		if (m != d && (d->iommu_group < 0 || m->iommu_group != d->iommu_group || m->bridge))
			continue;
		if (strcmp(m->driver, "vfio-pci") && strcmp(m->driver_override, "vfio-pci"))
			continue;
		if ((r = dev_write(sys, m->bdf, "driver_override", "\n")) < 0) {
			errf(err, errlen, "%s: clearing driver_override: %s", m->bdf, strerror(-r));
			ret = ret ? ret : r;
			continue;
		}
		if (m->driver[0] && (r = dev_write(sys, m->bdf, "driver/unbind", m->bdf)) < 0) {
			errf(err, errlen, "%s: unbinding from %s: %s", m->bdf, m->driver, strerror(-r));
			ret = ret ? ret : r;
			continue;
		}
		probe(sys, m->bdf); /* fails when no driver wants it: that is fine */
	}
	host_pci_free(&l);
	return ret;
}
