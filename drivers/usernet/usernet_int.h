/* Inside the usernet backend: the shared state and the helpers its files
 * use. Not for users of usernet.h. */
#ifndef KVMBOX_USERNET_INT_H
#define KVMBOX_USERNET_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/netif.h"
#include "usernet/usernet.h"

struct tcp_pcb;

/* Ports of the gateway address as lwip sees them. lwip picks its own
 * (hostfwd connections into the guest) at USERNET_LWIP_PORT_MIN and above;
 * the NAT listener sits below, so no lwip-chosen port ever equals it. Guest
 * frames to the gateway reach lwip untouched only for a connection lwip has
 * (un_tcp_lwip_owns); the rest go to the appliance's loopback. */
#define USERNET_LWIP_PORT_MIN 0xc000
#define USERNET_NAT_TCP_PORT 0xbff0
#define USERNET_UDP_FWD_PORT0 0xff00 /* + rule number: the source of forwarded UDP */

/* What an epoll event is for: kind in the high half of data.u64, index in the low. */
enum { EV_TIMER = 1, EV_TCP, EV_UDP, EV_FWD_LISTEN, EV_ICMP, EV_WORK };

enum un_tcp_state {
	UT_FREE,
	UT_CONNECTING,   /* host connect in flight; the guest's SYN is held */
	UT_SYN_FED,      /* host connected; the SYN went to lwip, accept pending */
	UT_OPEN,         /* both sides joined */
};

struct un_tcp {
	enum un_tcp_state state;
	bool fwd;            /* a hostfwd connection: lwip connects into the guest */
	bool guest_fin;      /* the guest closed its side */
	bool host_shut;      /* ... and the host socket was shut for writing */
	bool host_eof;       /* the host closed its side; FIN sent to the guest */
	bool want_out;       /* waiting for the host socket to take more */
	int fd;
	uint32_t events;     /* what epoll waits for on fd now */
	uint16_t gport;      /* the guest's port */
	uint32_t dst_ip;     /* the guest's destination, host byte order */
	uint16_t dst_port;
	uint16_t mapped;     /* the port lwip sees the guest use (NAT) */
	uint64_t deadline;   /* ms: connect / handshake must be done by then */
	struct tcp_pcb *pcb;
	uint8_t *syn;        /* the held SYN frame (UT_CONNECTING) */
	uint16_t syn_len;
	uint8_t *buf;        /* guest->host bytes not yet written, USERNET_TCP_BUF */
	size_t buf_off, buf_len;
};

struct un_udp {
	bool used;
	int fd;
	uint16_t gport;
	uint32_t dst_ip;
	uint16_t dst_port;
	uint64_t last;       /* ms of the last datagram either way */
};

struct un_icmp {
	bool used;
	int fd;
	uint16_t gid;        /* the guest's echo identifier */
	uint32_t dst_ip;
	uint64_t last;
};

struct un_fwd {
	int fd;              /* the appliance-side listener (or UDP socket) */
	struct usernet_hostfwd rule;
	struct udp_peer {    /* UDP: whom replies from the guest go to */
		bool known;
		uint32_t ip;
		uint16_t port;
	} peer;
};

struct usernet {
	struct usernet_config cfg;
	struct netif netif;
	bool netif_added;
	int epfd, timerfd, rxefd;
	uint8_t guest_mac[6];
	bool guest_mac_known;
	uint32_t resolver;   /* first nameserver of /etc/resolv.conf, host order (0: none) */
	uint64_t now;        /* ms, monotonic, updated per entry point */
	uint64_t next_sweep;
	struct usernet_stats stats;

	/* Frames for the guest: a ring of fixed slots. */
	struct un_frame { uint16_t len; uint8_t data[USERNET_FRAME_MAX]; } *rxq;
	unsigned rx_head, rx_count;
	bool rx_signalled, rx_was_full;

	/* Work left for the end of the guest's batch of frames: connections
	 * whose guest bytes go to the host socket in one send and are
	 * acknowledged with one ACK, rather than one of each per segment.
	 * workefd wakes the loop (usernet_poll) once the batch is in. An
	 * entry is listed at most once (due_mark, which outlives the entry's
	 * reuse), so the list cannot overflow. */
	int workefd;
	bool work_signalled;
	unsigned ndue;
	uint16_t due[USERNET_MAX_TCP + USERNET_MAX_FWD_CONNS];
	bool due_mark[USERNET_MAX_TCP + USERNET_MAX_FWD_CONNS];

	struct tcp_pcb *nat_listen;
	uint16_t next_mapped;
	struct un_tcp tcp[USERNET_MAX_TCP + USERNET_MAX_FWD_CONNS];
	struct un_udp udp[USERNET_MAX_UDP];
	struct un_icmp icmp[USERNET_MAX_ICMP];
	unsigned nfwd;
	struct un_fwd fwd[USERNET_MAX_HOSTFWD];

