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

/*
 * One step of a bounded busy-wait: hand the CPU to anything else
 * runnable on it.  Returns 1 when something did run (the yield took
 * longer than a few microseconds): this CPU has other work, which the
 * poller would only slow down, so the caller should stop polling and
 * sleep instead.
 */
int p11a_spin_yield(void);

#endif
