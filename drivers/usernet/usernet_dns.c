/* usernet: where the guest's DNS queries (cfg.dns port 53) go: the
 * appliance's first IPv4 nameserver in /etc/resolv.conf, read once when the
 * backend starts. Relayed as a UDP (or TCP) flow like any other, so the
 * answer comes back from cfg.dns. */
#include <stdio.h>
#include <string.h>

#include "usernet/usernet_int.h"

uint32_t un_dns_resolver(const char *path)
{
	FILE *fp = fopen(path, "re");
	char line[256];
	uint32_t found = 0;
	if (!fp)
		return 0;
	while (!found && fgets(line, sizeof(line), fp)) {
		unsigned a, b, c, d;
		char tail;
		if (sscanf(line, " nameserver %u.%u.%u.%u%c", &a, &b, &c, &d, &tail) >= 4 && a < 256 && b < 256 &&
		    c < 256 && d < 256)
			found = a << 24 | b << 16 | c << 8 | d;
	}
	fclose(fp);
	return found;
}
