/* The console's home: the status screen and the menu. Refreshed every
 * CON_REFRESH_MS from the local API (GET /api/host, GET /api/vms) and the
 * interfaces' addresses, and at once on any key; any key that is not a
 * menu key also redraws the whole screen (see console.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"

#define MAX_ADDRS 2

struct status {
	int api_err; /* 0, or why the supervisor could not be asked (-errno) */
	char hostname[64], fingerprint[100], setup_code[16];
	bool kvm, iommu, admin_set, persistent;
	long long uptime_s;
	int vms_running, vms_total;
	char addrs[MAX_ADDRS][64];
	int naddrs;
	char url_host[64];
};

static const char *const items[] = {
	"Network settings", "Admin password", "Virtual machines", "Log",
	"Regenerate certificate", "Reboot", "Power off",
};
#define NITEMS ((int)(sizeof(items) / sizeof(items[0])))

/* IPv4 addresses (and global IPv6) of the up interfaces but lo; the
 * management bridge first, since the web console lives there. */
static void status_addrs(struct status *st)
{
	struct ifaddrs *ifa, *i;
	st->naddrs = 0;
	st->url_host[0] = '\0';
	if (getifaddrs(&ifa))
		return;
	for (int pass = 0; pass < 2; pass++)
		for (i = ifa; i && st->naddrs < MAX_ADDRS; i = i->ifa_next) {
			if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if ((pass == 0) != !strcmp(i->ifa_name, "kvbr0"))
				continue;
			char a[INET6_ADDRSTRLEN];
			int prefix = 0;
			if (i->ifa_addr->sa_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
				uint32_t m = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
				prefix = __builtin_popcount(m);
			} else if (i->ifa_addr->sa_family == AF_INET6) {
				struct in6_addr *a6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
				if (IN6_IS_ADDR_LINKLOCAL(a6))
					continue;
				inet_ntop(AF_INET6, a6, a, sizeof(a));
				struct in6_addr *m6 = &((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr;
				for (int b = 0; b < 16; b++)
					prefix += __builtin_popcount(m6->s6_addr[b]);
			} else {
				continue;
			}
			snprintf(st->addrs[st->naddrs++], sizeof(st->addrs[0]), "%s/%d (%s)", a, prefix, i->ifa_name);
			if (!st->url_host[0])
				snprintf(st->url_host, sizeof(st->url_host),
					 i->ifa_addr->sa_family == AF_INET6 ? "[%s]" : "%s", a);
		}
	freeifaddrs(ifa);
}

static void status_host(struct status *st, const char *sock)
{
	struct capi_resp r;
	struct json_doc d;
	struct json_token *tok;
	st->api_err = capi_call(sock, "GET", "/api/host", NULL, NULL, 0, 5000, &r);
	if (st->api_err)
		return;
	if (r.status != 200 || capi_json(&r, &d, &tok)) {
		st->api_err = -EPROTO;
		capi_free(&r);
		return;
	}
	json_get_string(&d, json_get(&d, 0, "hostname"), st->hostname, sizeof(st->hostname));
	json_get_bool(&d, json_get(&d, 0, "kvm"), &st->kvm);
	json_get_bool(&d, json_get(&d, 0, "iommu"), &st->iommu);
	int64_t up = -1;
	json_get_int64(&d, json_get(&d, 0, "uptime_s"), &up);
	st->uptime_s = up;
	st->persistent = true;
	json_get_bool(&d, json_get(&d, json_get(&d, 0, "state"), "persistent"), &st->persistent);
	json_get_string(&d, json_get(&d, json_get(&d, 0, "tls"), "sha256_fingerprint"), st->fingerprint,
			sizeof(st->fingerprint));
	int au = json_get(&d, 0, "auth");
	st->admin_set = true;
	json_get_bool(&d, json_get(&d, au, "admin_set"), &st->admin_set);
	json_get_string(&d, json_get(&d, au, "setup_code"), st->setup_code, sizeof(st->setup_code));
	free(tok);
	capi_free(&r);

	st->vms_total = st->vms_running = 0;
	if (capi_call(sock, "GET", "/api/vms", NULL, NULL, 0, 5000, &r))
		return;
	if (r.status == 200 && !capi_json(&r, &d, &tok)) {
		int arr = json_get(&d, 0, "vms");
		int n = json_array_len(&d, arr);
		for (int i = 0; i < n; i++) {
			int vm = json_array_at(&d, arr, i);
			st->vms_total++;
			st->vms_running += json_streq(&d, json_get(&d, vm, "state"), "running");
		}
		free(tok);
	}
	capi_free(&r);
}

static void status_draw(struct con *c, const struct status *st, int sel)
{
	struct screen *s = &c->scr;
	char title[96];
	snprintf(title, sizeof(title), "%s", st->hostname[0] ? st->hostname : "status");
	ui_frame(c, title, "Up/Down or 1-7: choose   Enter: open   any other key: redraw");
	if (st->uptime_s >= 0) {
		char up[40];
		snprintf(up, sizeof(up), "up %lldd %02lldh %02lldm ", st->uptime_s / 86400, st->uptime_s / 3600 % 24,
			 st->uptime_s / 60 % 60);
		scr_text(s, 0, s->cols - (int)strlen(up), A_REV, "%s", up);
	}
	int row = 2;
	if (!st->naddrs)
		scr_text(s, row++, 2, A_NORMAL, "Address       none yet (DHCP keeps asking)");
	for (int i = 0; i < st->naddrs; i++)
		scr_text(s, row++, 2, A_NORMAL, "%s %s", i ? "             " : "Address      ", st->addrs[i]);
	scr_text(s, row++, 2, A_NORMAL, "Web console   %s%s%s", st->url_host[0] ? "https://" : "",
		 st->url_host[0] ? st->url_host : "none until there is an address", st->url_host[0] ? "/" : "");
	/* 32 bytes as AB:CD:..: 95 characters, in two rows of 16 bytes. */
	const char *fp = st->fingerprint;
	if (strlen(fp) == 95) {
		scr_text(s, row++, 2, A_NORMAL, "Certificate   SHA-256 %.47s", fp);
		scr_text(s, row++, 2, A_NORMAL, "                      %.47s", fp + 48);
	} else {
		scr_text(s, row++, 2, A_NORMAL, "Certificate   SHA-256 %s", fp[0] ? fp : "?");
	}
	scr_text(s, row++, 2, A_NORMAL, "KVM           %-10s IOMMU  %s", st->kvm ? "yes" : "NO", st->iommu ? "on" : "off");
	scr_text(s, row++, 2, A_NORMAL, "VMs           %d running of %d", st->vms_running, st->vms_total);
	/* The menu sits just above the help row; the warnings get what is
	 * left between (three on an 80x24 terminal). */
	int mrows = (NITEMS + 1) / 2, top = s->body - 2 - mrows;
	row++;
	char warn[4][120];
	int nw = 0;
	if (st->api_err)
		snprintf(warn[nw++], sizeof(warn[0]), "! The supervisor does not answer on %s: %s", c->sock,
			 strerror(-st->api_err));
	if (!st->api_err && !st->admin_set)
		snprintf(warn[nw++], sizeof(warn[0]), "! No admin password yet: setup code %s, or choose one with 2",
			 st->setup_code[0] ? st->setup_code : "(none)");
	if (!st->api_err && !st->persistent)
		snprintf(warn[nw++], sizeof(warn[0]), "! No data partition: state is in RAM, lost at power-off");
	if (!st->api_err && !st->kvm)
		snprintf(warn[nw++], sizeof(warn[0]), "! No /dev/kvm: VMs cannot start (enable VT-x/AMD-V)");
	for (int i = 0; i < nw && row < top; i++) /* the most important first */
		scr_text(s, row++, 2, A_BOLD, "%s", warn[i]);
	for (int i = 0; i < NITEMS; i++) {
		int r = top + i % mrows, col = i < mrows ? 2 : 40;
		scr_text(s, r, col, i == sel ? A_REV : A_NORMAL, " %d %-26s", i + 1, items[i]);
	}
}

static void run_item(struct con *c, int i)
{
	c->msg[0] = '\0';
	switch (i) {
	case 0: con_network(c); break;
	case 1: con_password(c); break;
	case 2: con_vms(c); break;
	case 3: con_log(c); break;
	case 4: con_certificate(c); break;
	case 5: con_power(c, true); break;
	case 6: con_power(c, false); break;
	default: break;
	}
}

int con_home(struct con *c)
{
	static struct status st;
	int sel = 0;
	uint64_t next = 0, full = con_now_ms() + CON_FULL_REDRAW_MS;
	for (;;) {
		uint64_t now = con_now_ms();
		if (now >= next) {
			status_addrs(&st);
			status_host(&st, c->sock);
			next = now + CON_REFRESH_MS;
		}
		if (now >= full) {
			/* Mends a row that a message printed mid-draw landed on,
			 * and keeps the recent messages in view. */
			scr_touch(&c->scr);
			full = now + CON_FULL_REDRAW_MS;
		}
		status_draw(c, &st, sel);
		scr_flush(&c->scr);
		int k = con_key(c, (int)(next - con_now_ms() > CON_REFRESH_MS ? 0 : next - con_now_ms()));
		if (k <= 0)
			continue;
		next = 0; /* a key: fresh facts at once */
		if (k == K_UP || k == K_LEFT)
			sel = (sel + NITEMS - 1) % NITEMS;
		else if (k == K_DOWN || k == K_RIGHT)
			sel = (sel + 1) % NITEMS;
		else if (k == K_ENTER)
			run_item(c, sel);
		else if (k >= '1' && k < '1' + NITEMS)
			run_item(c, sel = k - '1');
		else
			scr_invalidate(&c->scr);
	}
}
