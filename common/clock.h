/*
 * The one clock both sides measure time with: CLOCK_MONOTONIC, which
 * neither settimeofday nor NTP steps move.
 */
#ifndef P11A_COMMON_CLOCK_H
#define P11A_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds. */
uint64_t p11a_clock_us(void);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t p11a_clock_ms(void);

#endif
