/* The supervisor's state directory: /data/kvmbox on the data partition, or
 * /run/kvmbox (RAM) when there is none.
 *
 * Each file is replaced atomically: the new content goes to a temporary file
 * in the same directory, is fsynced, renamed over the old name, and the
 * directory is fsynced, so a power cut leaves the old file or the new one,
 * never a mix. The previous version stays as NAME.1, so a bad change can be
 * undone by hand.
 */
#ifndef KVMBOX_STATE_H
#define KVMBOX_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define STATE_DEFAULT_DIR "/data/kvmbox"
#define STATE_RAM_DIR "/run/kvmbox"
#define STATE_DATA_MOUNT "/data"

/* mkdir -p with mode for the directories it creates. 0 or -errno. */
int state_mkdirs(const char *path, mode_t mode);

/* Replace dir/name with data[0..len) as described above. 0 or -errno. */
int state_write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode);

/* fsync a directory, so a rename or unlink in it survives a power cut. */
int state_sync_dir(const char *dir);

/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer. -EFBIG if it is larger; -ENOENT etc. from open. */
int state_read_file(const char *path, size_t max, char **data, size_t *len);

/* Pick the state directory: requested if not NULL, else STATE_DEFAULT_DIR
 * when /data is a mounted file system, else STATE_RAM_DIR (*in_ram set).
 * Creates it. 0 or -errno. */
int state_choose_dir(const char *requested, char *out, size_t size, bool *in_ram);

#endif
