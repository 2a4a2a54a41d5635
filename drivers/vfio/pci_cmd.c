/* `kvmbox pci`: the host's PCI devices, and binding them to vfio-pci.
 *
 *   kvmbox pci              a table: address, ids, class, IOMMU group, driver,
 *                           reset methods, name; then the groups and the mdev types
 *   kvmbox pci --json       the same as one JSON object
 *   kvmbox pci bind BDF     BDF and the rest of its IOMMU group to vfio-pci
 *   kvmbox pci unbind BDF   them back to their normal drivers
 *   kvmbox pci mdev-create PARENT TYPE [UUID]
 *                           an mdev instance; prints its UUID
 *   kvmbox pci mdev-remove UUID
 *
 * A refusal (a device the appliance needs, no IOMMU, a group that is not
 * viable) is printed and exits 1; a usage error exits 2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "vfio/host_pci.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kvmbox pci [--json]\n"
		   "       kvmbox pci bind BDF      bind BDF and its IOMMU group to vfio-pci\n"
		   "       kvmbox pci unbind BDF    give them back to their normal drivers\n"
		   "       kvmbox pci mdev-create PARENT TYPE [UUID]   make an mdev instance, print its UUID\n"
		   "       kvmbox pci mdev-remove UUID                 remove one\n");
}

static int print_json(const struct host_pci_list *l)
{
	for (size_t size = 64 * 1024; size <= 64u << 20; size *= 2) {
		char *buf = malloc(size);
		if (!buf)
			break;
		struct json_writer w;
		json_w_init(&w, buf, size);
		host_pci_write_json(&w, l);
		int r = json_w_finish(&w);
		if (r == 0) {
			printf("%s\n", buf);
			free(buf);
			return 0;
		}
		free(buf);
		if (r != -ENOSPC) {
			fprintf(stderr, "kvmbox pci: JSON: %s\n", strerror(-r));
			return 1;
		}
	}
	fprintf(stderr, "kvmbox pci: out of memory\n");
	return 1;
}

static void print_table(const struct host_pci_list *l)
{
	printf("%-12s  %-9s  %-30s  %5s  %-10s  %-12s  %s\n", "BDF", "IDS", "CLASS", "GROUP", "DRIVER", "RESET", "NAME");
	for (int i = 0; i < l->n; i++) {
		const struct host_pci_dev *d = &l->dev[i];
		char ids[16], group[12], name[160];
		snprintf(ids, sizeof(ids), "%04x:%04x", d->vendor, d->device);
		if (d->iommu_group >= 0)
			snprintf(group, sizeof(group), "%d", d->iommu_group);
		else
			snprintf(group, sizeof(group), "-");
		snprintf(name, sizeof(name), "%s%s%s", d->vendor_name ? d->vendor_name : "unknown vendor",
			 d->device_name ? " " : "", d->device_name ? d->device_name : "");
		printf("%-12s  %-9s  %-30s  %5s  %-10s  %-12s  %s%s\n", d->bdf, ids, d->class_name, group,
		       d->driver[0] ? d->driver : "-", d->reset_method[0] ? d->reset_method : "-", name,
		       d->needed[0] ? "  [needed by the appliance]" : "");
	}
	bool any = false;
	for (int i = 0; i < l->n; i++)
		if (l->dev[i].needed[0]) {
			if (!any)
				printf("\nNeeded by the appliance (never bound to vfio-pci):\n");
			any = true;
			printf("  %s  %s\n", l->dev[i].bdf, l->dev[i].needed);
		}
	printf("\nIOMMU groups:\n");
	any = false;
	for (int i = 0; i < l->n; i++) {
		int g = l->dev[i].iommu_group;
		bool first = true;
		for (int j = 0; j < i && first; j++)
			first = l->dev[j].iommu_group != g;
		if (g < 0 || !first)
			continue;
		any = true;
		printf("  group %d:", g);
		for (int j = i; j < l->n; j++)
			if (l->dev[j].iommu_group == g)
				printf(" %s%s", l->dev[j].bdf, l->dev[j].bridge ? " (bridge)" : "");
		printf("\n");
	}
	if (!any)
		printf("  none: no IOMMU is on (boot with intel_iommu=on / amd_iommu=on)\n");
	printf("\nMediated device types:\n");
	if (!l->nmdev)
		printf("  none\n");
	for (int i = 0; i < l->nmdev; i++) {
		const struct host_pci_mdev_type *m = &l->mdev[i];
		printf("  %s/%s  %s  %s  available %d%s%s\n", m->parent, m->type, m->name[0] ? m->name : "-",
		       m->device_api[0] ? m->device_api : "-", m->available_instances, m->description[0] ? "  " : "",
		       m->description);
	}
}

/* After bind or unbind: where each member of the group is now. */
static void print_group(const char *bdf)
{
	struct host_pci_list l;
	char err[256];
	if (host_pci_scan(NULL, &l, err, sizeof(err)) < 0)
		return;
	const struct host_pci_dev *d = host_pci_find(&l, bdf);
	for (int i = 0; d && i < l.n; i++) {
		const struct host_pci_dev *m = &l.dev[i];
		if (m == d || (d->iommu_group >= 0 && m->iommu_group == d->iommu_group))
			printf("%s: %s (group %d)\n", m->bdf, m->driver[0] ? m->driver : "no driver", m->iommu_group);
	}
	host_pci_free(&l);
}

static int pci_main(int argc, char **argv)
{
	char err[512];
	if (argc == 1 || (argc == 2 && !strcmp(argv[1], "--json"))) {
		struct host_pci_list l;
		if (host_pci_scan(NULL, &l, err, sizeof(err)) < 0) {
			fprintf(stderr, "kvmbox pci: %s\n", err);
			return 1;
		}
		int r = 0;
		if (argc == 2)
			r = print_json(&l);
		else
			print_table(&l);
		host_pci_free(&l);
		return r;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "mdev-create")) {
		char uuid[HOST_MDEV_UUID_LEN] = "";
		if (argc == 5)
			snprintf(uuid, sizeof(uuid), "%.36s", argv[4]);
		if (argc == 5 && strlen(argv[4]) != 36) {
			fprintf(stderr, "kvmbox pci mdev-create: '%s' is not a UUID\n", argv[4]);
			return 2;
		}
		if (host_mdev_create(NULL, argv[2], argv[3], uuid, err, sizeof(err)) < 0) {
			fprintf(stderr, "kvmbox pci mdev-create: %s\n", err);
			return 1;
		}
		printf("%s\n", uuid);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "mdev-remove")) {
		if (host_mdev_remove(NULL, argv[2], err, sizeof(err)) < 0) {
			fprintf(stderr, "kvmbox pci mdev-remove: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (argc != 3 || (strcmp(argv[1], "bind") && strcmp(argv[1], "unbind"))) {
		usage(stderr);
		return 2;
	}
	char bdf[HOST_PCI_BDF_LEN];
	if (host_pci_parse_bdf(argv[2], bdf) < 0) {
		fprintf(stderr, "kvmbox pci: '%s' is not a PCI address (0000:00:03.0 or 00:03.0)\n", argv[2]);
		return 2;
	}
	int r = !strcmp(argv[1], "bind") ? host_pci_bind_vfio(NULL, bdf, NULL, err, sizeof(err))
					 : host_pci_restore(NULL, bdf, NULL, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "kvmbox pci %s: %s\n", argv[1], err);
		return 1;
	}
	print_group(bdf);
	return 0;
}

KVMBOX_COMMAND("pci", pci_main, "list host PCI devices; bind/unbind them to vfio-pci");
