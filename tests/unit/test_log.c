/* The logger: line format, truncation, the ring buffer and its line boundary. */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

int main(void)
{
	char buf[256];
	size_t n = log_format(buf, sizeof(buf), 12.5, LOG_WARN, "kvmbox", "disk full");
	CHECK("format", !strcmp(buf, "[   12.500] kvmbox: warning: disk full\n") && n == strlen(buf));

	log_format(buf, sizeof(buf), 2.583, LOG_INFO, NULL, "kvmbox ready version=1");
	CHECK("format without a tag", !strcmp(buf, "[    2.583] kvmbox ready version=1\n"));

	n = log_format(buf, sizeof(buf), 1, LOG_INFO, "t", "two\nlines");
	CHECK("newline inside a message cannot forge a line", strchr(buf, '\n') == buf + n - 1);

	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char small[64];
	n = log_format(small, sizeof(small), 1, LOG_INFO, "t", big);
	CHECK("truncated line ends with ... and newline",
	      n == sizeof(small) - 1 && !memcmp(small + n - 4, "...\n", 4) && small[n] == '\0');

	/* Fill the ring past its size; a read starts at a whole line. */
	log_set_level(LOG_DEBUG);
	int devnull[2];
	if (pipe(devnull) == 0)
		close(devnull[0]);
	for (int i = 0; i < 3000; i++)
		log_msg(LOG_INFO, "line %04d of the ring test", i);
	static char ring[LOG_RING_SIZE + 1];
	size_t got = log_ring_read(ring, sizeof(ring));
	CHECK("ring holds at most its size", got <= LOG_RING_SIZE);
	CHECK("ring starts at a line", ring[0] == '[');
	CHECK("ring ends with the newest line", got > 40 && strstr(ring + got - 40, "line 2999 of the ring test\n"));

	char tiny[100];
	got = log_ring_read(tiny, sizeof(tiny));
	CHECK("small ring read is whole lines", got > 0 && tiny[0] == '[' && tiny[got - 1] == '\n');

	log_set_level(LOG_WARN);
	char before[LOG_RING_SIZE + 1];
	log_ring_read(before, sizeof(before));
	log_msg(LOG_INFO, "hidden");
	got = log_ring_read(ring, sizeof(ring));
	CHECK("level filter", !strstr(ring, "hidden"));
	return CHECK_DONE();
}
