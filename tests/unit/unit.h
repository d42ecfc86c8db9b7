/*
 * Helpers shared by the unit tests.  Include after the cmocka
 * prerequisites (stdarg.h, stddef.h, setjmp.h, stdint.h) and cmocka.h.
 */
#ifndef P11A_UNIT_H
#define P11A_UNIT_H

#include <stdlib.h>
#include <string.h>

/* Decode a hex string (spaces allowed) into a fresh allocation. */
static inline uint8_t *
unhex(const char *hex, size_t *len)
{
	uint8_t *out = malloc(strlen(hex) / 2 + 1);
	size_t n = 0;
	int hi = -1;

	assert_non_null(out);
	for (; *hex != '\0'; hex++) {
		int v = 0;

		if (*hex == ' ' || *hex == '\n')
			continue;
		if (*hex >= '0' && *hex <= '9')
			v = *hex - '0';
		else if (*hex >= 'a' && *hex <= 'f')
			v = *hex - 'a' + 10;
		else if (*hex >= 'A' && *hex <= 'F')
			v = *hex - 'A' + 10;
		else
			fail_msg("bad hex character '%c'", *hex);
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	assert_int_equal(hi, -1);
	*len = n;
	return out;
}

/* Assert that n bytes at p equal the bytes spelled by hex. */
#define assert_bytes_hex(p, n, hex)                                            \
	do {                                                                   \
		size_t want_len_;                                              \
		uint8_t *want_ = unhex((hex), &want_len_);                     \
		assert_int_equal((n), want_len_);                              \
		assert_memory_equal((p), want_, want_len_);                    \
		free(want_);                                                   \
	} while (0)

#endif
