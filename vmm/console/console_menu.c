/* The console's actions that are one screen each: network settings, the
 * admin password, a new certificate, reboot and power-off. Whatever
 * changes something asks first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "console/console.h"

#define PASSWORD_TIMEOUT_MS 300000 /* PBKDF2 under emulation is slow */

/* The stored network settings, in words, on rows from row. */
static int show_network(struct con *c, int row)
{
	struct capi_resp r;
	struct json_doc d;
	struct json_token *tok;
	struct screen *s = &c->scr;
	if (capi_do(c, "GET", "/api/settings", NULL, 5000, &r) != 200 || capi_json(&r, &d, &tok)) {
		capi_free(&r);
		return row;
	}
	int net = json_get(&d, 0, "network");
	char mode[16] = "?", addr[64] = "", gw[64] = "", host[80] = "";
	json_get_string(&d, json_get(&d, net, "mode"), mode, sizeof(mode));
	json_get_string(&d, json_get(&d, net, "address"), addr, sizeof(addr));
	json_get_string(&d, json_get(&d, net, "gateway"), gw, sizeof(gw));
	json_get_string(&d, json_get(&d, 0, "hostname"), host, sizeof(host));
	scr_text(s, row++, 2, A_NORMAL, "Stored settings (used from the next boot):");
	scr_text(s, row++, 4, A_NORMAL, "Mode       %s", mode);
	if (addr[0])
		scr_text(s, row++, 4, A_NORMAL, "Address    %s", addr);
	if (gw[0])
		scr_text(s, row++, 4, A_NORMAL, "Gateway    %s", gw);
	int dns = json_get(&d, net, "dns");
	for (int i = 0; i < json_array_len(&d, dns); i++) {
		char a[64] = "";
		json_get_string(&d, json_array_at(&d, dns, i), a, sizeof(a));
		scr_text(s, row++, 4, A_NORMAL, "DNS        %s", a);
	}
	scr_text(s, row++, 4, A_NORMAL, "Host name  %s", host);
	free(tok);
	capi_free(&r);
	return row;
}

/* PUT /api/settings {"network": ...}; the reply says when it applies. */
static void put_network(struct con *c, bool dhcp, const char *addr, const char *gw, const char *dns)
{
	char body[512], copy[128];
	struct json_writer w;
	json_w_init(&w, body, sizeof(body));
	json_w_begin_object(&w);
	json_w_key(&w, "network");
	json_w_begin_object(&w);
	json_w_key(&w, "mode");
	json_w_string(&w, dhcp ? "dhcp" : "static");
	if (!dhcp) {
		json_w_key(&w, "address");
		json_w_string(&w, addr);
		if (gw[0]) {
			json_w_key(&w, "gateway");
			json_w_string(&w, gw);
		}
		snprintf(copy, sizeof(copy), "%s", dns);
		json_w_key(&w, "dns");
		json_w_begin_array(&w);
		for (char *save, *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save))
			json_w_string(&w, t);
		json_w_end(&w);
	}
	json_w_end(&w);
	json_w_end(&w);
	if (json_w_finish(&w)) {
		ui_msg(c, true, "the settings are too long");
		return;
	}
	struct capi_resp r;
	if (capi_do(c, "PUT", "/api/settings", body, 10000, &r) == 200)
		ui_msg(c, false, "network settings saved; they apply at the next boot (menu 6: reboot)");
	capi_free(&r);
}

