/* The appliance's settings, STATE/settings.json:
 *
 *   {"version": 1,
 *    "network": {"mode": "dhcp"}
 *             | {"mode": "static", "address": "192.168.1.10/24",
 *                "gateway": "192.168.1.1", "dns": ["192.168.1.1"]},
 *    "hostname": "kvmbox"}
 *
 * The supervisor writes it (PUT /api/settings, vmm/api/api_settings.c); PID 1
 * reads it at boot (initramfs/net_settings.c), so a change takes effect at
 * the next boot. Both read it with settings_parse(), which checks every
 * field: the file sits on a partition anyone with the USB stick can edit,
 * and the API body comes from the network. No mbedtls here: the host unit
 * tests and the fuzzer build this file.
 */
#ifndef KVMBOX_SETTINGS_H
#define KVMBOX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SETTINGS_FILE "settings.json"
#define SETTINGS_VERSION 1
#define SETTINGS_MAX_BYTES 8192  /* of the file or a PUT body */
#define SETTINGS_MAX_TOKENS 64
#define SETTINGS_DNS_MAX 2       /* what PID 1's network code takes */
#define SETTINGS_HOSTNAME_MAX 63 /* sethostname() takes 64 bytes with the NUL */
#define SETTINGS_JSON_MAX 1024   /* settings_format() output, with room to spare */

struct settings {
	bool net_static;               /* false: DHCP */
	uint32_t addr, gw;             /* network byte order; gw 0 = none */
	int prefix;                    /* 1..32 */
	uint32_t dns[SETTINGS_DNS_MAX]; /* network byte order */
	int ndns;
	char hostname[SETTINGS_HOSTNAME_MAX + 1];
};

/* DHCP, hostname "kvmbox": what the appliance does without a settings file. */
void settings_default(struct settings *s);

/* Parse text[0..len) over s, which holds the current settings: members that
 * are present replace what s has ("network" as a whole), absent ones keep
 * it. With need_version (the file), "version" must be there; otherwise (an
 * API body) it may be left out. Returns 0; -EINVAL with why naming the field;
 * -EPROTONOSUPPORT when "version" is newer than SETTINGS_VERSION. s is left
 * unchanged on any error. */
int settings_parse(const char *text, size_t len, bool need_version, struct settings *s, char *why,
		   size_t why_size);

/* Serialize s (with "version") into buf. Returns the length, or -ENOSPC. */
int settings_format(const struct settings *s, char *buf, size_t size);

/* RFC 1123 host name (dotted labels of letters, digits and '-', no label
 * starting or ending with '-'), at most SETTINGS_HOSTNAME_MAX bytes. */
bool settings_hostname_ok(const char *name);

#endif
