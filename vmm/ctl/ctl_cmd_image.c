/* kvmbox ctl: images (kernels, initrds, disks) in the appliance's state
 * directory: list, upload (PUT /api/images/NAME, streamed, with its
 * SHA-256 for the server to check) and delete. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

static int image_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "/api/images/");
	if (ctl_path_add(buf, size, name))
		return ctl_usage_error("the image name is empty or too long");
	return 0;
}

static void print_images(const struct json_doc *d, int arr)
{
	int n = json_array_len(d, arr);
	printf("%-24s  %10s  %-16s  %s\n", "NAME", "SIZE", "MODIFIED", "SHA-256");
	for (int i = 0; i < n; i++) {
		int im = json_array_at(d, arr, i);
		char name[128], size[32] = "-", when[32] = "-", sum[80];
		int64_t v;
		bool uploading = false;
		if (!json_get_int64(d, json_get(d, im, "size"), &v) && v >= 0)
			ctl_fmt_bytes((uint64_t)v, size, sizeof(size));
		if (!json_get_int64(d, json_get(d, im, "modified"), &v)) {
			time_t t = (time_t)v;
			struct tm tm;
			if (localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		}
		json_get_bool(d, json_get(d, im, "uploading"), &uploading);
		printf("%-24s  %10s  %-16s  %s%s\n", ctl_jtext(d, im, "name", name, sizeof(name)), size, when,
		       ctl_jtext(d, im, "sha256", sum, sizeof(sum)), uploading ? "  (being uploaded)" : "");
	}
}

static int image_list(struct ctl *c)
{
	static struct ctl_http_resp resp;
	struct ctl_json j;
	bool printed;
	int r = ctl_get_json(c, "/api/images", &resp, &j, &printed);
	if (r || printed)
		return r;
	/* {"images":[...]}, or a bare array: the first array found is the list. */
	int arr = json_type(&j.d, 0) == JSON_ARRAY ? 0 : json_get(&j.d, 0, "images");
	if (arr < 0)
		ctl_print_value(&j.d, 0, 0);
	else if (json_array_len(&j.d, arr) <= 0)
		printf("(no images)\n");
	else
		print_images(&j.d, arr);
	ctl_json_free(&j);
	ctl_http_free(&resp);
	return 0;
}

static int hash_file(int fd, uint64_t len, const char *name, char hex[65])
{
	static char buf[256 * 1024];
	struct ctl_sha256 *s = ctl_sha256_new();
	bool tty = isatty(2);
	uint64_t done = 0, step = len / 100 + 1, shown = 0;
	if (!s)
		return -ENOMEM;
	while (done < len) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ctl_sha256_final(s, hex);
			return n ? -errno : -EIO;
		}
		ctl_sha256_update(s, buf, (size_t)n);
		done += (uint64_t)n;
		if (tty && done - shown >= step) {
			shown = done;
			fprintf(stderr, "\r\033[Kchecksum %s: %d%%", name, (int)(done * 100 / (len ? len : 1)));
		}
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	ctl_sha256_final(s, hex);
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
}

static int image_upload(struct ctl *c, const char *file, const char *name_arg)
{
	char path[300], sum[65], copy[4096];
	snprintf(copy, sizeof(copy), "%s", file);
	const char *name = name_arg ? name_arg : basename(copy);
	if (image_path(path, sizeof(path), name))
		return CTL_EXIT_USAGE;
	if (c->replace)
		strcat(path, "?replace=1");
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ctl_usage_error("%s: %s", file, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ctl_usage_error("%s: not a regular file (the length must be known before sending)", file);
	}
	/* Check the server early: no point hashing gigabytes for a bad URL. */
	int r = ctl_server(c);
	int e = r ? 0 : hash_file(fd, (uint64_t)st.st_size, name, sum);
	if (e) {
		close(fd);
		return ctl_usage_error("%s: %s", file, strerror(-e));
	}
	if (r) {
		close(fd);
		return r;
	}
	struct ctl_call q = {
		.method = "PUT",
		.path = path,
		.ctype = "application/octet-stream",
		.upload_fd = fd,
		.upload_len = (uint64_t)st.st_size,
		.upload_sha256 = sum,
		.upload_name = name,
	};
	static struct ctl_http_resp resp;
	r = ctl_request(c, &q, &resp);
	close(fd);
	if (r)
		return r;
	if (resp.status < 200 || resp.status >= 300) {
		r = ctl_api_error(&resp);
	} else if (c->json) {
		ctl_print_raw(&resp);
	} else {
		char size[32];
		ctl_fmt_bytes((uint64_t)st.st_size, size, sizeof(size));
		printf("%s: uploaded, %s, SHA-256 %s\n", name, size, sum);
	}
	ctl_http_free(&resp);
	return r;
}

int ctl_cmd_image(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (argc == 2 && !strcmp(sub, "list"))
		return image_list(c);
	if ((argc == 3 || argc == 4) && !strcmp(sub, "upload"))
		return image_upload(c, argv[2], argc == 4 ? argv[3] : NULL);
	if (argc == 3 && !strcmp(sub, "delete")) {
		char path[300];
		static struct ctl_http_resp resp;
		if (image_path(path, sizeof(path), argv[2]))
			return CTL_EXIT_USAGE;
		int r = ctl_api(c, "DELETE", path, NULL, &resp);
		if (r)
			return r;
		ctl_http_free(&resp);
		printf("%s: deleted\n", argv[2]);
		return 0;
	}
	return ctl_usage_error("usage: kvmbox ctl image list | upload FILE [NAME] [--replace] | delete NAME");
}
