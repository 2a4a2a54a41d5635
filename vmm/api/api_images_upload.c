/* PUT /api/images/{name}: an image upload, streamed to disk.
 *
 * The route's head function runs when the request head is in, after the
 * auth gate and before any body byte is read: it checks the name and the
 * options, refuses what would fail anyway (a name in use, too little space)
 * and opens .NAME.part with O_EXCL. The body then goes through the sink a
 * chunk at a time, into the file and into SHA-256, so an image of many
 * gigabytes costs one buffer. At the end the sum is compared with what the
 * client sent, the file is fsynced and renamed into place, and the sum is
 * recorded. Any failure, or a client that goes away, removes the part file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "api/api_images.h"
#include "log.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 64 hex digits (either case) into 32 bytes. 0 or -EINVAL. */
static int parse_sum(const char *p, size_t n, uint8_t out[32])
{
	if (n != 64)
		return -EINVAL;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The options: ?sha256=HEX, ?replace=1, and the X-Checksum-SHA256 header.
 * 0, or -EINVAL with a 400 in resp. */
static int upload_options(const struct http_request *req, struct image_upload *u, struct http_response *resp)
{
	const char *q = req->query.p, *end = q + req->query.len;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(pe - q));
		struct http_str key = { q, (size_t)((eq ? eq : pe) - q) };
		struct http_str val = { eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0 };
		if (http_str_eq(key, "sha256")) {
			if (parse_sum(val.p, val.len, u->want)) {
				http_resp_error(resp, 400, "sha256 must be the image's SHA-256 as 64 hex digits");
				return -EINVAL;
			}
			u->check = true;
		} else if (http_str_eq(key, "replace")) {
			if (!http_str_eq(val, "1") && !http_str_eq(val, "0")) {
				http_resp_error(resp, 400, "replace must be 1 (replace an existing image) or 0");
				return -EINVAL;
			}
			u->replace = http_str_eq(val, "1");
		} else if (key.len) {
			http_resp_error(resp, 400, "unknown query parameter \"%.*s\": an upload takes sha256=HEX and "
					"replace=1", (int)(key.len > 32 ? 32 : key.len), key.p);
			return -EINVAL;
		}
		q = pe + 1;
	}
	const struct http_str *h = http_header_get(req, "X-Checksum-SHA256");
	if (h) {
		uint8_t sum[32];
		if (parse_sum(h->p, h->len, sum)) {
			http_resp_error(resp, 400, "X-Checksum-SHA256 must be the image's SHA-256 as 64 hex digits");
			return -EINVAL;
		}
		if (u->check && memcmp(sum, u->want, 32)) {
			http_resp_error(resp, 400, "X-Checksum-SHA256 and ?sha256= disagree; send one of them");
			return -EINVAL;
		}
		memcpy(u->want, sum, 32);
		u->check = true;
	}
	return 0;
}

static void part_name(const struct image_upload *u, char *out, size_t size)
{
	snprintf(out, size, ".%s.part", u->name);
}

/* Create .NAME.part. A part file that no upload of ours owns is left from a
 * supervisor that died mid-upload: it goes. */
