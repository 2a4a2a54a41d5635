/* usernet: the guest's TCP, terminated by lwip and carried on by host
 * sockets.
 *
 * lwip only takes connections to its own address and listening ports, so
 * each guest connection (guest port G to D:P) is rewritten on the way in to
 * (mapped port M to gateway:USERNET_NAT_TCP_PORT), where one lwip listener
 * accepts them all, and back on the way out. M is unique among live
 * connections and those lwip still remembers (TIME_WAIT), so the four-tuples
 * lwip sees never collide.
 *
 * A new connection: the guest's SYN is held while a non-blocking host
 * connect to D:P runs; it reaches lwip (which answers SYN-ACK) only once the
 * host side is up, else the guest gets a RST. So the guest sees what a
 * direct connection would: refused is refused, and a SYN flood opens at most
 * USERNET_MAX_TCP host sockets, the rest being reset at once.
 *
 * Data: guest->host through a per-connection buffer of one TCP window
 * (USERNET_TCP_BUF); lwip's window opens (tcp_recved) only as the host
 * socket takes the bytes, so a slow host slows the guest and nothing grows.
 * The bytes of a batch of guest frames (what virtio-net hands over per
 * kick) leave in one send at the batch's end, acknowledged by one ACK that
 * also reopens the window: per segment, a send (a wakeup of the host's
 * reader) and an ACK every second segment (an interrupt for the guest) cost
 * more than the bytes themselves.
 * host->guest: read only as much as lwip's send buffer has room for (peeked
 * first, so a refused tcp_write loses nothing); the host socket is not
 * watched while lwip is full.
 *
 * A closed connection leaves a small record (the linger ring) so that lwip's
 * last segments (FIN, ACKs, TIME_WAIT) still find their way. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "usernet/usernet_int.h"

#define LINGER_RECORDS 1024
#define MAPPED_MIN 1024
#define NENTRIES (USERNET_MAX_TCP + USERNET_MAX_FWD_CONNS)

_Static_assert(USERNET_TCP_BUF >= TCP_WND, "a connection's buffer holds a whole window");
_Static_assert(MEMP_NUM_TCP_PCB > NENTRIES, "lwip's pcbs outnumber the connections allowed");
_Static_assert(USERNET_TCP_BUF <= 0xffff, "tcp_recved takes what one send wrote as a u16_t");

/* Closed connections' mappings; lwip may still send for them. */
static struct tcp_linger_rec {
	uint16_t mapped, gport, dst_port;
	uint32_t dst_ip;
} lingers[LINGER_RECORDS];
static unsigned linger_next;
/* The backend the callbacks work for (there is one; see usernet.h). */
static struct usernet *un_tcp_owner;

static unsigned entry_index(const struct usernet *u, const struct un_tcp *e)
{
	return (unsigned)(e - u->tcp);
}

static void tcp_update_events(struct usernet *u, struct un_tcp *e, bool lwip_full)
{
	uint32_t ev = 0;
	if (e->state == UT_CONNECTING && !e->fwd)
		ev = EPOLLOUT;
	if (e->state == UT_OPEN) {
		if (!e->host_eof && !lwip_full)
			ev |= EPOLLIN;
		if (e->buf_len)
			ev |= EPOLLOUT;
	}
	if (e->fd >= 0 && ev != e->events) {
		/* Nothing wanted: off the epoll set altogether, since epoll
		 * reports hang-ups whatever is asked, and a hung-up socket
		 * whose bytes lwip has no room for would wake us in a loop. */
		e->events = ev;
		if (ev)
			un_watch(u, e->fd, ev, EV_TCP, entry_index(u, e));
		else
			un_unwatch(u, e->fd);
	}
}

static void pcb_detach(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
}

/* Forget the entry; its pcb must be gone or detached already. A NAT
 * entry's mapping stays in the linger ring, so that what lwip still sends
 * for it (its FIN, a RST) reaches the guest, and the guest's last segments
 * reach lwip. */
