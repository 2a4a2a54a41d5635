/* GET /api/host/pci: the host's PCI functions, IOMMU groups and mdev types,
 * the same view as `kvmbox pci --json` (drivers/vfio/host_pci*.c), read
 * fresh from sysfs on each request: a device may have moved to vfio-pci
 * since. */
#include "api/api.h"
#include "json.h"
#include "vfio/host_pci.h"

/* A large server has a few hundred functions, each a few hundred bytes. */
#define PCI_JSON_MAX (1u << 20)

void api_get_pci(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		 void *ctx)
{
	(void)req;
	(void)params;
	(void)ctx;
	struct host_pci_list l;
	char err[256];
	if (host_pci_scan(NULL, &l, err, sizeof(err)) < 0) {
		http_resp_error(resp, 500, "reading the host's PCI devices: %s", err);
		return;
	}
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, PCI_JSON_MAX)) {
		host_pci_free(&l);
		http_resp_error(resp, 503, "the server is out of memory");
		return;
	}
	host_pci_write_json(&w, &l);
	host_pci_free(&l);
	http_resp_json_end(resp, &w, 200);
}
