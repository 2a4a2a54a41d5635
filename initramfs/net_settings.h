/* PID 1's side of STATE/settings.json (vmm/api/settings.h): the network and
 * host name that PUT /api/settings stored, applied at boot. */
#ifndef KVMBOX_NET_SETTINGS_H
#define KVMBOX_NET_SETTINGS_H

#include <stddef.h>

#include "net.h"

/* Where the supervisor keeps its state when the data partition is mounted. */
#define NET_SETTINGS_DIR "/data/kvmbox"

/* Read state_dir/settings.json. Its host name is set with sethostname()
 * (and goes into out->hostname, for DHCP, unless that is set already); its
 * network replaces out's mode and addresses, unless out is NULL: the kernel
 * command line's ip= wins, and then the caller passes NULL. Returns 1 when
 * the file was applied, 0 when there is none, -errno with why filled when it
 * cannot be used (out is then unchanged). */
int net_settings_load(const char *state_dir, struct net_config *out, char *why, size_t why_size);

#endif
