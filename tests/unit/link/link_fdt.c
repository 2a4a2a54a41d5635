/*
 * Link test: the sysroot's libfdt, built with musl, builds a device tree
 * the way a VMM makes one for a guest (sequential write), reads it back,
 * and edits it in place (read-write API).
 *
 * Prints "ok NAME" or "not ok NAME: reason" per check; exits 1 on a failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

static char fdt[4096];
static char why[160];
static int failures;

static void result(const char *name, const char *err)
{
	if (err) {
		printf("not ok %s: %s\n", name, err);
		failures++;
	} else {
		printf("ok %s\n", name);
	}
}

/* libfdt returns 0 or a negative FDT_ERR_*; say which call and why. */
#define TRY(call) do { int r_ = (call); if (r_ < 0) { \
	snprintf(why, sizeof(why), "%s: %s", #call, fdt_strerror(r_)); return why; } } while (0)
#define EXPECT(cond) do { if (!(cond)) return "expected " #cond; } while (0)

static const char *check_create(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	TRY(fdt_create(fdt, sizeof(fdt)));
	TRY(fdt_add_reservemap_entry(fdt, 0x1000, 0x1000));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_string(fdt, "compatible", "kvmbox,test"));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_begin_node(fdt, "ethernet@1000"));
	TRY(fdt_property_u64(fdt, "reg", 0x1000));
	TRY(fdt_property(fdt, "local-mac-address", mac, sizeof(mac)));
	TRY(fdt_end_node(fdt));
	TRY(fdt_end_node(fdt));
	TRY(fdt_finish(fdt));
	TRY(fdt_check_header(fdt));
	return NULL;
}

static const char *check_read(void)
{
	const fdt64_t *reg;
	const void *mac;
	uint64_t addr, size;
	int node, len;
	TRY(node = fdt_path_offset(fdt, "/ethernet@1000"));
	EXPECT((reg = fdt_getprop(fdt, node, "reg", &len)) != NULL && len == 8);
	EXPECT(fdt64_to_cpu(*reg) == 0x1000);
	EXPECT((mac = fdt_getprop(fdt, node, "local-mac-address", &len)) != NULL && len == 6);
	EXPECT(memcmp(mac, "\x52\x54\x00\x12\x34\x56", 6) == 0);
	EXPECT(fdt_node_check_compatible(fdt, 0, "kvmbox,test") == 0);
	EXPECT(fdt_getprop(fdt, node, "missing", &len) == NULL && len == -FDT_ERR_NOTFOUND);
	EXPECT(fdt_num_mem_rsv(fdt) == 1);
	TRY(fdt_get_mem_rsv(fdt, 0, &addr, &size));
	EXPECT(addr == 0x1000 && size == 0x1000);
	return NULL;
}

/* Boot code adds /chosen to a finished tree: that needs room, so reopen it. */
static const char *check_edit(void)
{
	const char *args;
	int node, len;
	TRY(fdt_open_into(fdt, fdt, sizeof(fdt)));
	TRY(node = fdt_add_subnode(fdt, 0, "chosen"));
	TRY(fdt_setprop_string(fdt, node, "bootargs", "console=ttyS0 quiet"));
	TRY(fdt_pack(fdt));
	TRY(node = fdt_path_offset(fdt, "/chosen"));
	EXPECT((args = fdt_getprop(fdt, node, "bootargs", &len)) != NULL);
	EXPECT(len == (int)sizeof("console=ttyS0 quiet") && strcmp(args, "console=ttyS0 quiet") == 0);
	EXPECT(fdt_path_offset(fdt, "/ethernet@1000") >= 0);
	return NULL;
}

int main(void)
{
	result("fdt_create", check_create());
	result("fdt_read_back", check_read());
	result("fdt_edit_in_place", check_edit());
	return failures ? 1 : 0;
}
