/* virtio-net without KVM or a real tap: the pure parts (header check, control
 * commands, default MAC), then a device on AF_UNIX datagram sockets standing
 * in for the tap queues, driven through the PCI bus like Linux drives it:
 * config space, transmit, mergeable receive (and a ring that runs dry),
 * VQ_PAIRS_SET, and a hostile driver followed by a reset. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "pci/pci.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_pci.h"
#include "x86/guest_mem.h"
#include "x86/layout.h"
#include "bus_io.h"

#define RAM_SIZE (4u << 20)
#define QSIZE 8
#define RING_GPA(q) (0x10000ULL + 0x4000ULL * (q))
#define BUF_GPA 0x100000ULL
#define F(b) VIRTIO_NET_BIT(b)

static struct bus pio = { .name = "pio" }, mmio = { .name = "mmio" };
static struct pci_bus pbus;
static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_net *net;
static struct virtio_pci *vp;
static uint64_t bar;
static int peer[2]; /* the "network" side of each tap queue */
static uint16_t avail_idx[5], next_desc[5];

static int set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque, (void)gsi, (void)level;
	return 0;
}

static uint64_t mrd(uint64_t addr, unsigned size) { return bus_rd(&mmio, addr, size); }
static void mwr(uint64_t addr, unsigned size, uint64_t v) { bus_wr(&mmio, addr, size, v); }
static uint8_t status(void)
{
	return (uint8_t)mrd(bar + 0x14, 1);
}

/* --- the pure parts --- */

static int hdr_ok(uint8_t flags, uint8_t gso, uint16_t start, uint16_t off, size_t len, uint64_t f)
{
	struct virtio_net_hdr_v1 h = { .flags = flags, .gso_type = gso, .csum_start = start, .csum_offset = off,
				       .gso_size = gso ? 1448 : 0 };
	char why[128];
	return virtio_net_hdr_check(&h, len, f, why, sizeof(why)) == 0;
}

static void test_hdr_check(void)
{
	uint64_t csum = F(VIRTIO_NET_F_CSUM), tso = csum | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6);
	CHECK("hdr: plain frame", hdr_ok(0, 0, 0, 0, 60, 0));
	CHECK("hdr: largest frame", hdr_ok(0, 0, 0, 0, VIRTIO_NET_MAX_FRAME, 0));
	CHECK("hdr: oversized frame", !hdr_ok(0, 0, 0, 0, VIRTIO_NET_MAX_FRAME + 1, 0));
	CHECK("hdr: runt frame", !hdr_ok(0, 0, 0, 0, 13, 0));
	CHECK("hdr: NEEDS_CSUM with CSUM", hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 34, 16, 60, csum));
	CHECK("hdr: NEEDS_CSUM without CSUM", !hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 34, 16, 60, 0));
	CHECK("hdr: checksum ends at the frame's end", hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 50, 8, 60, csum));
	CHECK("hdr: checksum past the frame", !hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 50, 9, 60, csum));
	CHECK("hdr: checksum offset overflow", !hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0xffff, 0xffff, 60, csum));
	CHECK("hdr: DATA_VALID is not for the device", !hdr_ok(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 60, csum));
	CHECK("hdr: TSO4 negotiated", hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 34, 16, 9000, tso));
	CHECK("hdr: TSO6 negotiated", hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 54, 16, 9000, tso));
	CHECK("hdr: TSO4 not negotiated", !hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 34, 16, 9000, csum));
	CHECK("hdr: GSO without NEEDS_CSUM", !hdr_ok(0, VIRTIO_NET_HDR_GSO_TCPV4, 0, 0, 9000, tso));
	CHECK("hdr: UFO never offered", !hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 34, 6, 9000, tso));
	CHECK("hdr: unknown gso_type", !hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, 2, 34, 16, 9000, tso));
	CHECK("hdr: ECN without HOST_ECN",
	      !hdr_ok(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 34, 16, 9000, tso));
}

static uint8_t ctrl(const uint8_t *req, size_t len, unsigned max, unsigned *pairs)
{
	return virtio_net_ctrl_parse(req, len, max, pairs);
}