static void entry_free(struct usernet *u, struct un_tcp *e, bool reset_host)
{
	if (!e->fwd && e->mapped) {
		lingers[linger_next] = (struct tcp_linger_rec){ .mapped = e->mapped, .gport = e->gport,
								.dst_ip = e->dst_ip, .dst_port = e->dst_port };
		linger_next = (linger_next + 1) % LINGER_RECORDS;
	}
	if (e->fd >= 0) {
		if (e->events)
			un_unwatch(u, e->fd);
		if (reset_host) {
			/* The guest's side broke: make the host's peer see a reset too. */
			struct linger l = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(e->fd);
	}
	free(e->syn);
	free(e->buf);
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	e->state = UT_FREE;
}

/* The pcb entry_abort last aborted: an lwip callback that led to it must
 * return ERR_ABRT, as lwip must not touch that pcb again. */
static struct tcp_pcb *aborted_pcb;

/* Reset both sides now. */
static void entry_abort(struct usernet *u, struct un_tcp *e)
{
	if (e->pcb) {
		aborted_pcb = e->pcb;
		pcb_detach(e->pcb);
		tcp_abort(e->pcb); /* its RST goes out through the mapping, still live */
		e->pcb = NULL;
	}
	entry_free(u, e, true);
}

/* --- frames: the rewrite, RSTs --- */

static void rewrite_in(uint8_t *ip, uint8_t *tcp, uint32_t new_dst, uint16_t new_sport, uint16_t new_dport)
{
	uint32_t old_dst = un_get32(ip + 16);
	uint16_t old_sport = un_get16(tcp), old_dport = un_get16(tcp + 2);
	un_put32(ip + 16, new_dst);
	un_csum_replace32(ip + 10, old_dst, new_dst);
	un_put16(tcp, new_sport);
	un_put16(tcp + 2, new_dport);
	un_csum_replace32(tcp + 16, old_dst, new_dst);
	un_csum_replace16(tcp + 16, old_sport, new_sport);
	un_csum_replace16(tcp + 16, old_dport, new_dport);
}

static void rewrite_out(uint8_t *ip, uint8_t *tcp, uint32_t new_src, uint16_t new_sport, uint16_t new_dport)
{
	uint32_t old_src = un_get32(ip + 12);
	uint16_t old_sport = un_get16(tcp), old_dport = un_get16(tcp + 2);
	un_put32(ip + 12, new_src);
	un_csum_replace32(ip + 10, old_src, new_src);
	un_put16(tcp, new_sport);
	un_put16(tcp + 2, new_dport);
	un_csum_replace32(tcp + 16, old_src, new_src);
	un_csum_replace16(tcp + 16, old_sport, new_sport);
	un_csum_replace16(tcp + 16, old_dport, new_dport);
}

/* Answer a guest segment with a RST from where it was going (RFC 9293 3.10.7.1). */
static void send_rst(struct usernet *u, const struct un_ip *p)
{
	const uint8_t *t = p->l4;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	uint8_t r[20] = { 0 };
	if (t[13] & TCP_RST)
		return;
	un_put16(r, un_get16(t + 2));
	un_put16(r + 2, un_get16(t));
	if (t[13] & TCP_ACK) {
		memcpy(r + 4, t + 8, 4);
		r[13] = TCP_RST;
	} else {
		uint32_t seglen = (uint32_t)(p->l4_len - doff) + !!(t[13] & TCP_SYN) + !!(t[13] & TCP_FIN);
		un_put32(r + 8, un_get32(t + 4) + seglen);
		r[13] = TCP_RST | TCP_ACK;
	}
	r[12] = 5 << 4;
	uint8_t pseudo[8];
	un_put32(pseudo, p->dst);
	un_put32(pseudo + 4, p->src);
	un_put16(r + 16, un_csum_fold(un_csum_add(r, 20, un_csum_add(pseudo, 8, 6 + 20))));
	un_send_ip(u, p->dst, p->src, 6, r, 20, NULL);
}

static struct un_tcp *find_guest(struct usernet *u, uint16_t gport, uint32_t dst, uint16_t dport)
{
	for (unsigned i = 0; i < USERNET_MAX_TCP; i++) {
		struct un_tcp *e = &u->tcp[i];
		if (e->state != UT_FREE && e->gport == gport && e->dst_port == dport && e->dst_ip == dst)
			return e;
	}
	return NULL;
}

static struct un_tcp *find_mapped(struct usernet *u, uint16_t mapped)
{
	for (unsigned i = 0; i < USERNET_MAX_TCP; i++)
		if (u->tcp[i].state != UT_FREE && u->tcp[i].mapped == mapped)
			return &u->tcp[i];
	return NULL;
}

static bool port_in_lwip(struct tcp_pcb *list, uint16_t mapped)
{
	for (struct tcp_pcb *pcb = list; pcb; pcb = pcb->next)
		if (pcb->local_port == USERNET_NAT_TCP_PORT && pcb->remote_port == mapped)
			return true;
	return false;
}

bool un_tcp_lwip_owns(uint16_t sport, uint16_t dport)
{
	if (dport == USERNET_NAT_TCP_PORT)
		return false;
	struct tcp_pcb *lists[] = { tcp_active_pcbs, tcp_tw_pcbs };
	for (unsigned i = 0; i < 2; i++)
		for (struct tcp_pcb *pcb = lists[i]; pcb; pcb = pcb->next)
			if (pcb->local_port == dport && pcb->remote_port == sport)
				return true;
	return false;
}

static uint16_t mapped_alloc(struct usernet *u)
{
	for (unsigned tries = 0; tries < 65536 - MAPPED_MIN; tries++) {
		uint16_t m = u->next_mapped;
		u->next_mapped = m == 65535 ? MAPPED_MIN : (uint16_t)(m + 1);
		if (!find_mapped(u, m) && !port_in_lwip(tcp_active_pcbs, m) && !port_in_lwip(tcp_tw_pcbs, m))
			return m;
	}
	return 0;
}

/* The SYN goes to lwip now that the host side is connected. */
static void feed_syn(struct usernet *u, struct un_tcp *e)
{
	e->state = UT_SYN_FED;
	e->deadline = u->now + USERNET_CONNECT_TIMEOUT_MS;
	tcp_update_events(u, e, false);
	struct un_ip p;
	uint8_t *syn = e->syn;
	size_t len = e->syn_len;
	e->syn = NULL;
	if (un_parse_ip(syn, len, &p) == 0) {
		rewrite_in(p.ip, p.l4, u->cfg.host, e->mapped, USERNET_NAT_TCP_PORT);
		un_lwip_input(u, syn, len);
	}
	free(syn);
}

static struct un_tcp *tcp_open(struct usernet *u, const struct un_ip *p, const uint8_t *frame, size_t len)
{
	struct un_tcp *e = NULL;
	for (unsigned i = 0; i < USERNET_MAX_TCP && !e; i++)
		if (u->tcp[i].state == UT_FREE)
			e = &u->tcp[i];
	uint16_t mapped = e ? mapped_alloc(u) : 0;
	if (!mapped)
		return NULL;
	uint16_t dport = un_get16(p->l4 + 2);
	uint8_t *syn = malloc(len);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!syn || fd < 0) {
		free(syn);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	memcpy(syn, frame, len);
	*e = (struct un_tcp){ .state = UT_CONNECTING, .fd = fd, .gport = un_get16(p->l4), .dst_ip = p->dst,
			      .dst_port = dport, .mapped = mapped, .deadline = u->now + USERNET_CONNECT_TIMEOUT_MS,
			      .syn = syn, .syn_len = (uint16_t)len };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(dport),
				 .sin_addr.s_addr = htonl(un_translate_dst(u, p->dst, dport)) };
	int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (r < 0 && errno != EINPROGRESS) {
		entry_free(u, e, false);
		return NULL;
	}
	u->stats.tcp_opened++;
	if (r == 0)
		feed_syn(u, e);
	else
		tcp_update_events(u, e, false);
	return e;
}

