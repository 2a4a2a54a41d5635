/* `--net user,...` and its JSON form: what the VMM accepts for a user-mode
 * NIC, the defaults, and the errors for bad values. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "usernet/usernet_config.h"
#include "vmm/config.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static int net(struct vmm_config *c, char *err, size_t n, const char *spec)
{
	char *argv[] = { "vmm", "--kernel", "/k", "--net", (char *)spec };
	vmm_config_defaults(c);
	int r = vmm_config_from_args(c, 5, argv, err, n);
	return r < 0 ? r : vmm_config_check(c, err, n);
}

static int json(struct vmm_config *c, char *err, size_t n, const char *text)
{
	vmm_config_defaults(c);
	int r = vmm_config_from_json(c, text, strlen(text), err, n);
	return r < 0 ? r : vmm_config_check(c, err, n);
}

static void test_defaults(void)
{
	struct vmm_config c;
	char err[256];
	CHECK("user plain", net(&c, err, sizeof(err), "user") == 0 && c.nnics == 1 && c.nics[0].user);
	const struct usernet_config *u = &c.nics[0].unet;
	CHECK("user defaults are qemu's", u->net == IP4(10, 0, 2, 0) && u->mask == 0xffffff00 &&
						  u->host == IP4(10, 0, 2, 2) && u->dns == IP4(10, 0, 2, 3) &&
						  u->guest == IP4(10, 0, 2, 15) && !u->restricted && !u->nfwd);
	CHECK("user with mac", net(&c, err, sizeof(err), "user,mac=52:54:00:00:00:01") == 0 && c.nics[0].mac_set);
}

static void test_settings(void)
{
	struct vmm_config c;
	char err[256];
	const struct usernet_config *u = &c.nics[0].unet;
	CHECK("user net moves the addresses", net(&c, err, sizeof(err), "user,net=192.168.76.0/24") == 0 &&
						      u->host == IP4(192, 168, 76, 2) && u->dns == IP4(192, 168, 76, 3) &&
						      u->guest == IP4(192, 168, 76, 15));
	CHECK("user explicit addresses stay", net(&c, err, sizeof(err), "user,guest=10.9.0.100,net=10.9.0.0/16,host=10.9.0.1") == 0 &&
						      u->host == IP4(10, 9, 0, 1) && u->dns == IP4(10, 9, 0, 3) &&
						      u->guest == IP4(10, 9, 0, 100) && u->mask == 0xffff0000);
	CHECK("user restrict", net(&c, err, sizeof(err), "user,restrict=on") == 0 && u->restricted);
	CHECK("user hostfwd", net(&c, err, sizeof(err), "user,hostfwd=tcp:2222:22,hostfwd=udp:5353:53") == 0 &&
				      u->nfwd == 2 && u->fwd[0].proto == IPPROTO_TCP && u->fwd[0].host_port == 2222 &&
				      u->fwd[0].guest_port == 22 && u->fwd[1].proto == IPPROTO_UDP &&
				      u->fwd[1].host_port == 5353 && u->fwd[1].guest_port == 53);
}

static void test_errors(void)
{
	struct vmm_config c;
	char err[256];
	CHECK("user bad net", net(&c, err, sizeof(err), "user,net=10.0.2/24") == -EINVAL && strstr(err, "net '10.0.2/24'"));
	CHECK("user net host bits", net(&c, err, sizeof(err), "user,net=10.0.2.1/24") == -EINVAL && strstr(err, "host bits"));
	CHECK("user net prefix", net(&c, err, sizeof(err), "user,net=10.0.0.0/30") == -EINVAL && strstr(err, "/8 to /27"));
	CHECK("user bad address", net(&c, err, sizeof(err), "user,dns=10.0.2.300") == -EINVAL && strstr(err, "dns '10.0.2.300'"));
	CHECK("user address outside net", net(&c, err, sizeof(err), "user,guest=10.0.3.15") == -EINVAL &&
						  strstr(err, "guest 10.0.3.15 is not a host address"));
	CHECK("user broadcast address", net(&c, err, sizeof(err), "user,host=10.0.2.255") == -EINVAL);
	CHECK("user same addresses", net(&c, err, sizeof(err), "user,dns=10.0.2.2") == -EINVAL && strstr(err, "different"));
	CHECK("user bad restrict", net(&c, err, sizeof(err), "user,restrict=maybe") == -EINVAL && strstr(err, "on or off"));
	CHECK("user hostfwd no proto", net(&c, err, sizeof(err), "user,hostfwd=2222:22") == -EINVAL && strstr(err, "tcp: or udp:"));
	CHECK("user hostfwd bad port", net(&c, err, sizeof(err), "user,hostfwd=tcp:70000:22") == -EINVAL &&
					       strstr(err, "PROTO:HOSTPORT:GUESTPORT"));
	CHECK("user hostfwd port zero", net(&c, err, sizeof(err), "user,hostfwd=tcp:0:22") == -EINVAL);
	CHECK("user hostfwd twice", net(&c, err, sizeof(err), "user,hostfwd=tcp:2222:22,hostfwd=tcp:2222:23") == -EINVAL &&
					    strstr(err, "twice"));
	CHECK("user hostfwd same port other proto", net(&c, err, sizeof(err), "user,hostfwd=tcp:53:53,hostfwd=udp:53:53") == 0);
	CHECK("user hostfwd too many",
	      net(&c, err, sizeof(err),
		  "user,hostfwd=tcp:1:1,hostfwd=tcp:2:1,hostfwd=tcp:3:1,hostfwd=tcp:4:1,hostfwd=tcp:5:1,hostfwd=tcp:6:1,"
		  "hostfwd=tcp:7:1,hostfwd=tcp:8:1,hostfwd=tcp:9:1") == -E2BIG && strstr(err, "too many hostfwd"));
	CHECK("user with bridge", net(&c, err, sizeof(err), "user,bridge=br0") == -EINVAL && strstr(err, "no bridge"));
	CHECK("user with queues", net(&c, err, sizeof(err), "user,queues=2") == -EINVAL);
	CHECK("user settings without user", net(&c, err, sizeof(err), "bridge=br0,restrict=on") == -EINVAL &&
						    strstr(err, "are for a user NIC"));
	CHECK("user bad value", net(&c, err, sizeof(err), "user=maybe") == -EINVAL);
	CHECK("user unknown setting lists user's", net(&c, err, sizeof(err), "user,dhcp=off") == -EINVAL &&
							   strstr(err, "unknown setting 'dhcp'") && strstr(err, "hostfwd"));
	char *two[] = { "vmm", "--kernel", "/k", "--net", "user", "--net", "user" };
	vmm_config_defaults(&c);
	int r = vmm_config_from_args(&c, 7, two, err, sizeof(err));
	CHECK("user only one per vm", (r < 0 ? r : vmm_config_check(&c, err, sizeof(err))) == -EINVAL &&
					      strstr(err, "only one user NIC"));
}

static void test_json(void)
{
	struct vmm_config c;
	char err[256];
	const struct usernet_config *u = &c.nics[0].unet;
	const char *j = "{\"kernel\": \"/k\", \"nics\": [{\"user\": true, \"net\": \"10.1.0.0/24\", \"restrict\": true, "
			"\"hostfwd\": [\"tcp:8080:80\", \"udp:5353:53\"]}]}";
	CHECK("user json", json(&c, err, sizeof(err), j) == 0 && c.nnics == 1 && c.nics[0].user && u->restricted &&
				   u->guest == IP4(10, 1, 0, 15) && u->nfwd == 2 && u->fwd[0].host_port == 8080 &&
				   u->fwd[1].proto == IPPROTO_UDP);
	const char *js = "{\"kernel\": \"/k\", \"nics\": [\"user,hostfwd=tcp:2222:22\"]}";
	CHECK("user json string", json(&c, err, sizeof(err), js) == 0 && c.nics[0].user && u->nfwd == 1);
	const char *jb = "{\"kernel\": \"/k\", \"nics\": [{\"user\": true, \"hostfwd\": [22]}]}";
	CHECK("user json hostfwd not strings", json(&c, err, sizeof(err), jb) == -EINVAL && strstr(err, "hostfwd[0]"));
	const char *jf = "{\"kernel\": \"/k\", \"nics\": [{\"user\": true, \"hostfwd\": \"tcp:1:99999\"}]}";
	CHECK("user json bad hostfwd", json(&c, err, sizeof(err), jf) == -EINVAL && strstr(err, "nics") == NULL &&
					       strstr(err, "nic 0: hostfwd"));
}

int main(void)
{
	test_defaults();
	test_settings();
	test_errors();
	test_json();
	return CHECK_DONE();
}