static void test_ctrl_parse(void)
{
	unsigned pairs = 1;
	const uint8_t mq2[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	const uint8_t mq3[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0 };
	const uint8_t mq0[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0, 0 };
	CHECK("ctrl: VQ_PAIRS_SET 2 of 2", ctrl(mq2, sizeof(mq2), 2, &pairs) == VIRTIO_NET_OK && pairs == 2);
	pairs = 1;
	CHECK("ctrl: VQ_PAIRS_SET 3 of 2", ctrl(mq3, sizeof(mq3), 2, &pairs) == VIRTIO_NET_ERR && pairs == 1);
	CHECK("ctrl: VQ_PAIRS_SET 0", ctrl(mq0, sizeof(mq0), 2, &pairs) == VIRTIO_NET_ERR && pairs == 1);
	CHECK("ctrl: VQ_PAIRS_SET without MQ", ctrl(mq2, sizeof(mq2), 0, &pairs) == VIRTIO_NET_ERR && pairs == 1);
	CHECK("ctrl: VQ_PAIRS_SET short", ctrl(mq2, 3, 2, &pairs) == VIRTIO_NET_ERR);
	const uint8_t promisc[] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 };
	const uint8_t nobcast[] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 1 };
	const uint8_t rx_bad[] = { VIRTIO_NET_CTRL_RX, 9, 1 };
	CHECK("ctrl: promiscuous on", ctrl(promisc, sizeof(promisc), 0, &pairs) == VIRTIO_NET_OK);
	CHECK("ctrl: no broadcast is refused", ctrl(nobcast, sizeof(nobcast), 0, &pairs) == VIRTIO_NET_ERR);
	CHECK("ctrl: unknown RX command", ctrl(rx_bad, sizeof(rx_bad), 0, &pairs) == VIRTIO_NET_ERR);
	const uint8_t table[] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1,
				  1, 0, 0, 0, 0x01, 0, 0x5e, 0, 0, 1 };
	CHECK("ctrl: MAC table", ctrl(table, sizeof(table), 0, &pairs) == VIRTIO_NET_OK);
	CHECK("ctrl: MAC table cut short", ctrl(table, sizeof(table) - 1, 0, &pairs) == VIRTIO_NET_ERR);
	const uint8_t huge[] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0xff, 0xff, 0xff, 0xff };
	CHECK("ctrl: MAC table count beyond the data", ctrl(huge, sizeof(huge), 0, &pairs) == VIRTIO_NET_ERR);
	const uint8_t vlan[] = { VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 1, 0 };
	CHECK("ctrl: VLAN not offered", ctrl(vlan, sizeof(vlan), 2, &pairs) == VIRTIO_NET_ERR);
	CHECK("ctrl: empty command", ctrl(vlan, 1, 2, &pairs) == VIRTIO_NET_ERR);
}

static void test_mac(void)
{
	uint8_t a[6], b[6], c[6], d[6];
	virtio_net_default_mac("web", 0, a);
	virtio_net_default_mac("web", 0, b);
	virtio_net_default_mac("web", 1, c);
	virtio_net_default_mac("db", 0, d);
	CHECK("mac: stable", !memcmp(a, b, 6));
	CHECK("mac: per NIC", memcmp(a, c, 6) != 0);
	CHECK("mac: per VM", memcmp(a, d, 6) != 0);
	CHECK("mac: 02:6b:62 prefix", a[0] == 0x02 && a[1] == 0x6b && a[2] == 0x62);
	CHECK("mac: locally administered unicast", (a[0] & 2) && !(a[0] & 1));
}

/* --- the device --- */

static void select_queue_setup(unsigned q)
{
	mwr(bar + 0x16, 2, q);
	mwr(bar + 0x18, 2, QSIZE);
	mwr(bar + 0x20, 8, RING_GPA(q));
	mwr(bar + 0x28, 8, RING_GPA(q) + 0x1000);
	mwr(bar + 0x30, 8, RING_GPA(q) + 0x2000);
	mwr(bar + 0x1c, 2, 1);
	avail_idx[q] = next_desc[q] = 0;
}

