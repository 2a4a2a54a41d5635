/* The tap backend; see tap.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/tap.h"

#define TUN_PATH "/dev/net/tun"

/* Most ioctls on interfaces need a socket, any family. */
static int ifr_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int r = ioctl(s, req, ifr) < 0 ? -errno : 0;
	close(s);
	return r;
}

/* Before a tap is made, so a typo in the bridge name leaves nothing behind. */
static int bridge_check(const char *bridge, char *err, size_t errlen)
{
	char path[64];
	struct stat st;
	if (!if_nametoindex(bridge)) {
		snprintf(err, errlen, "bridge '%s' does not exist", bridge);
		return -ENODEV;
	}
	/* Only when sysfs is there to ask; otherwise SIOCBRADDIF says so. */
	snprintf(path, sizeof(path), "/sys/class/net/%s", bridge);
	if (stat(path, &st) == 0) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", bridge);
		if (stat(path, &st) < 0) {
			snprintf(err, errlen, "'%s' is not a bridge", bridge);
			return -EINVAL;
		}
	}
	return 0;
}

static int tun_open_queue(struct tap *t, const char *name, unsigned queues, char *err, size_t errlen)
{
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			snprintf(err, errlen, "no %s: the kernel has no TUN/TAP support (CONFIG_TUN)", TUN_PATH);
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen, "%s: permission denied (taps need root or CAP_NET_ADMIN)", TUN_PATH);
		else
			snprintf(err, errlen, "%s: %s", TUN_PATH, strerror(e));
		return -e;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int hdr = TAP_VNET_HDR_LEN;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		if (e == EPERM || e == EACCES)
			snprintf(err, errlen, "creating tap '%s': permission denied (needs root or CAP_NET_ADMIN)", name);
		else if (e == EBUSY)
			snprintf(err, errlen, "tap '%s' is in use by another process", name);
		else if (e == EINVAL && queues > 1)
			snprintf(err, errlen, "tap '%s': %s (an existing interface of that name without multiqueue?)",
				 name, strerror(e));
		else
			snprintf(err, errlen, "creating tap '%s': %s", name, strerror(e));
		close(fd);
		return -e;
	}
	/* VERSION_1 makes the header 12 bytes (with num_buffers) whatever the
	 * features; the tap's default is the 10-byte legacy one. */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;
		snprintf(err, errlen, "tap '%s': TUNSETVNETHDRSZ: %s", ifr.ifr_name, strerror(e));
		close(fd);
		return -e;
	}
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
	t->fds[t->nfds++] = fd;
	return 0;
}

/* Which offloads the tap takes: all of them, else checksums only, else none. */
static unsigned probe_offloads(int fd)
{
	static const unsigned tries[] = { TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM | TUN_F_TSO4, TUN_F_CSUM };
	unsigned got = 0;
	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
			got = tries[i];
			break;
		}
	}
	/* Off until the guest says what it takes: a frame read before then must
	 * be one any driver can receive. */
	ioctl(fd, TUNSETOFFLOAD, 0UL);
	return got;
}

static int link_up(const char *ifname, char *err, size_t errlen)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int r = ifr_ioctl(SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ifr_ioctl(SIOCSIFFLAGS, &ifr);
	}
	if (r < 0)
		snprintf(err, errlen, "bringing tap '%s' up: %s", ifname, strerror(-r));
	return r;
}

static int bridge_add(const char *ifname, const char *bridge, char *err, size_t errlen)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
	ifr.ifr_ifindex = (int)if_nametoindex(ifname);
	int r = ifr.ifr_ifindex ? ifr_ioctl(SIOCBRADDIF, &ifr) : -ENODEV;
	if (r == -ENODEV)
		snprintf(err, errlen, "bridge '%s' does not exist", bridge);
	else if (r == -EOPNOTSUPP || r == -EINVAL)
		snprintf(err, errlen, "'%s' is not a bridge", bridge);
	else if (r == -EPERM)
		snprintf(err, errlen, "adding tap '%s' to bridge '%s': permission denied", ifname, bridge);
	else if (r < 0)
		snprintf(err, errlen, "adding tap '%s' to bridge '%s': %s", ifname, bridge, strerror(-r));
	return r;
}

int tap_open(struct tap *t, const char *name, const char *bridge, unsigned queues, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (!queues || queues > TAP_MAX_QUEUES) {
		snprintf(err, errlen, "%u tap queues (1 to %d)", queues, TAP_MAX_QUEUES);
		return -EINVAL;
	}
	int r = 0;
	if (bridge[0] && (r = bridge_check(bridge, err, errlen)) < 0)
		return r;
	/* Later queues attach to the interface the first one created. */
	if ((r = tun_open_queue(t, name[0] ? name : "kvmbox%d", queues, err, errlen)) < 0)
		return r;
	for (unsigned i = 1; i < queues; i++)
		if ((r = tun_open_queue(t, t->ifname, queues, err, errlen)) < 0)
			goto fail;
	t->offloads = probe_offloads(t->fds[0]);
	for (unsigned i = 1; i < t->nfds; i++)
		ioctl(t->fds[i], TUNSETOFFLOAD, 0UL);
	if ((r = link_up(t->ifname, err, errlen)) < 0)
		goto fail;
	if (bridge[0] && (r = bridge_add(t->ifname, bridge, err, errlen)) < 0)
		goto fail;
	return 0;
fail:
	tap_close(t);
	return r;
}

void tap_close(struct tap *t)
{
	for (unsigned i = 0; i < t->nfds; i++)
		close(t->fds[i]);
	t->nfds = 0;
}

int tap_set_offloads(const struct tap *t, unsigned tun_f)
{
	for (unsigned i = 0; i < t->nfds; i++)
		if (ioctl(t->fds[i], TUNSETOFFLOAD, (unsigned long)tun_f) < 0)
			return -errno;
	return 0;
}