static struct tcp_linger_rec *linger_find(uint16_t gport, uint32_t dst, uint16_t dport, uint16_t mapped)
{
	for (unsigned i = 0; i < LINGER_RECORDS; i++) {
		struct tcp_linger_rec *l = &lingers[i];
		if (!l->mapped)
			continue;
		if (mapped ? l->mapped == mapped : (l->gport == gport && l->dst_ip == dst && l->dst_port == dport))
			return l;
	}
	return NULL;
}

void un_tcp_input(struct usernet *u, uint8_t *frame, size_t len, const struct un_ip *p)
{
	if (p->l4_len < 20) {
		u->stats.frames_dropped++;
		return;
	}
	uint8_t *t = p->l4, flags = t[13];
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff < 20 || doff > p->l4_len) {
		u->stats.frames_dropped++;
		return;
	}
	uint16_t gport = un_get16(t), dport = un_get16(t + 2);
	struct un_tcp *e = find_guest(u, gport, p->dst, dport);
	if (!e) {
		bool syn = (flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN;
		/* Nothing is opened for a segment that fails its checksum. */
		if (un_csum_fold(un_csum_add(t, p->l4_len, un_pseudo_sum(p->ip, 6, p->l4_len))) != 0) {
			u->stats.frames_dropped++;
			return;
		}
		if (!syn) {
			struct tcp_linger_rec *l = linger_find(gport, p->dst, dport, 0);
			if (l) { /* the end of a closed connection, which lwip still knows */
				rewrite_in(p->ip, t, u->cfg.host, l->mapped, USERNET_NAT_TCP_PORT);
				un_lwip_input(u, frame, len);
			} else {
				send_rst(u, p);
			}
			return;
		}
		if (!un_outbound_ok(u) || !tcp_open(u, p, frame, len)) {
			u->stats.tcp_refused++;
			send_rst(u, p);
		}
		return;
	}
	if (e->state == UT_CONNECTING) {
		/* The host connect is still running; the guest's retransmitted
		 * SYN waits with the first. Anything else has no place yet. */
		return;
	}
	rewrite_in(p->ip, t, u->cfg.host, e->mapped, USERNET_NAT_TCP_PORT);
	un_lwip_input(u, frame, len);
}