static void driver_init(uint64_t f)
{
	mwr(bar + 0x14, 1, 0);
	mwr(bar + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mwr(bar + 0x08, 4, 0);
	mwr(bar + 0x0c, 4, (uint32_t)f);
	mwr(bar + 0x08, 4, 1);
	mwr(bar + 0x0c, 4, (uint32_t)((f | VIRTIO_FEATURE_VERSION_1) >> 32));
	mwr(bar + 0x14, 1, 0x0b);
	memset(ram + RING_GPA(0), 0, 0x14000);
	select_queue_setup(0);
	select_queue_setup(1);
	select_queue_setup(4);
	mwr(bar + 0x14, 1, 0x0f);
}

/* One chain of n buffers at gpas, the first nout device-readable. */
static void post(unsigned q, const uint64_t *gpa, const uint32_t *len, unsigned n, unsigned nout)
{
	struct vring_desc *d = (struct vring_desc *)(ram + RING_GPA(q));
	uint16_t head = next_desc[q];
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = (uint16_t)((head + i) % QSIZE);
		d[id] = (struct vring_desc){ .addr = gpa[i], .len = len[i],
					     .flags = (uint16_t)((i >= nout ? VRING_DESC_F_WRITE : 0) |
								 (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
					     .next = (uint16_t)((id + 1) % QSIZE) };
	}
	next_desc[q] = (uint16_t)((head + n) % QSIZE);
	struct vring_avail *a = (struct vring_avail *)(ram + RING_GPA(q) + 0x1000);
	a->ring[avail_idx[q] % QSIZE] = head;
	avail_idx[q]++;
	__atomic_store_n(&a->idx, avail_idx[q], __ATOMIC_RELEASE);
}
static struct vring_used *used(unsigned q)
{
	return (struct vring_used *)(ram + RING_GPA(q) + 0x2000);
}
static void kick(unsigned q)
{
	mwr(bar + VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, 2, q);
}

static void test_config(void)
{
	uint8_t mac[6];
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)mrd(bar + VIRTIO_PCI_DEVCFG_OFF + i, 1);
	CHECK("config: mac", !memcmp(mac, "\x02\x6b\x62\x01\x02\x03", 6));
	CHECK("config: status LINK_UP", mrd(bar + VIRTIO_PCI_DEVCFG_OFF + 6, 2) == VIRTIO_NET_S_LINK_UP);
	CHECK("config: max_virtqueue_pairs", mrd(bar + VIRTIO_PCI_DEVCFG_OFF + 8, 2) == 2);
	CHECK("config: mac as one 4-byte read", mrd(bar + VIRTIO_PCI_DEVCFG_OFF, 4) == 0x01626b02);
	mwr(bar + VIRTIO_PCI_DEVCFG_OFF, 1, 0xff);
	CHECK("config: mac is read-only", mrd(bar + VIRTIO_PCI_DEVCFG_OFF, 1) == 0x02);
	mwr(bar + 0x00, 4, 0);
	uint32_t lo = (uint32_t)mrd(bar + 0x04, 4);
	CHECK("features: MAC STATUS MRG_RXBUF MQ CTRL_VQ",
	      (lo & (F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_MQ) |
		     F(VIRTIO_NET_F_CTRL_VQ))) == (F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |
						   F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ)));
	CHECK("features: no offloads the tap refused", !(lo & (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4))));
	CHECK("num_queues: 2 pairs and ctrl", mrd(bar + 0x12, 2) == 5);
}

static void test_tx(void)
{
	uint8_t *hdr = ram + BUF_GPA, *frame = ram + BUF_GPA + 0x1000;
	memset(hdr, 0, VIRTIO_NET_HDR_LEN);
	for (int i = 0; i < 60; i++)
		frame[i] = (uint8_t)(i * 7);
	uint64_t gpa[] = { BUF_GPA, BUF_GPA + 0x1000 };
	uint32_t len[] = { VIRTIO_NET_HDR_LEN, 60 };
	post(1, gpa, len, 2, 2);
	kick(1);
	uint8_t got[200];
	ssize_t n = recv(peer[0], got, sizeof(got), MSG_DONTWAIT);
	CHECK("tx: frame reaches the tap with its header", n == 72 && !memcmp(got + 12, frame, 60) &&
								   !memcmp(got, hdr, 12));
	CHECK("tx: chain used", used(1)->idx == 1 && used(1)->ring[0].len == 0);
}

