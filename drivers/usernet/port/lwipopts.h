/*
 * lwip options for kvmbox's user-mode network backend (drivers/usernet/).
 *
 * One thread (the backend's event loop) drives lwip, so NO_SYS=1: no lwip
 * threads, no locks, raw/tcp/udp callback APIs only. The stack's user
 * provides sys_now() and calls sys_check_timeouts() from its loop.
 *
 * All memory comes from fixed pools sized here (no malloc), so a guest can
 * exhaust its own backend's pools and nothing else. The library in the
 * sysroot is built with this file; changing it rebuilds the sysroot.
 */
#ifndef KVMBOX_LWIPOPTS_H
#define KVMBOX_LWIPOPTS_H

#define NO_SYS                          1
#define SYS_LIGHTWEIGHT_PROT            0
#define LWIP_SOCKET                     0
#define LWIP_NETCONN                    0
#define LWIP_NETIF_API                  0

/* Protocols. The backend is the guest's gateway: it answers ARP and ping
 * and terminates the guest's TCP and UDP. DHCP and DNS are served by the
 * backend itself on UDP, so lwip's clients are off. */
#define LWIP_ETHERNET                   1
#define LWIP_ARP                        1
#define LWIP_IPV4                       1
#define LWIP_IPV6                       1
#define LWIP_ICMP                       1
#define LWIP_RAW                        1
#define LWIP_UDP                        1
#define LWIP_TCP                        1
#define LWIP_DHCP                       0
#define LWIP_AUTOIP                     0
#define LWIP_DNS                        0
#define LWIP_IGMP                       0
#define LWIP_IPV6_DHCP6                 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT   0   /* we are the router */
#define LWIP_HAVE_LOOPIF                0
#define LWIP_NETIF_LOOPBACK             0
#define LWIP_STATS                      0
/* One contiguous pbuf per frame handed to linkoutput: the virtio-net side
 * copies it into one descriptor chain without walking a pbuf list. */
#define LWIP_NETIF_TX_SINGLE_PBUF       1
/* On a 64-bit host lwip's IPv6 reassembly helper (two pointers) does not
 * fit in the fragment header it would overlay: without a copy, its timer
 * asserts a second after start. */
#define IPV6_FRAG_COPYHEADER            1

/* Memory: static pools only. */
#define MEM_LIBC_MALLOC                 0
#define MEMP_MEM_MALLOC                 0
#define MEM_ALIGNMENT                   8
#define MEM_SIZE                        (1024 * 1024) /* heap for outgoing TCP data */
#define PBUF_POOL_SIZE                  256           /* received frames in flight */
#define MEMP_NUM_PBUF                   64            /* pbufs that point at ROM/guest data */
#define MEMP_NUM_RAW_PCB                4
#define MEMP_NUM_UDP_PCB                32            /* concurrent guest UDP flows */
/* Concurrent TCP connections, TIME_WAIT included: above usernet.h's
 * USERNET_MAX_TCP + USERNET_MAX_FWD_CONNS, so a guest that opens as many as
 * it may never makes lwip reclaim (abort) a live connection. */
#define MEMP_NUM_TCP_PCB                256
#define MEMP_NUM_TCP_PCB_LISTEN         8
#define MEMP_NUM_REASSDATA              8
#define MEMP_NUM_FRAG_PBUF              16
#define ARP_TABLE_SIZE                  16

/* TCP: a full-sized MSS for a 1500-byte MTU. The receive window is the
 * largest without window scaling (44 segments): the guest's sender stops
 * once a window is in flight, and each stop costs a round trip through the
 * guest's interrupt and the VMM's loop, so the wider the window, the more
 * segments per batch (usernet_tcp.c acknowledges once per batch). Each
 * connection buffers at most one window (usernet.h's USERNET_TCP_BUF). */
#define TCP_MSS                         1460
#define TCP_WND                         (44 * TCP_MSS)
#define TCP_SND_BUF                     (16 * TCP_MSS)
#define TCP_SND_QUEUELEN                (4 * TCP_SND_BUF / TCP_MSS)
/* Out-of-order segments a guest can make one connection hold (each pins a
 * pool pbuf): bounded, so one connection cannot take the whole pool. */
#define TCP_OOSEQ_MAX_PBUFS             8
#define TCP_OOSEQ_MAX_BYTES             (8 * TCP_MSS)
/* Segments are shared by all connections; lwip refuses to build unless one
 * connection can fill its whole send queue (>= TCP_SND_QUEUELEN). */
#define MEMP_NUM_TCP_SEG                512

#if MEMP_NUM_TCP_SEG < TCP_SND_QUEUELEN
#error "MEMP_NUM_TCP_SEG must be at least TCP_SND_QUEUELEN"
#endif

#endif