err_t un_tcp_output_fix(struct usernet *u, uint8_t *frame, size_t len)
{
	struct un_ip p;
	if (un_parse_ip(frame, len, &p) < 0 || p.proto != 6 || p.l4_len < 20 || p.src != u->cfg.host ||
	    un_get16(p.l4) != USERNET_NAT_TCP_PORT)
		return ERR_OK; /* not the NAT's */
	uint16_t mapped = un_get16(p.l4 + 2);
	struct un_tcp *e = find_mapped(u, mapped);
	if (e) {
		rewrite_out(p.ip, p.l4, e->dst_ip, e->dst_port, e->gport);
		return ERR_OK;
	}
	struct tcp_linger_rec *l = linger_find(0, 0, 0, mapped);
	if (!l)
		return ERR_VAL;
	rewrite_out(p.ip, p.l4, l->dst_ip, l->dst_port, l->gport);
	return ERR_OK;
}

/* --- data --- */

static void maybe_finish(struct usernet *u, struct un_tcp *e);

/* The guest's bytes to the host socket. false: the entry is gone. */
static bool flush_to_host(struct usernet *u, struct un_tcp *e)
{
	while (e->buf_len) {
		ssize_t w = send(e->fd, e->buf + e->buf_off, e->buf_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			entry_abort(u, e);
			return false;
		}
		e->buf_off += (size_t)w;
		e->buf_len -= (size_t)w;
		if (e->pcb)
			tcp_recved(e->pcb, (u16_t)w); /* w <= USERNET_TCP_BUF, which fits (asserted above) */
	}
	if (!e->buf_len) {
		e->buf_off = 0;
		if (e->guest_fin && !e->host_shut) {
			shutdown(e->fd, SHUT_WR);
			e->host_shut = true;
		}
	}
	tcp_update_events(u, e, false);
	maybe_finish(u, e);
	return true;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct un_tcp *e = arg;
	struct usernet *u = un_tcp_owner;
	if (!e) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	aborted_pcb = NULL;
	if (!p || err != ERR_OK) {
		if (p)
			pbuf_free(p);
		e->guest_fin = true;
		flush_to_host(u, e);
		return aborted_pcb == pcb ? ERR_ABRT : ERR_OK;
	}
	if (e->buf_off + e->buf_len + p->tot_len > USERNET_TCP_BUF) {
		if (e->buf_len + p->tot_len > USERNET_TCP_BUF)
			return ERR_MEM; /* lwip keeps it and offers it again */
		memmove(e->buf, e->buf + e->buf_off, e->buf_len);
		e->buf_off = 0;
	}
	if (!e->buf && !(e->buf = malloc(USERNET_TCP_BUF)))
		return ERR_MEM;
	pbuf_copy_partial(p, e->buf + e->buf_off + e->buf_len, p->tot_len, 0);
	e->buf_len += p->tot_len;
	pbuf_free(p);
	/* Sent and acknowledged at the batch's end (un_tcp_flush_due); the
	 * window (at most the buffer) keeps the bytes within it until then.
	 * lwip's own ACK, due now every second segment, waits too: marked
	 * delayed, so its fast timer sends it should the flush not. */
	tcp_clear_flags(pcb, TF_ACK_NOW);
	tcp_set_flags(pcb, TF_ACK_DELAY);
	unsigned i = entry_index(u, e);
	if (!u->due_mark[i]) {
		u->due_mark[i] = true;
		u->due[u->ndue++] = (uint16_t)i;
		un_work_signal(u);
	}
	return ERR_OK;
}