static void send_frame(size_t len, uint8_t seed, uint8_t gso)
{
	static uint8_t f[4096];
	memset(f, 0, VIRTIO_NET_HDR_LEN);
	f[1] = gso;
	for (size_t i = VIRTIO_NET_HDR_LEN; i < len; i++)
		f[i] = (uint8_t)(i + seed);
	if (send(peer[0], f, len, 0) != (ssize_t)len)
		printf("# send failed\n");
}

static void post_rx(unsigned count, uint64_t at)
{
	for (unsigned i = 0; i < count; i++) {
		uint64_t gpa = at + 0x1000 * i;
		uint32_t len = 1024;
		post(0, &gpa, &len, 1, 0);
	}
}

static void test_rx(void)
{
	post_rx(3, BUF_GPA + 0x10000);
	kick(0);
	send_frame(12 + 2000, 1, 0);
	virtio_net_tap_readable(net, 0);
	struct vring_used *u = used(0);
	uint8_t *b0 = ram + BUF_GPA + 0x10000, *b1 = b0 + 0x1000;
	int data_ok = 1;
	for (size_t i = 12; i < 1024; i++)
		data_ok &= b0[i] == (uint8_t)(i + 1);
	for (size_t i = 0; i < 988; i++)
		data_ok &= b1[i] == (uint8_t)(1024 + i + 1);
	CHECK("rx: frame over two mergeable buffers", u->idx == 2 && u->ring[0].len == 1024 && u->ring[1].len == 988);
	CHECK("rx: num_buffers 2", b0[10] == 2 && b0[11] == 0);
	CHECK("rx: bytes", data_ok);

	/* One buffer left: a 2012-byte frame waits, nothing is taken. */
	send_frame(12 + 2000, 2, 0);
	virtio_net_tap_readable(net, 0);
	CHECK("rx: ring too short, frame waits", u->idx == 2);
	post_rx(2, BUF_GPA + 0x20000);
	kick(0);
	uint8_t *c0 = ram + BUF_GPA + 0x10000 + 0x2000;
	CHECK("rx: the guest's kick delivers it", u->idx == 4 && c0[10] == 2 && c0[12] == (uint8_t)(12 + 2));

	/* A GSO frame the guest did not ask for is dropped. */
	struct virtio_net_stats s0, s1;
	virtio_net_get_stats(net, &s0);
	send_frame(100, 3, VIRTIO_NET_HDR_GSO_TCPV4);
	virtio_net_tap_readable(net, 0);
	virtio_net_get_stats(net, &s1);
	CHECK("rx: unwanted GSO frame dropped", s1.rx_dropped == s0.rx_dropped + 1 && u->idx == 4);
}

