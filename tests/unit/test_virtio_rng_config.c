/* The "rng" setting that turns the virtio-rng device off: on by default,
 * off with "rng": false or --no-rng, and only booleans accepted. */
#include <string.h>

#include "check.h"
#include "vmm/config.h"

static int from_json(struct vmm_config *c, const char *text)
{
	char err[256];
	vmm_config_defaults(c);
	return vmm_config_from_json(c, text, strlen(text), err, sizeof(err));
}

int main(void)
{
	struct vmm_config c;
	char err[256];
	vmm_config_defaults(&c);
	CHECK("rng on by default", c.rng == 1);
	CHECK("\"rng\": false", from_json(&c, "{\"rng\": false}") == 0 && c.rng == 0);
	CHECK("\"rng\": true", from_json(&c, "{\"rng\": true}") == 0 && c.rng == 1);
	CHECK("\"rng\": \"no\" refused", from_json(&c, "{\"rng\": \"no\"}") < 0);
	CHECK("\"rng\": 0 refused", from_json(&c, "{\"rng\": 0}") < 0);
	char *argv[] = { "vmm", "--no-rng", NULL };
	vmm_config_defaults(&c);
	CHECK("--no-rng", vmm_config_from_args(&c, 2, argv, err, sizeof(err)) == 0 && c.rng == 0);
	return CHECK_DONE();
}
