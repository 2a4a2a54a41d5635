/* /api/images: list, look at and delete disk images in STATE/images; the
 * uploads are api_images_upload.c. See api_images.h for the layout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_images.h"
#include "log.h"

#define IMAGES_LIST_MAX 4096 /* entries in one listing; each is a file the admin put there */
#define IMAGE_JSON_MAX 512   /* one entry's JSON, generously */

struct image_upload *image_uploads;

const struct image_upload *image_upload_find(const char *name)
{
	for (const struct image_upload *u = image_uploads; u; u = u->next)
		if (!strcmp(u->name, name))
			return u;
	return NULL;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

/* The name as it is in the URL: no percent-decoding, so "%2e%2e%2f" is
 * refused for its '%' and can never become "../". */
static bool name_ok(const char *p, size_t n)
{
	if (n == 0 || n > IMAGE_NAME_MAX || p[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(p[i]))
			return false;
	return true;
}

int image_name_param(const struct http_params *params, struct http_response *resp, char out[IMAGE_NAME_MAX + 1])
{
	const struct http_str *n = http_param(params, "name");
	if (!n || !name_ok(n->p, n->len)) {
		size_t shown = n ? (n->len > 64 ? 64 : n->len) : 0;
		http_resp_error(resp, 400, "\"%.*s%s\" is not an image name: names are 1 to %d characters of A-Z, "
				"a-z, 0-9, '.', '_' and '-', and do not start with '.'",
				(int)shown, n ? n->p : "", n && n->len > shown ? "..." : "", IMAGE_NAME_MAX);
		return -EINVAL;
	}
	memcpy(out, n->p, n->len);
	out[n->len] = '\0';
	return 0;
}

int images_dir_open(const struct api_ctx *a)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", a->state_dir, IMAGES_DIR) >= sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void image_sum_hex(const uint8_t sum[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[sum[i] >> 4];
		hex[2 * i + 1] = digits[sum[i] & 15];
	}
	hex[64] = '\0';
}

