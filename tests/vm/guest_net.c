/* Guest side of the virtio-net test (tests/vm/net_test.c), run by the test
 * guest's /init with kvmbox.exec=/bin/guest_net. No ip tool in the guest:
 * eth0 is configured with ioctls. Settings from the command line:
 *   kvmbox.net.ip=A.B.C.D     eth0's address (/24)
 *   kvmbox.net.peer=A.B.C.D   the appliance, which listens on port 5000
 *   kvmbox.net.bytes=N        bytes each way
 *   kvmbox.net.pairs=N        ask for N queue pairs first (ethtool -L combined N)
 *   kvmbox.net.idle=S         afterwards take eth0 down (its receive buffers
 *                             stay posted, none are added) and sleep S seconds
 * It prints (one line each):
 *   GUEST-NET: mac=<eth0's address>
 *   GUEST-NET: features=<the negotiated virtio feature bits, bit 0 first>
 *   GUEST-NET: rx-1=yes|no           (with kvmbox.net.pairs)
 *   GUEST-NET: sent N
 *   GUEST-NET: received N ok | received N bad at OFFSET | error WHAT
 *   GUEST-NET: idle                  (with kvmbox.net.idle)
 * and exits 0 when all went well. The byte patterns match net_test.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GUEST_SAY_PREFIX "GUEST-NET: "
#include "stream_pattern.h"
#include "guest_util.h"

#define PORT 5000
#define SEED_UP 0x75706c64u   /* guest to appliance */
#define SEED_DOWN 0x646f776eu /* appliance to guest */

static char cmdline[4096];

static const char *param(const char *key, char *out, size_t size)
{
	return boot_param(cmdline, key, out, size);
}


static int ifreq_ioctl(int s, unsigned long req, struct ifreq *ifr, const char *what)
{
	if (ioctl(s, req, ifr) < 0) {
		say("error %s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

static int set_addr(int s, const char *ifname, unsigned long req, const char *ip, const char *what)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
	return ifreq_ioctl(s, req, &ifr, what);
}

static int link_up(int s, const char *ifname)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ifreq_ioctl(s, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS") < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(s, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS");
}

static int set_channels(int s, unsigned n)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_SCHANNELS, .combined_count = n };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
	ifr.ifr_data = (void *)&ch;
	return ifreq_ioctl(s, SIOCETHTOOL, &ifr, "ETHTOOL_SCHANNELS");
}

static int connect_retry(const char *peer)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	inet_pton(AF_INET, peer, &a.sin_addr);
	for (int i = 0; i < 120; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		sleep(1);
	}
	say("error connect %s:%d: %s", peer, PORT, strerror(errno));
	return -1;
}

static int transfer(int fd, size_t bytes)
{
	size_t at, bad;
	if (stream_send(fd, bytes, SEED_UP, &at) < 0) {
		say("error send at %zu: %s", at, strerror(errno));
		return -1;
	}
	say("sent %zu", bytes);
	int r = stream_receive(fd, bytes, SEED_DOWN, &at, &bad);
	if (r == -1) {
		say("error receive at %zu: %s", at, errno ? strerror(errno) : "closed");
		return -1;
	}
	if (r == -2) {
		say("received %zu bad at %zu", bytes, bad);
		return -1;
	}
	say("received %zu ok", bytes);
	return 0;
}

int main(void)
{
	char ip[32], peer[32], num[32], mac[64] = "";
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	mkdir("/sys", 0555);
	read_file("/sys/class/net/eth0/address", mac, sizeof(mac));
	mac[strcspn(mac, "\n")] = '\0';
	say("mac=%s", mac[0] ? mac : "none");
	if (!mac[0])
		return 1;
	char features[80] = "";
	read_file("/sys/class/net/eth0/device/features", features, sizeof(features));
	features[strcspn(features, "\n")] = '\0';
	say("features=%s", features);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return 1;
	if (param("kvmbox.net.pairs=", num, sizeof(num))) {
		set_channels(s, (unsigned)atoi(num));
		struct stat st;
		say("rx-1=%s", stat("/sys/class/net/eth0/queues/rx-1", &st) == 0 ? "yes" : "no");
	}
	if (!param("kvmbox.net.ip=", ip, sizeof(ip)) || !param("kvmbox.net.peer=", peer, sizeof(peer))) {
		say("error no kvmbox.net.ip= or kvmbox.net.peer=");
		return 1;
	}
	size_t bytes = param("kvmbox.net.bytes=", num, sizeof(num)) ? (size_t)atol(num) : 1 << 20;
	if (link_up(s, "lo") < 0 || set_addr(s, "eth0", SIOCSIFADDR, ip, "SIOCSIFADDR") < 0 ||
	    set_addr(s, "eth0", SIOCSIFNETMASK, "255.255.255.0", "SIOCSIFNETMASK") < 0 || link_up(s, "eth0") < 0)
		return 1;
	close(s);
	int c = connect_retry(peer);
	if (c < 0)
		return 1;
	int r = transfer(c, bytes);
	close(c);
	if (param("kvmbox.net.idle=", num, sizeof(num))) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
		if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0 || ifreq_ioctl(s, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS") < 0)
			return 1;
		ifr.ifr_flags &= ~IFF_UP;
		if (ifreq_ioctl(s, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS") < 0)
			return 1;
		say("idle");
		sleep((unsigned)atoi(num));
	}
	return r < 0 ? 1 : 0;
}
