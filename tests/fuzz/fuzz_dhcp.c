/* Raw bytes as a DHCP server's reply (initramfs/net_dhcp.c), and as a kernel
 * command line for the network settings (initramfs/net_cfg.c): both come
 * from outside the appliance. The reply's transaction id and hardware
 * address are taken from the input itself, so most inputs get past the
 * header checks into the options. */
#include <stdlib.h>
#include <string.h>

#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct dhcp_lease l;
	uint32_t xid = len >= 8 ? (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7] : 0;
	uint8_t mac[6] = { 0 };
	if (len >= 34)
		memcpy(mac, data + 28, 6);
	if (dhcp_parse(data, len, xid, mac, &l) == 0 && l.type != DHCP_NAK) {
		uint32_t m = __builtin_bswap32(l.mask);
		if (!l.addr || (~m & (~m + 1)) || l.t1_s > l.lease_s || l.t2_s > l.lease_s)
			abort();
	}
	char cmdline[512];
	size_t n = len < sizeof(cmdline) - 1 ? len : sizeof(cmdline) - 1;
	memcpy(cmdline, data, n);
	cmdline[n] = '\0';
	struct net_config c;
	char err[200];
	if (net_config_parse(cmdline, &c, err, sizeof(err)) == 0 &&
	    (c.prefix < 0 || c.prefix > 32 || strlen(c.bridge) >= NET_IFNAME_MAX || strlen(c.iface) >= NET_IFNAME_MAX))
		abort();
	return 0;
}
