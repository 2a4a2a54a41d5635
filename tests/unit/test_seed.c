/* The headless seed parser: which VMs it starts, and what it refuses. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "supervisor/seed_parse.h"

static char started[4][64];
static char json[4][256];
static int nstarted;

static int record(const char *name, const char *text, size_t n)
{
	snprintf(started[nstarted], sizeof(started[0]), "%s", name);
	snprintf(json[nstarted], sizeof(json[0]), "%.*s", (int)n, text);
	nstarted++;
	return 0;
}

static int load(const char *text, char *err, size_t errlen)
{
	nstarted = 0;
	return seed_load(text, strlen(text), err, errlen, record);
}

int main(void)
{
	char err[256];
	const char *two = "{\"vms\":[{\"name\":\"a\",\"kernel\":\"/k\"},{\"name\":\"b-2\",\"kernel\":\"/k\",\"cpus\":2}],\"poweroff\":true}";
	CHECK("seed starts each VM", load(two, err, sizeof(err)) == 2 && nstarted == 2 && !strcmp(started[1], "b-2"));
	CHECK("seed passes the VM's own JSON", !strcmp(json[1], "{\"name\":\"b-2\",\"kernel\":\"/k\",\"cpus\":2}"));
	CHECK("seed without vms", load("{\"poweroff\":true}", err, sizeof(err)) < 0 && strstr(err, "\"vms\""));
	CHECK("seed unknown key", load("{\"vms\":[],\"reboot\":1}", err, sizeof(err)) < 0 && strstr(err, "reboot"));
	CHECK("seed bad poweroff", load("{\"vms\":[],\"poweroff\":\"yes\"}", err, sizeof(err)) < 0 && strstr(err, "poweroff"));
	CHECK("seed VM without a name", load("{\"vms\":[{\"kernel\":\"/k\"}]}", err, sizeof(err)) < 0 && strstr(err, "name") && nstarted == 0);
	CHECK("seed name with a slash", load("{\"vms\":[{\"name\":\"../x\"}]}", err, sizeof(err)) < 0 && strstr(err, "letters"));
	CHECK("seed with a bad VM starts none", load("{\"vms\":[{\"name\":\"ok\"},{\"name\":\"b/d\"}]}", err, sizeof(err)) < 0 && nstarted == 0);
	CHECK("seed duplicate names", load("{\"vms\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", err, sizeof(err)) < 0 && strstr(err, "unique"));
	CHECK("seed syntax error has a position", load("{\"vms\":[}", err, sizeof(err)) < 0 && strstr(err, "column"));
	CHECK("seed not an object", load("[]", err, sizeof(err)) < 0);

	static struct seed_opts opts;
	const char *hashed = "{\"vms\":[],\"poweroff\":true,\"admin-hash\":\"pbkdf2-sha256$1000$c2FsdA==$aGFzaA==\"}";
	CHECK("seed admin-hash and poweroff",
	      seed_parse(hashed, strlen(hashed), &opts, err, sizeof(err), NULL, NULL) == 0 && opts.poweroff &&
	      !strcmp(opts.admin_hash, "pbkdf2-sha256$1000$c2FsdA==$aGFzaA=="));
	const char *nohash = "{\"vms\":[]}";
	CHECK("seed without admin-hash leaves it empty",
	      seed_parse(nohash, strlen(nohash), &opts, err, sizeof(err), NULL, NULL) == 0 && !opts.admin_hash[0] &&
	      !opts.poweroff);
	CHECK("seed admin-hash not a string",
	      load("{\"vms\":[],\"admin-hash\":7}", err, sizeof(err)) < 0 && strstr(err, "admin-hash"));
	return CHECK_DONE();
}