static void test_ctrl_queue(void)
{
	uint8_t *req = ram + BUF_GPA + 0x30000, *ack = req + 0x100;
	req[0] = VIRTIO_NET_CTRL_MQ, req[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, req[2] = 2, req[3] = 0;
	*ack = 0xee;
	uint64_t gpa[] = { BUF_GPA + 0x30000, BUF_GPA + 0x30100 };
	uint32_t len[] = { 4, 1 };
	post(4, gpa, len, 2, 1);
	kick(4);
	CHECK("ctrl queue: VQ_PAIRS_SET 2 acked", *ack == VIRTIO_NET_OK && used(4)->idx == 1 && used(4)->ring[0].len == 1);
	req[2] = 9;
	post(4, gpa, len, 2, 1);
	kick(4);
	CHECK("ctrl queue: VQ_PAIRS_SET 9 refused", *ack == VIRTIO_NET_ERR && used(4)->idx == 2);
}

static void test_hostile(void)
{
	uint64_t gpa[] = { BUF_GPA, BUF_GPA + 0x1000 };
	uint32_t len[] = { VIRTIO_NET_HDR_LEN, 60 };
	post(1, gpa, len, 2, 1); /* the frame is device-writable */
	kick(1);
	CHECK("hostile: writable TX buffer sets NEEDS_RESET", status() & VIRTIO_STATUS_NEEDS_RESET);

	driver_init(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF));
	CHECK("reset: the device works again", status() == 0x0f);
	memset(ram + BUF_GPA, 0, 12);
	len[1] = VIRTIO_NET_MAX_FRAME + 1;
	post(1, gpa, len, 2, 2);
	kick(1);
	CHECK("hostile: oversized frame sets NEEDS_RESET", status() & VIRTIO_STATUS_NEEDS_RESET);
	uint8_t sink[100];
	CHECK("hostile: nothing reached the tap", recv(peer[0], sink, sizeof(sink), MSG_DONTWAIT) < 0);

	driver_init(F(VIRTIO_NET_F_MAC));
	uint64_t rg = BUF_GPA + 0x10000;
	uint32_t rl = 8; /* smaller than the header */
	post(0, &rg, &rl, 1, 0);
	kick(0);
	send_frame(100, 4, 0);
	virtio_net_tap_readable(net, 0);
	CHECK("hostile: RX buffer below the header size sets NEEDS_RESET", status() & VIRTIO_STATUS_NEEDS_RESET);
	mwr(bar + 0x14, 1, 0);
	CHECK("reset: status 0", status() == 0);
	while (recv(peer[0], sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

int main(void)
{
	test_hdr_check();
	test_ctrl_parse();
	test_mac();

	char err[256];
	ram = calloc(1, RAM_SIZE);
	if (!ram || guest_mem_init(&gm, ram, RAM_SIZE, err, sizeof(err))) {
		printf("not ok guest memory\n");
		return 1;
	}
	struct pci_bus_config c = pci_bus_config_x86(set_irq, NULL);
	CHECK("bus init", pci_bus_init(&pbus, &pio, &mmio, &c) == 0);
	struct tap t = { .ifname = "test0", .nfds = 2, .offloads = 0 };
	for (int i = 0; i < 2; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
			return 1;
		t.fds[i] = sv[1];
		peer[i] = sv[0];
	}
	const uint8_t mac[6] = { 0x02, 0x6b, 0x62, 1, 2, 3 };
	net = virtio_net_new(NULL, &gm, "virtio-net0", mac, &t, err, sizeof(err));
	CHECK("device", net != NULL);
	if (!net)
		return 1;
	vp = virtio_net_pci(net);
	CHECK("register", virtio_pci_register(vp, &pbus) == 0);
	CHECK("class: Ethernet", pci_cfg_read32(&vp->pci, 0x08) >> 8 == 0x020000);
	CHECK("device id 0x1041", pci_cfg_read16(&vp->pci, PCI_DEVICE_ID) == 0x1041);
	uint64_t ecam = X86_ECAM_BASE + ((uint64_t)vp->pci.slot << 15);
	mwr(ecam + PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	bar = mrd(ecam + PCI_BAR0, 4) & ~0xfull;
	test_config();
	driver_init(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ));
	CHECK("driver ok", status() == 0x0f);
	test_tx();
	test_rx();
	test_ctrl_queue();
	test_hostile();
	virtio_net_free(net);

	/* A tap that takes every offload, one queue pair. */
	struct tap t1 = t;
	t1.nfds = 1;
	t1.offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	struct virtio_net *n1 = virtio_net_new(NULL, &gm, "virtio-net1", mac, &t1, err, sizeof(err));
	uint64_t off = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
		       F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6);
	CHECK("features: the offloads the tap takes", n1 && (virtio_net_pci(n1)->host_features & off) == off);
	CHECK("features: one pair, no MQ or ctrl queue",
	      n1 && !(virtio_net_pci(n1)->host_features & (F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ))) &&
		      virtio_net_pci(n1)->num_queues == 2);
	virtio_net_free(n1);
	t1.nfds = VIRTIO_NET_MAX_PAIRS + 1;
	CHECK("too many pairs refused", !virtio_net_new(NULL, &gm, "virtio-net2", mac, &t1, err, sizeof(err)));
	for (int i = 0; i < 2; i++)
		close(peer[i]), close(t.fds[i]);
	free(ram);
	return CHECK_DONE();
}
