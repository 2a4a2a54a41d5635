/* MC146818 CMOS real-time clock (ports 0x70/0x71).
 *
 * Without it a Linux guest's rtc_cmos probe stalls for seconds and the guest
 * boots with the wrong date. Time is the host's UTC clock plus an offset
 * that the guest sets by writing the time registers (hwclock --systohc).
 * Periodic and alarm interrupts are not offered: register B's interrupt bits
 * read back but never fire, which Linux accepts.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "log.h"
#include "vm.h"

#define RTC_PORT 0x70
#define R_SEC 0x00
#define R_MIN 0x02
#define R_HOUR 0x04
#define R_WDAY 0x06
#define R_MDAY 0x07
#define R_MON 0x08
#define R_YEAR 0x09
#define R_A 0x0a
#define R_B 0x0b
#define R_C 0x0c
#define R_D 0x0d
#define R_CENTURY 0x32
#define B_SET 0x80
#define B_BINARY 0x04
#define B_24H 0x02

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[128];
	time_t offset; /* guest time minus host time, in seconds */
};

static uint8_t to_reg(const struct rtc *r, int v)
{
	return (r->cmos[R_B] & B_BINARY) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(const struct rtc *r, uint8_t v)
{
	return (r->cmos[R_B] & B_BINARY) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static void rtc_latch(struct rtc *r)
{
	time_t t = time(NULL) + r->offset;
	struct tm tm;
	gmtime_r(&t, &tm);
	int hour = tm.tm_hour;
	uint8_t pm = 0;
	if (!(r->cmos[R_B] & B_24H)) { /* 12-hour mode: 1..12 with bit 7 for PM */
		pm = hour >= 12 ? 0x80 : 0;
		hour = hour % 12 ? hour % 12 : 12;
	}
	r->cmos[R_SEC] = to_reg(r, tm.tm_sec);
	r->cmos[R_MIN] = to_reg(r, tm.tm_min);
	r->cmos[R_HOUR] = to_reg(r, hour) | pm;
	r->cmos[R_WDAY] = to_reg(r, tm.tm_wday + 1);
	r->cmos[R_MDAY] = to_reg(r, tm.tm_mday);
	r->cmos[R_MON] = to_reg(r, tm.tm_mon + 1);
	r->cmos[R_YEAR] = to_reg(r, tm.tm_year % 100);
	r->cmos[R_CENTURY] = to_reg(r, 19 + tm.tm_year / 100);
}

/* The guest finished setting the clock: remember how far it is from ours. */
static void rtc_commit(struct rtc *r)
{
	struct tm tm = { 0 };
	uint8_t hour = r->cmos[R_HOUR];
	tm.tm_sec = from_reg(r, r->cmos[R_SEC]);
	tm.tm_min = from_reg(r, r->cmos[R_MIN]);
	tm.tm_hour = from_reg(r, hour & 0x7f);
	if (!(r->cmos[R_B] & B_24H))
		tm.tm_hour = tm.tm_hour % 12 + ((hour & 0x80) ? 12 : 0);
	tm.tm_mday = from_reg(r, r->cmos[R_MDAY]);
	tm.tm_mon = from_reg(r, r->cmos[R_MON]) - 1;
	tm.tm_year = from_reg(r, r->cmos[R_YEAR]) + from_reg(r, r->cmos[R_CENTURY]) * 100 - 1900;
	time_t guest = timegm(&tm);
	if (guest != (time_t)-1)
		r->offset = guest - time(NULL);
}

static void rtc_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
	struct rtc *r = opaque;
	memset(data, 0, size);
	pthread_mutex_lock(&r->lock);
	if (off == 0) {
		data[0] = 0xff; /* the index port is write-only */
	} else {
		uint8_t i = r->index;
		if (i <= R_YEAR || i == R_CENTURY) {
			if (!(r->cmos[R_B] & B_SET))
				rtc_latch(r);
			data[0] = r->cmos[i];
		} else if (i == R_A) {
			data[0] = r->cmos[R_A] & 0x7f; /* never "update in progress" */
		} else if (i == R_C) {
			data[0] = 0; /* no interrupt flags; reading clears them anyway */
		} else if (i == R_D) {
			data[0] = 0x80; /* valid RAM and time: the battery is fine */
		} else {
			data[0] = r->cmos[i];
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static void rtc_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
	struct rtc *r = opaque;
	(void)size;
	pthread_mutex_lock(&r->lock);
	if (off == 0) {
		r->index = data[0] & 0x7f; /* bit 7 masks NMIs on real boards */
	} else {
		uint8_t i = r->index;
		if (i == R_C || i == R_D) {
			/* read-only */
		} else if (i == R_B) {
			int was_set = r->cmos[R_B] & B_SET;
			if (!was_set && (data[0] & B_SET))
				rtc_latch(r); /* freeze the current time for the guest to edit */
			r->cmos[R_B] = data[0];
			if (was_set && !(data[0] & B_SET))
				rtc_commit(r);
		} else {
			r->cmos[i] = data[0];
			if ((i <= R_YEAR || i == R_CENTURY) && !(r->cmos[R_B] & B_SET))
				rtc_commit(r);
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

static int rtc_create(struct vm *vm)
{
	static struct rtc rtc;
	pthread_mutex_init(&rtc.lock, NULL);
	rtc.cmos[R_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate: what firmware leaves */
	rtc.cmos[R_B] = B_24H;
	int r = bus_register(vm_pio(vm), RTC_PORT, 2, "rtc-cmos", &rtc_ops, &rtc);
	if (r < 0)
		log_error("rtc: cannot claim ports 0x70-0x71: %s", strerror(-r));
	return r;
}
DEVICE_REGISTER("rtc-cmos", rtc_create, 10);
