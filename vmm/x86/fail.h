/* One helper for the x86 boot code's error reports: it formats a
 * human-readable reason into the caller's buffer and returns the -errno, so a
 * check reads "return x86_fail(err, errlen, -EINVAL, "...", ...);". */
#ifndef KVMBOX_X86_FAIL_H
#define KVMBOX_X86_FAIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline __attribute__((format(printf, 4, 5))) int x86_fail(char *err, size_t errlen, int rc,
								   const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#endif
