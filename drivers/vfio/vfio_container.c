/* The VFIO container of this VMM and the IOMMU groups in it.
 *
 * One container per VM: every group joins it, so guest RAM is DMA-mapped
 * once (type1 mappings belong to the container, not the group), and two
 * devices of one group share the group's fd (VFIO lets a group be opened
 * once). Groups are counted: the last device of a group closes it, the
 * last group closes the container.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "vfio/vfio_dev.h"
#include "vm.h"
#include "x86/guest_mem.h"

struct vfio_group {
	int number, fd, refs;
	struct vfio_group *next;
};

static int container = -1;
static int container_groups;
static struct vfio_group *groups;

static int container_open(const char *name)
{
	if ((container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0) {
		int e = errno;
		log_error("%s: /dev/vfio/vfio: %s%s", name, strerror(e),
			  e == ENOENT ? " (is the vfio module loaded?)" : "");
		return -e;
	}
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		log_error("%s: unknown VFIO API version", name);
		close(container);
		container = -1;
		return -EINVAL;
	}
	return 0;
}

static int container_set_iommu(struct vfio_pci *v)
{
	unsigned long type = ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
			   : ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0   ? VFIO_TYPE1_IOMMU
											  : 0;
	if (!type) {
		log_error("%s: the kernel's VFIO has no type1 IOMMU", v->name);
		return -ENOTSUP;
	}
	if (ioctl(container, VFIO_SET_IOMMU, type) < 0) {
		int e = errno;
		/* type1 refuses a group when the IOMMU cannot remap
		 * interrupts (a device could forge MSIs to the host), unless
		 * vfio_iommu_type1.allow_unsafe_interrupts=1. */
		log_error("%s: VFIO_SET_IOMMU: %s%s", v->name, strerror(e),
			  e == EPERM ? " (no interrupt remapping: the IOMMU must offer it, e.g. intel-iommu with "
				       "intremap=on; vfio_iommu_type1.allow_unsafe_interrupts=1 overrides this at "
				       "the cost of isolation)"
				     : "");
		return -e;
	}
	/* All guest RAM at its guest-physical addresses: the guest's
	 * physical addresses are then the device's DMA addresses. */
	const struct guest_mem *gm = vm_mem(v->vm);
	for (unsigned i = 0; i < gm->nregions; i++) {
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uint64_t)(uintptr_t)gm->region[i].hva,
			.iova = gm->region[i].gpa,
			.size = gm->region[i].size,
		};
		if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0) {
			int e = errno;
			log_error("%s: DMA-mapping guest RAM %#llx+%#llx: %s%s", v->name, (unsigned long long)map.iova,
				  (unsigned long long)map.size, strerror(e), e == ENOMEM ? " (locked-memory limit?)" : "");
			return -e;
		}
	}
	return 0;
}

int vfio_group_get(struct vfio_pci *v, int number, struct vfio_group **out)
{
	for (struct vfio_group *g = groups; g; g = g->next)
		if (g->number == number) {
			g->refs++;
			*out = g;
			return 0;
		}
	struct vfio_group *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->number = number;
	g->refs = 1;
	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/%d", number);
	if ((g->fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		int e = errno;
		log_error("%s: %s: %s%s", v->name, path, strerror(e),
			  e == EBUSY ? " (the device is in use by another VM: its IOMMU group is already open)" : "");
		free(g);
		return -e;
	}
	int r = 0;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &st) < 0 || !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		log_error("%s: IOMMU group %d is not viable: a member is on a driver other than vfio-pci", v->name,
			  number);
		r = -EPERM;
	}
	int first = container < 0;
	if (!r && first)
		r = container_open(v->name);
	if (!r && ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &container) < 0) {
		r = -errno;
		log_error("%s: VFIO_GROUP_SET_CONTAINER: %s", v->name, strerror(-r));
	}
	/* The IOMMU type is set once, with the first group in. */
	if (!r && first && (r = container_set_iommu(v)) < 0)
		ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	if (r < 0) {
		close(g->fd);
		free(g);
		if (first && container >= 0 && !container_groups) {
			close(container);
			container = -1;
		}
		return r;
	}
	container_groups++;
	g->next = groups;
	groups = g;
	*out = g;
	return 0;
}

int vfio_group_fd(const struct vfio_group *g)
{
	return g->fd;
}

void vfio_group_put(struct vfio_group *g)
{
	if (!g || --g->refs > 0)
		return;
	for (struct vfio_group **p = &groups; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	close(g->fd);
	free(g);
	if (--container_groups == 0 && container >= 0) {
		close(container);
		container = -1;
	}
}
