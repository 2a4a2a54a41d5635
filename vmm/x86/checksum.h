/* The 8-bit checksum of ACPI and MP tables: all bytes sum to zero. */
#ifndef KVMBOX_X86_CHECKSUM_H
#define KVMBOX_X86_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* The value for a checksum field (zero while this runs) that makes the len
 * bytes at p sum to zero modulo 256. */
static inline uint8_t table_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)(0x100 - sum);
}

#endif
