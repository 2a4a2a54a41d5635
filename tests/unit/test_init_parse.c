/* PID 1's parsers: kernel command line, ext4 superblock label, uevent text. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "init.h"

static void test_cmdline(void)
{
	char v[32];
	const char *cl = "BOOT_IMAGE=/bzImage console=ttyS0,115200 quiet kvmbox.data=/dev/vdb "
			 "kvmbox.name=\"my box\" kvmbox.datawait=3\n";
	CHECK("cmdline finds a value", cmdline_get(cl, "console", v, sizeof(v)) == 1 && !strcmp(v, "ttyS0,115200"));
	CHECK("cmdline bare flag is empty", cmdline_get(cl, "quiet", v, sizeof(v)) == 1 && v[0] == '\0');
	CHECK("cmdline quoted value", cmdline_get(cl, "kvmbox.name", v, sizeof(v)) == 1 && !strcmp(v, "my box"));
	CHECK("cmdline last value before newline", cmdline_get(cl, "kvmbox.datawait", v, sizeof(v)) == 1 && !strcmp(v, "3"));
	CHECK("cmdline absent key", cmdline_get(cl, "kvmbox.nothing", v, sizeof(v)) == 0);
	CHECK("cmdline prefix is not a match", cmdline_get(cl, "kvmbox.dat", v, sizeof(v)) == 0);
	CHECK("cmdline value too long", cmdline_get(cl, "BOOT_IMAGE", v, 4) == -ENAMETOOLONG);
	CHECK("cmdline empty", cmdline_get("", "a", v, sizeof(v)) == 0);
	CHECK("cmdline unbalanced quote", cmdline_get("a=\"x y", "a", v, sizeof(v)) == 1 && !strcmp(v, "\"x y"));
}

static void test_ext4(void)
{
	uint8_t sb[EXT4_SB_SIZE] = { 0 };
	char label[32];
	CHECK("ext4 rejects zeroes", ext4_label(sb, sizeof(sb), label, sizeof(label)) == -EINVAL);
	sb[0x38] = 0x53;
	sb[0x39] = 0xEF;
	memcpy(sb + 0x78, "KVMBOX-DATA", 11);
	CHECK("ext4 label read", ext4_label(sb, sizeof(sb), label, sizeof(label)) == 0 && !strcmp(label, "KVMBOX-DATA"));
	memset(sb + 0x78, 'A', 16); /* a full 16-byte label has no NUL */
	CHECK("ext4 16-byte label", ext4_label(sb, sizeof(sb), label, sizeof(label)) == 0 && strlen(label) == 16);
	CHECK("ext4 label buffer too small", ext4_label(sb, sizeof(sb), label, 8) == -ENAMETOOLONG);
	CHECK("ext4 short buffer", ext4_label(sb, 0x80, label, sizeof(label)) == -EINVAL);
}

static void test_uevent(void)
{
	char v[16];
	const char *ue = "MAJOR=8\nMINOR=2\nDEVNAME=sda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=KVMBOX-DATA\n";
	CHECK("uevent DEVNAME", uevent_get(ue, "DEVNAME", v, sizeof(v)) == 1 && !strcmp(v, "sda2"));
	CHECK("uevent PARTNAME", uevent_get(ue, "PARTNAME", v, sizeof(v)) == 1 && !strcmp(v, "KVMBOX-DATA"));
	CHECK("uevent PARTN is not PARTNAME", uevent_get(ue, "PART", v, sizeof(v)) == 0);
	CHECK("uevent too long", uevent_get(ue, "PARTNAME", v, 4) == -ENAMETOOLONG);
	CHECK("uevent no trailing newline", uevent_get("A=1", "A", v, sizeof(v)) == 1 && !strcmp(v, "1"));
}

int main(void)
{
	test_cmdline();
	test_ext4();
	test_uevent();
	return CHECK_DONE();
}
