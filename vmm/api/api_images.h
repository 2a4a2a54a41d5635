/* Disk images under STATE/images: private to api_images.c (list, info,
 * delete) and api_images_upload.c (PUT, streamed).
 *
 * In the directory, NAME is an image; .NAME.part an upload in progress,
 * removed when the upload fails or its client goes away; .NAME.sha256 the
 * image's SHA-256 and size, written after the image is in place, so that a
 * crash between the two leaves an image whose sum is unknown, never one with
 * a wrong sum. Image names never start with '.', so these files never clash
 * with an image, and a name cannot climb out of the directory.
 */
#ifndef KVMBOX_API_IMAGES_H
#define KVMBOX_API_IMAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "auth/auth.h"

#define IMAGES_DIR "images"
#define IMAGE_NAME_MAX 128

/* An upload in progress; the list is what GET shows as "uploading". */
struct image_upload {
	struct image_upload *next;
	char name[IMAGE_NAME_MAX + 1];
	uint64_t received, expected;
	/* The rest is api_images_upload.c's. */
	int dirfd, fd;            /* STATE/images, and .NAME.part in it */
	bool replace;             /* ?replace=1: an existing image may go */
	bool in_ram;              /* the state directory is in RAM */
	bool check;               /* the client gave a SHA-256 to compare */
	uint8_t want[32];
	struct auth_sha256 *hash; /* of what was received so far */
};

/* Uploads in progress. The server has one thread, so no lock. */
extern struct image_upload *image_uploads;
const struct image_upload *image_upload_find(const char *name);

/* The {name} parameter, checked, into out (NUL-terminated). 0, or -EINVAL
 * with a 400 in resp that says which names are allowed. */
int image_name_param(const struct http_params *params, struct http_response *resp, char out[IMAGE_NAME_MAX + 1]);
/* STATE/images, created if missing: a directory fd, or -errno. */
int images_dir_open(const struct api_ctx *a);
/* Record an image's SHA-256 and size in its .NAME.sha256 (atomically; the
 * caller fsyncs the directory). 0 or -errno. */
int image_sum_write(int dirfd, const char *name, const uint8_t sum[32], uint64_t size);
/* Remove .NAME.sha256 (none is fine). 0 or -errno. */
int image_sum_remove(int dirfd, const char *name);
/* Write the 64 hex digits of sum and a NUL to hex. */
void image_sum_hex(const uint8_t sum[32], char hex[65]);

#endif
