/* Host PCI devices as JSON, for `kvmbox pci --json` and the API. */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "vfio/host_pci.h"

static void w_hex(struct json_writer *w, const char *key, unsigned v, int digits)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%0*x", digits, v);
	json_w_key(w, key);
	json_w_string(w, buf);
}

static void w_str_or_null(struct json_writer *w, const char *key, const char *s)
{
	json_w_key(w, key);
	if (s && s[0])
		json_w_string(w, s);
	else
		json_w_null(w);
}

int host_pci_write_json(struct json_writer *w, const struct host_pci_list *l)
{
	json_w_begin_object(w);
	json_w_key(w, "devices");
	json_w_begin_array(w);
	for (int i = 0; i < l->n; i++) {
		const struct host_pci_dev *d = &l->dev[i];
		json_w_begin_object(w);
		json_w_key(w, "bdf");
		json_w_string(w, d->bdf);
		w_hex(w, "vendor_id", d->vendor, 4);
		w_hex(w, "device_id", d->device, 4);
		w_hex(w, "subsystem_vendor_id", d->subsys_vendor, 4);
		w_hex(w, "subsystem_device_id", d->subsys_device, 4);
		w_hex(w, "class", d->class_code, 6);
		w_str_or_null(w, "vendor", d->vendor_name);
		w_str_or_null(w, "device", d->device_name);
		json_w_key(w, "class_name");
		json_w_string(w, d->class_name);
		json_w_key(w, "bridge");
		json_w_bool(w, d->bridge);
		json_w_key(w, "iommu_group");
		if (d->iommu_group >= 0)
			json_w_int(w, d->iommu_group);
		else
			json_w_null(w);
		json_w_key(w, "group_members");
		json_w_begin_array(w);
		for (int j = 0; d->iommu_group >= 0 && j < l->n; j++)
			if (j != i && l->dev[j].iommu_group == d->iommu_group)
				json_w_string(w, l->dev[j].bdf);
		json_w_end(w);
		w_str_or_null(w, "driver", d->driver);
		w_str_or_null(w, "driver_override", d->driver_override);
		json_w_key(w, "reset_methods");
		json_w_begin_array(w);
		for (const char *p = d->reset_method; *p;) {
			size_t n = strcspn(p, " ");
			if (n)
				json_w_string_n(w, p, n);
			p += n;
			p += strspn(p, " ");
		}
		json_w_end(w);
		w_str_or_null(w, "needed_by_appliance", d->needed);
		json_w_end(w);
	}
	json_w_end(w);
	json_w_key(w, "mdev_types");
	json_w_begin_array(w);
	for (int i = 0; i < l->nmdev; i++) {
		const struct host_pci_mdev_type *m = &l->mdev[i];
		json_w_begin_object(w);
		json_w_key(w, "parent");
		json_w_string(w, m->parent);
		json_w_key(w, "type");
		json_w_string(w, m->type);
		w_str_or_null(w, "name", m->name);
		w_str_or_null(w, "device_api", m->device_api);
		w_str_or_null(w, "description", m->description);
		json_w_key(w, "available_instances");
		if (m->available_instances >= 0)
			json_w_int(w, m->available_instances);
		else
			json_w_null(w);
		json_w_end(w);
	}
	json_w_end(w);
	json_w_end(w);
	return w->err;
}