void con_network(struct con *c)
{
	struct screen *s = &c->scr;
	for (;;) {
		ui_frame(c, "network settings", "1: DHCP   2: static address   Esc: back");
		int row = show_network(c, 2) + 1;
		scr_text(s, row, 2, A_NORMAL, " 1 DHCP (the default)");
		scr_text(s, row + 1, 2, A_NORMAL, " 2 Static address");
		scr_flush(s);
		int k = con_key(c, 60000);
		if (k == K_ESC || k < 0)
			return;
		if (k == '1') {
			if (ui_confirm(c, "Use DHCP from the next boot?"))
				put_network(c, true, "", "", "");
		} else if (k == '2') {
			char addr[64] = "", gw[64] = "", dns[128] = "";
			c->msg[0] = '\0';
			ui_frame(c, "static address", NULL);
			scr_text(s, 2, 2, A_NORMAL, "Address with prefix (192.168.1.10/24); gateway and DNS may be empty.");
			if (ui_prompt(c, 4, "Address:", addr, sizeof(addr), true) ||
			    ui_prompt(c, 5, "Gateway:", gw, sizeof(gw), true) ||
			    ui_prompt(c, 6, "DNS (up to 2):", dns, sizeof(dns), true)) {
				ui_msg(c, false, "cancelled");
				continue;
			}
			if (ui_confirm(c, "Use %s from the next boot?", addr))
				put_network(c, false, addr, gw, dns);
		}
	}
}

static int post_password(struct con *c, const char *pw)
{
	char body[600];
	struct json_writer w;
	json_w_init(&w, body, sizeof(body));
	json_w_begin_object(&w);
	json_w_key(&w, "password");
	json_w_string(&w, pw);
	json_w_end(&w);
	if (json_w_finish(&w)) {
		ui_msg(c, true, "the password is too long");
		return -1;
	}
	struct capi_resp r;
	int st = capi_do(c, "POST", "/api/auth/reset", body, PASSWORD_TIMEOUT_MS, &r);
	memset(body, 0, sizeof(body));
	capi_free(&r);
	return st == 200 ? 0 : -1;
}

void con_password(struct con *c)
{
	struct screen *s = &c->scr;
	char a[300] = "", b[300] = "";
	ui_frame(c, "admin password", NULL);
	scr_text(s, 2, 2, A_NORMAL, "Set the password of the user \"admin\" (web console and API).");
	scr_text(s, 3, 2, A_NORMAL, "At least 8 characters. Every session logged in with the old one ends.");
	if (ui_prompt(c, 5, "New password:", a, sizeof(a), false) ||
	    ui_prompt(c, 6, "Once more:   ", b, sizeof(b), false)) {
		ui_msg(c, false, "cancelled; the password is unchanged");
	} else if (strcmp(a, b)) {
		ui_msg(c, true, "the two passwords differ; nothing was changed");
	} else {
		scr_text(s, 8, 2, A_BOLD, "Setting the password (hashing takes a moment)...");
		scr_flush(s);
		if (!post_password(c, a))
			ui_msg(c, false, "admin password set; log in at the web console as admin");
	}
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
}

void con_certificate(struct con *c)
{
	ui_frame(c, "certificate", NULL);
	scr_text(&c->scr, 2, 2, A_NORMAL, "A new self-signed certificate for the current names and addresses.");
	scr_text(&c->scr, 3, 2, A_NORMAL, "Browsers will warn again and show the new fingerprint.");
	if (!ui_confirm(c, "Regenerate the HTTPS certificate?"))
		return;
	struct capi_resp r;
	if (capi_do(c, "POST", "/api/settings/certificate/regenerate", NULL, 60000, &r) / 100 == 2)
		ui_msg(c, false, "a new certificate is served; compare its fingerprint above");
	capi_free(&r);
}

void con_power(struct con *c, bool reboot)
{
	ui_frame(c, reboot ? "reboot" : "power off", NULL);
	scr_text(&c->scr, 2, 2, A_NORMAL, "Every VM is stopped first (asked, then forced after its stop timeout).");
	if (!ui_confirm(c, reboot ? "Reboot the appliance?" : "Power the appliance off?"))
		return;
	/* The same as `kvmbox reboot` / `kvmbox poweroff`: a signal to PID 1,
	 * which stops the services (this console too) and the VMs. */
	const struct command *cmd = command_find(reboot ? "reboot" : "poweroff");
	char *argv[] = { (char *)(reboot ? "reboot" : "poweroff"), NULL };
	if (!cmd || cmd->run(1, argv))
		ui_msg(c, true, "could not ask PID 1 (see the messages below)");
	else
		ui_msg(c, false, reboot ? "rebooting..." : "powering off...");
}