void un_tcp_flush_due(struct usernet *u)
{
	unsigned n = u->ndue;
	u->ndue = 0;
	for (unsigned i = 0; i < n; i++) {
		struct un_tcp *e = &u->tcp[u->due[i]];
		u->due_mark[u->due[i]] = false;
		/* Closed meanwhile, or even reused: flushing that one is harmless. */
		if (e->state != UT_OPEN || !flush_to_host(u, e) || e->state != UT_OPEN || !e->pcb)
			continue;
		/* One ACK for the batch, with the window the send reopened. */
		if (e->pcb->flags & TF_ACK_DELAY)
			tcp_ack_now(e->pcb);
		tcp_output(e->pcb);
	}
}

/* Host bytes into lwip, as many as it has room for. */
static void host_read(struct usernet *u, struct un_tcp *e)
{
	for (int rounds = 0; rounds < 8; rounds++) {
		size_t room = tcp_sndbuf(e->pcb);
		if (tcp_sndqueuelen(e->pcb) >= TCP_SND_QUEUELEN - 1)
			room = 0;
		if (!room) {
			tcp_update_events(u, e, true); /* on_sent resumes us */
			return;
		}
		if (room > sizeof(u->scratch))
			room = sizeof(u->scratch);
		ssize_t n = recv(e->fd, u->scratch, room, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n < 0) {
			entry_abort(u, e);
			return;
		}
		if (n == 0) {
			e->host_eof = true;
			tcp_shutdown(e->pcb, 0, 1); /* FIN to the guest */
			tcp_output(e->pcb);
			tcp_update_events(u, e, false);
			maybe_finish(u, e);
			return;
		}
		size_t len = (size_t)n;
		err_t err;
		while ((err = tcp_write(e->pcb, u->scratch, (u16_t)len, TCP_WRITE_FLAG_COPY)) == ERR_MEM && len > TCP_MSS)
			len /= 2;
		if (err != ERR_OK) {
			tcp_output(e->pcb);
			tcp_update_events(u, e, true);
			return;
		}
		/* What lwip took leaves the socket; the peek made it safe. */
		if (recv(e->fd, u->scratch, len, MSG_DONTWAIT) != (ssize_t)len) {
			entry_abort(u, e);
			return;
		}
		tcp_output(e->pcb);
	}
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)pcb, (void)len;
	struct un_tcp *e = arg;
	if (e && e->state == UT_OPEN && !e->host_eof)
		tcp_update_events(un_tcp_owner, e, false);
	return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
	(void)err;
	struct un_tcp *e = arg;
	if (!e)
		return;
	e->pcb = NULL; /* lwip freed it */
	entry_free(un_tcp_owner, e, true);
}