int image_sum_write(int dirfd, const char *name, const uint8_t sum[32], uint64_t size)
{
	char tmp[IMAGE_NAME_MAX + 16], final[IMAGE_NAME_MAX + 16], line[96], hex[65];
	snprintf(tmp, sizeof(tmp), ".%s.sha256.tmp", name);
	snprintf(final, sizeof(final), ".%s.sha256", name);
	image_sum_hex(sum, hex);
	int len = snprintf(line, sizeof(line), "%s %llu\n", hex, (unsigned long long)size);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (write(fd, line, (size_t)len) != len || fsync(fd))
		r = errno ? -errno : -EIO;
	close(fd);
	if (!r && renameat(dirfd, tmp, dirfd, final))
		r = -errno;
	if (r)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int image_sum_remove(int dirfd, const char *name)
{
	char side[IMAGE_NAME_MAX + 16];
	snprintf(side, sizeof(side), ".%s.sha256", name);
	return unlinkat(dirfd, side, 0) && errno != ENOENT ? -errno : 0;
}

/* The recorded SHA-256 of an image of this size, or false: none recorded,
 * or it is for another version of the file (changed by hand). */
static bool image_sum_read(int dirfd, const char *name, uint64_t size, char hex[65])
{
	char side[IMAGE_NAME_MAX + 16], line[128];
	snprintf(side, sizeof(side), ".%s.sha256", name);
	int fd = openat(dirfd, side, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < 66)
		return false;
	line[n] = '\0';
	unsigned long long recorded;
	char *end;
	for (int i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", line[i]) || !line[i])
			return false;
	if (line[64] != ' ')
		return false;
	recorded = strtoull(line + 65, &end, 10);
	if (*end != '\n' || recorded != size)
		return false;
	memcpy(hex, line, 64);
	hex[64] = '\0';
	return true;
}

/* One image as a JSON object: what is on disk and, while it uploads, the
 * progress; with in_ram when not NULL. Returns false (and writes nothing)
 * if there is neither. */
static bool image_json(struct json_writer *w, int dirfd, const char *name, const bool *in_ram)
{
	const struct image_upload *u = image_upload_find(name);
	struct stat st;
	bool file = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	if (!file && !u)
		return false;
	json_w_begin_object(w);
	json_w_key(w, "name");
	json_w_string(w, name);
	if (file) {
		char hex[65];
		json_w_key(w, "size");
		json_w_uint(w, (uint64_t)st.st_size);
		if (image_sum_read(dirfd, name, (uint64_t)st.st_size, hex)) {
			json_w_key(w, "sha256");
			json_w_string(w, hex);
		}
		json_w_key(w, "modified");
		json_w_int(w, (int64_t)st.st_mtime);
	}
	json_w_key(w, "uploading");
	json_w_bool(w, u != NULL);
	if (u) {
		json_w_key(w, "received");
		json_w_uint(w, u->received);
		json_w_key(w, "expected");
		json_w_uint(w, u->expected);
	}
	if (in_ram) {
		json_w_key(w, "in_ram");
		json_w_bool(w, *in_ram);
	}
	json_w_end(w);
	return true;
}

static int dir_error(struct http_response *resp, const struct api_ctx *a, int fd)
{
	if (fd >= 0)
		return 0;
	log_error("images: cannot open %s/%s: %s", a->state_dir, IMAGES_DIR, strerror(-fd));
	http_resp_error(resp, 500, "the image directory %s/%s cannot be opened: %s", a->state_dir, IMAGES_DIR,
			strerror(-fd));
	return -1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names to list: images on disk and uploads in progress, sorted, each
 * once. *n of them in a malloc'd array of malloc'd strings. */
static int list_names(int dirfd, char ***out, size_t *n)
{
	char **names = calloc(IMAGES_LIST_MAX, sizeof(*names));
	size_t k = 0;
	int dup_fd = dup(dirfd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!names || !d) {
		int e = errno ? -errno : -ENOMEM;
		if (dup_fd >= 0)
			close(dup_fd);
		free(names);
		return e;
	}
	struct dirent *e;
	while (k < IMAGES_LIST_MAX && (e = readdir(d))) {
		struct stat st;
		if (!name_ok(e->d_name, strlen(e->d_name)) || image_upload_find(e->d_name) ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (!(names[k] = strdup(e->d_name)))
			break;
		k++;
	}
	closedir(d);
	for (const struct image_upload *u = image_uploads; u && k < IMAGES_LIST_MAX; u = u->next)
		if ((names[k] = strdup(u->name)))
			k++;
	qsort(names, k, sizeof(*names), name_cmp);
	*out = names;
	*n = k;
	return 0;
}

void api_images_list(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		     void *ctx)
{
	(void)req;
	(void)params;
	const struct api_ctx *a = ctx;
	int dirfd = images_dir_open(a);
	if (dir_error(resp, a, dirfd))
		return;
	char **names;
	size_t n;
	int r = list_names(dirfd, &names, &n);
	if (r) {
		close(dirfd);
		http_resp_error(resp, 500, "the image directory cannot be read: %s", strerror(-r));
		return;
	}
	struct json_writer w;
	if (!http_resp_json_begin(resp, &w, 256 + n * IMAGE_JSON_MAX)) {
		json_w_begin_object(&w);
		json_w_key(&w, "images");
		json_w_begin_array(&w);
		for (size_t i = 0; i < n; i++)
			image_json(&w, dirfd, names[i], NULL);
		json_w_end(&w);
		json_w_key(&w, "in_ram");
		json_w_bool(&w, a->state_in_ram);
		json_w_end(&w);
		http_resp_json_end(resp, &w, 200);
	} else {
		http_resp_error(resp, 503, "the server is out of memory");
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(dirfd);
}

void api_images_get(const struct http_request *req, const struct http_params *params, struct http_response *resp,
		    void *ctx)
{
	(void)req;
	const struct api_ctx *a = ctx;
	char name[IMAGE_NAME_MAX + 1];
	if (image_name_param(params, resp, name))
		return;
	int dirfd = images_dir_open(a);
	if (dir_error(resp, a, dirfd))
		return;
	struct json_writer w;
	if (http_resp_json_begin(resp, &w, IMAGE_JSON_MAX + 64)) {
		http_resp_error(resp, 503, "the server is out of memory");
	} else if (!image_json(&w, dirfd, name, &a->state_in_ram)) {
		http_resp_error(resp, 404, "there is no image named %s", name);
	} else {
		http_resp_json_end(resp, &w, 200);
	}
	close(dirfd);
}

void api_images_delete(const struct http_request *req, const struct http_params *params,
		       struct http_response *resp, void *ctx)
{
	(void)req;
	const struct api_ctx *a = ctx;
	char name[IMAGE_NAME_MAX + 1];
	if (image_name_param(params, resp, name))
		return;
	if (image_upload_find(name)) {
		http_resp_error(resp, 409, "%s is being uploaded; delete it once the upload has ended", name);
		return;
	}
	int dirfd = images_dir_open(a);
	if (dir_error(resp, a, dirfd))
		return;
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) {
		http_resp_error(resp, 404, "there is no image named %s", name);
	} else if (unlinkat(dirfd, name, 0)) {
		http_resp_error(resp, 500, "%s cannot be deleted: %s", name, strerror(errno));
	} else {
		image_sum_remove(dirfd, name);
		fsync(dirfd); /* the deletion survives a power cut */
		log_info("images: %s deleted", name);
		http_resp_static(resp, 204, NULL, NULL, 0);
	}
	close(dirfd);
}