static int part_open(struct image_upload *u)
{
	char part[IMAGE_NAME_MAX + 16];
	part_name(u, part, sizeof(part));
	for (int tries = 0; tries < 2; tries++) {
		u->fd = openat(u->dirfd, part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (u->fd >= 0)
			return 0;
		if (errno != EEXIST || unlinkat(u->dirfd, part, 0))
			break;
		log_info("images: removed %s, left from an upload that never ended", part);
	}
	return -errno;
}

/* Free u and everything it holds; remove the part file unless keep. */
static void upload_free(struct image_upload *u, bool keep)
{
	for (struct image_upload **pp = &image_uploads; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	if (u->fd >= 0)
		close(u->fd);
	if (!keep) {
		char part[IMAGE_NAME_MAX + 16];
		part_name(u, part, sizeof(part));
		unlinkat(u->dirfd, part, 0);
	}
	if (u->hash)
		auth_sha256_end(u->hash, NULL);
	if (u->dirfd >= 0)
		close(u->dirfd);
	free(u);
}

/* Would the image fit? Refused at the start rather than after gigabytes. */
static int space_check(const struct image_upload *u, const struct api_ctx *a, struct http_response *resp)
{
	struct statvfs vfs;
	if (fstatvfs(u->dirfd, &vfs))
		return 0; /* cannot tell: the writes will say */
	uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (u->expected <= avail)
		return 0;
	http_resp_error(resp, 507, "not enough space for %s: it is %llu bytes, and %s has %llu bytes free%s", u->name,
			(unsigned long long)u->expected, a->state_dir, (unsigned long long)avail,
			a->state_in_ram ? " (the state directory is in RAM)" : "");
	return -ENOSPC;
}

/* Everything up to the first body byte. 0 with *out, or -1 with resp
 * filled. */
static int upload_begin(const struct http_request *req, const struct http_params *params,
			struct http_response *resp, const struct api_ctx *a, struct image_upload **out)
{
	struct image_upload *u = calloc(1, sizeof(*u));
	if (!u) {
		http_resp_error(resp, 503, "the server is out of memory");
		return -1;
	}
	u->fd = u->dirfd = -1;
	u->expected = req->content_length;
	u->in_ram = a->state_in_ram;
	if (image_name_param(params, resp, u->name) || upload_options(req, u, resp))
		goto fail;
	if (u->expected > HTTP_UPLOAD_MAX) { /* the server would refuse it too; say so before the space check */
		http_resp_error(resp, 413, "an image upload is at most %llu GiB", HTTP_UPLOAD_MAX >> 30);
		goto fail;
	}
	if (image_upload_find(u->name)) {
		http_resp_error(resp, 409, "%s is being uploaded already; wait for that upload to end", u->name);
		goto fail;
	}
	if ((u->dirfd = images_dir_open(a)) < 0) {
		http_resp_error(resp, 500, "the image directory %s/%s cannot be opened: %s", a->state_dir, IMAGES_DIR,
				strerror(-u->dirfd));
		goto fail;
	}
	struct stat st;
	if (fstatat(u->dirfd, u->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) {
			http_resp_error(resp, 409, "%s exists in the image directory and is not a file", u->name);
			goto fail;
		}
		if (!u->replace) {
			http_resp_error(resp, 409, "there is an image named %s already; add ?replace=1 to replace it",
					u->name);
			goto fail;
		}
	}
	if (space_check(u, a, resp))
		goto fail;
	int r = part_open(u);
	if (r) {
		http_resp_error(resp, 500, "cannot create the upload's file in %s/%s: %s", a->state_dir, IMAGES_DIR,
				strerror(-r));
		goto fail;
	}
	if (!(u->hash = auth_sha256_begin())) {
		http_resp_error(resp, 503, "the server is out of memory");
		upload_free(u, false);
		return -1;
	}
	u->next = image_uploads;
	image_uploads = u;
	*out = u;
	return 0;
fail:
	upload_free(u, true); /* no part file yet: one there belongs to another upload */
	return -1;
}

static int upload_data(void *arg, const char *p, size_t len)
{
	struct image_upload *u = arg;
	auth_sha256_add(u->hash, p, len);
	u->received += len;
	while (len) {
		ssize_t n = write(u->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void upload_error(struct image_upload *u, int err, struct http_response *resp)
{
	if (err == -ENOSPC || err == -EDQUOT)
		http_resp_error(resp, 507, "the disk filled up while %s was uploaded; nothing was stored", u->name);
	else
		http_resp_error(resp, 500, "writing %s failed (%s); nothing was stored", u->name, strerror(-err));
	log_warn("images: upload of %s failed after %llu bytes: %s", u->name, (unsigned long long)u->received,
		 strerror(-err));
}

/* The part file holds the whole image: put it in place as NAME. */
static int upload_commit(struct image_upload *u, const uint8_t sum[32], struct http_response *resp)
{
	char part[IMAGE_NAME_MAX + 16];
	part_name(u, part, sizeof(part));
	if (fsync(u->fd)) {
		upload_error(u, -errno, resp);
		return -1;
	}
	close(u->fd);
	u->fd = -1;
	/* The old sum goes first: a crash from here on leaves no sum rather
	 * than the old image's. */
	image_sum_remove(u->dirfd, u->name);
	if (u->replace) {
		if (renameat(u->dirfd, part, u->dirfd, u->name)) {
			upload_error(u, -errno, resp);
			return -1;
		}
	} else {
		/* link, not rename: it fails if an image of this name appeared
		 * meanwhile, where rename would replace it. */
		if (linkat(u->dirfd, part, u->dirfd, u->name, 0)) {
			if (errno == EEXIST)
				http_resp_error(resp, 409, "an image named %s appeared during the upload; add "
						"?replace=1 to replace it", u->name);
			else
				upload_error(u, -errno, resp);
			return -1;
		}
		unlinkat(u->dirfd, part, 0);
	}
	int r = image_sum_write(u->dirfd, u->name, sum, u->received);
	if (r)
		log_warn("images: cannot record the SHA-256 of %s: %s", u->name, strerror(-r));
	fsync(u->dirfd); /* the new name survives a power cut */
	return 0;
}

static void upload_finish(void *arg, int err, struct http_response *resp)
{
	struct image_upload *u = arg;
	uint8_t sum[32];
	char hex[65], want[65];
	auth_sha256_end(u->hash, sum);
	u->hash = NULL;
	image_sum_hex(sum, hex);
	if (err) {
		upload_error(u, err, resp);
		upload_free(u, false);
		return;
	}
	if (u->check && memcmp(sum, u->want, 32)) {
		image_sum_hex(u->want, want);
		http_resp_error(resp, 422, "the upload's SHA-256 is %s, not %s as the client said; the data was "
				"damaged on the way or it is another file; nothing was stored", hex, want);
		log_warn("images: upload of %s refused: SHA-256 mismatch", u->name);
		upload_free(u, false);
		return;
	}
	if (upload_commit(u, sum, resp)) {
		upload_free(u, false);
		return;
	}
	log_info("images: %s stored, %llu bytes, SHA-256 %s", u->name, (unsigned long long)u->received, hex);
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, 512)) {
		http_resp_error(resp, 503, "the image was stored, but the server is out of memory for the reply");
	} else {
		json_w_begin_object(&w);
		json_w_key(&w, "name");
		json_w_string(&w, u->name);
		json_w_key(&w, "size");
		json_w_uint(&w, u->received);
		json_w_key(&w, "sha256");
		json_w_string(&w, hex);
		json_w_key(&w, "in_ram");
		json_w_bool(&w, u->in_ram);
		json_w_end(&w);
		http_resp_json_end(resp, &w, 201);
	}
	upload_free(u, true);
}

static void upload_abort(void *arg)
{
	struct image_upload *u = arg;
	log_info("images: upload of %s ended after %llu of %llu bytes; removed", u->name,
		 (unsigned long long)u->received, (unsigned long long)u->expected);
	upload_free(u, false);
}

static const struct http_body_sink upload_sink = {
	.data = upload_data,
	.finish = upload_finish,
	.abort = upload_abort,
};

void api_images_put_head(const struct http_request *req, const struct http_params *params,
			 struct http_response *resp, void *ctx)
{
	struct image_upload *u;
	if (upload_begin(req, params, resp, ctx, &u) == 0)
		http_resp_stream(resp, &upload_sink, u);
}

/* The body is whole in memory: only where no head function ran (a server
 * that does not stream); the same steps in one go. */
void api_images_put(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx)
{
	struct image_upload *u;
	if (upload_begin(req, params, resp, ctx, &u))
		return;
	upload_finish(u, upload_data(u, req->body.p, req->body.len), resp);
}