/* Both directions closed and delivered: hand the rest to lwip. */
static void maybe_finish(struct usernet *u, struct un_tcp *e)
{
	if (e->state != UT_OPEN || !e->host_eof || !e->host_shut || e->buf_len)
		return;
	if (e->pcb) {
		pcb_detach(e->pcb);
		if (tcp_close(e->pcb) != ERR_OK) {
			aborted_pcb = e->pcb;
			tcp_abort(e->pcb);
		}
		e->pcb = NULL;
	}
	entry_free(u, e, false);
}

static void entry_open(struct usernet *u, struct un_tcp *e, struct tcp_pcb *pcb)
{
	e->pcb = pcb;
	e->state = UT_OPEN;
	tcp_arg(pcb, e);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb); /* the guest's and the host's stacks already coalesce */
	tcp_update_events(u, e, false);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct usernet *u = arg;
	struct un_tcp *e = err == ERR_OK && pcb ? find_mapped(u, pcb->remote_port) : NULL;
	if (!pcb)
		return ERR_VAL;
	if (!e || e->state != UT_SYN_FED) {
		/* Its host side gave up meanwhile. */
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	entry_open(u, e, pcb);
	return ERR_OK;
}

int un_tcp_init(struct usernet *u)
{
	un_tcp_owner = u;
	u->next_mapped = MAPPED_MIN;
	struct tcp_pcb *pcb = tcp_new();
	if (!pcb)
		return -1;
	if (tcp_bind(pcb, &u->netif.ip_addr, USERNET_NAT_TCP_PORT) != ERR_OK) {
		tcp_abort(pcb);
		return -1;
	}
	u->nat_listen = tcp_listen_with_backlog(pcb, 255);
	if (!u->nat_listen) {
		tcp_abort(pcb);
		return -1;
	}
	tcp_arg(u->nat_listen, u);
	tcp_accept(u->nat_listen, on_accept);
	return 0;
}

/* --- hostfwd connections --- */

static err_t on_fwd_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct un_tcp *e = arg;
	if (!e || err != ERR_OK)
		return ERR_OK;
	entry_open(un_tcp_owner, e, pcb);
	/* The guest's side is up; the host's bytes may already wait. */
	aborted_pcb = NULL;
	host_read(un_tcp_owner, e);
	return aborted_pcb == pcb ? ERR_ABRT : ERR_OK;
}

