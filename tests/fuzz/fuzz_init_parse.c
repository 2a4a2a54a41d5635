/* libFuzzer target: PID 1's parsers of outside input. The first byte picks
 * the parser; the rest is a kernel command line, a superblock or uevent text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0];
	data++;
	size--;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char val[64];
	switch (which % 3) {
	case 0:
		cmdline_get(text, "kvmbox.data", val, sizeof(val));
		cmdline_get(text, "console", val, 4);
		break;
	case 1:
		ext4_label(data, size, val, sizeof(val));
		ext4_label(data, size, val, 3);
		break;
	default:
		uevent_get(text, "DEVNAME", val, sizeof(val));
		uevent_get(text, "PARTNAME", val, 2);
		break;
	}
	free(text);
	return 0;
}