	uint8_t scratch[65536]; /* host socket reads */
};

/* usernet.c */
uint64_t un_now_ms(void);
void un_watch(struct usernet *u, int fd, uint32_t events, unsigned kind, unsigned idx);
void un_unwatch(struct usernet *u, int fd);
/* Queue a frame for the guest. 0, or -ENOBUFS when the queue is full. */
int un_rx_push(struct usernet *u, const uint8_t *frame, size_t len);
/* Wake the loop for work left to the end of the batch (usernet_poll). */
void un_work_signal(struct usernet *u);
/* Hand a guest frame to lwip as is. */
void un_lwip_input(struct usernet *u, const uint8_t *frame, size_t len);
/* Whether the guest may reach dst at all (restrict=on says no). */
bool un_outbound_ok(const struct usernet *u);
/* Where a guest destination really goes: the gateway is the appliance's
 * loopback, the DNS address port 53 its resolver. Host byte order. */
uint32_t un_translate_dst(const struct usernet *u, uint32_t dst, uint16_t port);

/* usernet_pkt.c: frame parsing and building. */
static inline uint16_t un_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t un_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void un_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void un_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
uint32_t un_csum_add(const uint8_t *b, size_t len, uint32_t sum);
uint16_t un_csum_fold(uint32_t sum);
/* The pseudo-header sum of an IPv4 header ip for an L4 segment of len bytes. */
uint32_t un_pseudo_sum(const uint8_t *ip, uint8_t proto, size_t len);
/* Change a 16-bit field that the checksum at csum covers (RFC 1624). */
void un_csum_replace16(uint8_t *csum, uint16_t old, uint16_t new_);
void un_csum_replace32(uint8_t *csum, uint32_t old, uint32_t new_);

/* A parsed IPv4 frame, every offset checked against the frame. */
struct un_ip {
	uint8_t *ip;         /* the IPv4 header */
	uint8_t *l4;         /* the payload */
	size_t l4_len;       /* from the IP total length */
	uint8_t proto;
	uint32_t src, dst;   /* host order */
	bool fragment;       /* MF set or a nonzero offset */
};
/* frame holds an IPv4 packet with a good header: fill *p. 0 or -1. */
int un_parse_ip(uint8_t *frame, size_t len, struct un_ip *p);

/* Build an IPv4 packet from src to the guest and queue it; UDP payloads
 * longer than one frame are fragmented. 0 or -ENOBUFS. */
int un_send_udp(struct usernet *u, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const uint8_t *data,
		size_t len);
int un_send_ip(struct usernet *u, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4, size_t len,
	       const uint8_t *dst_mac);

/* usernet_dhcp.c */
void un_dhcp_input(struct usernet *u, const struct un_ip *p);

/* usernet_tcp.c */
int un_tcp_init(struct usernet *u);
void un_tcp_input(struct usernet *u, uint8_t *frame, size_t len, const struct un_ip *p);
err_t un_tcp_output_fix(struct usernet *u, uint8_t *frame, size_t len);
void un_tcp_event(struct usernet *u, unsigned idx, uint32_t events);
void un_tcp_sweep(struct usernet *u);
void un_tcp_kick_all(struct usernet *u);
/* The batch is in: send the connections' buffered guest bytes and ACK them. */
void un_tcp_flush_due(struct usernet *u);
void un_tcp_close_all(struct usernet *u);
/* Whether lwip has a connection of its own (not the NAT's) from the
 * guest's sport to the gateway's dport. */
bool un_tcp_lwip_owns(uint16_t sport, uint16_t dport);
/* A hostfwd connection accepted on the appliance: connect into the guest. */
void un_tcp_fwd_start(struct usernet *u, int fd, uint16_t guest_port);

/* usernet_udp.c */
void un_udp_input(struct usernet *u, const struct un_ip *p);
void un_udp_event(struct usernet *u, unsigned idx);
void un_udp_sweep(struct usernet *u);
void un_udp_close_all(struct usernet *u);

/* usernet_icmp.c */
void un_icmp_input(struct usernet *u, const struct un_ip *p);
void un_icmp_event(struct usernet *u, unsigned idx);
void un_icmp_sweep(struct usernet *u);
void un_icmp_close_all(struct usernet *u);

/* usernet_fwd.c */
int un_fwd_open(struct usernet *u, char *err, size_t errlen);
void un_fwd_event(struct usernet *u, unsigned idx);
/* Whether a guest datagram from sport to the gateway's dport answers a UDP forward. */
bool un_fwd_udp_owns(const struct usernet *u, uint16_t sport, uint16_t dport);
/* A guest UDP datagram to a forward port of the gateway. */
void un_fwd_udp_input(struct usernet *u, const struct un_ip *p);
void un_fwd_close_all(struct usernet *u);

/* usernet_dns.c */
uint32_t un_dns_resolver(const char *resolv_conf_path);

#endif