void un_tcp_fwd_start(struct usernet *u, int fd, uint16_t guest_port)
{
	struct un_tcp *e = NULL;
	for (unsigned i = USERNET_MAX_TCP; i < NENTRIES && !e; i++)
		if (u->tcp[i].state == UT_FREE)
			e = &u->tcp[i];
	struct tcp_pcb *pcb = e ? tcp_new() : NULL;
	if (!pcb) {
		u->stats.fwd_refused++;
		close(fd);
		return;
	}
	*e = (struct un_tcp){ .state = UT_CONNECTING, .fwd = true, .fd = fd, .pcb = pcb, .gport = guest_port,
			      .deadline = u->now + USERNET_CONNECT_TIMEOUT_MS };
	tcp_arg(pcb, e);
	tcp_err(pcb, on_err);
	ip_addr_t guest = IPADDR4_INIT(lwip_htonl(u->cfg.guest));
	/* Port 0: lwip picks one of its own, at USERNET_LWIP_PORT_MIN or above. */
	if (tcp_bind(pcb, &u->netif.ip_addr, 0) != ERR_OK ||
	    tcp_connect(pcb, &guest, guest_port, on_fwd_connected) != ERR_OK) {
		e->pcb = NULL;
		pcb_detach(pcb);
		tcp_abort(pcb);
		entry_free(u, e, true);
		u->stats.fwd_refused++;
		return;
	}
	u->stats.fwd_accepted++;
}

/* --- the loop's side --- */

void un_tcp_event(struct usernet *u, unsigned idx, uint32_t events)
{
	if (idx >= NENTRIES || u->tcp[idx].state == UT_FREE)
		return;
	struct un_tcp *e = &u->tcp[idx];
	if (e->state == UT_CONNECTING && !e->fwd) {
		int soerr = 0;
		socklen_t l = sizeof(soerr);
		if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0)
			soerr = errno;
		if (soerr) {
			struct un_ip p;
			if (un_parse_ip(e->syn, e->syn_len, &p) == 0)
				send_rst(u, &p); /* refused, unreachable: as a direct connect would be */
			u->stats.tcp_refused++;
			entry_free(u, e, false);
			return;
		}
		feed_syn(u, e);
		return;
	}
	if (e->state != UT_OPEN) {
		if (events & (EPOLLERR | EPOLLHUP))
			entry_abort(u, e);
		return;
	}
	if ((events & EPOLLOUT) && !flush_to_host(u, e))
		return;
	if (e->state != UT_OPEN || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (!e->host_eof)
		host_read(u, e); /* data, EOF or the error */
	else if (events & (EPOLLHUP | EPOLLERR))
		entry_abort(u, e); /* nothing left to read, and the guest's bytes cannot go */
}

void un_tcp_sweep(struct usernet *u)
{
	for (unsigned i = 0; i < NENTRIES; i++) {
		struct un_tcp *e = &u->tcp[i];
		if (e->state == UT_OPEN && !e->host_eof && !(e->events & EPOLLIN)) {
			/* Waiting for room in lwip: on_sent says when this
			 * connection's segments are acknowledged, but the room
			 * may have been taken by others' (lwip's pools are
			 * shared); look again. */
			tcp_update_events(u, e, false);
			continue;
		}
		if ((e->state != UT_CONNECTING && e->state != UT_SYN_FED) || u->now < e->deadline)
			continue;
		if (e->state == UT_CONNECTING && !e->fwd) {
			struct un_ip p;
			if (un_parse_ip(e->syn, e->syn_len, &p) == 0)
				send_rst(u, &p);
			u->stats.tcp_refused++;
		}
		entry_abort(u, e);
	}
}

void un_tcp_kick_all(struct usernet *u)
{
	for (unsigned i = 0; i < NENTRIES; i++)
		if (u->tcp[i].state == UT_OPEN && u->tcp[i].pcb)
			tcp_output(u->tcp[i].pcb);
}

void un_tcp_close_all(struct usernet *u)
{
	for (unsigned i = 0; i < NENTRIES; i++)
		if (u->tcp[i].state != UT_FREE)
			entry_abort(u, &u->tcp[i]);
	if (u->nat_listen) {
		tcp_close(u->nat_listen);
		u->nat_listen = NULL;
	}
	memset(lingers, 0, sizeof(lingers));
	if (un_tcp_owner == u)
		un_tcp_owner = NULL;
}
