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

/* A bounded busy-wait of the calling thread. */
struct p11a_spin {
	long switches;
};

/* Start a busy-wait. */
void p11a_spin_begin(struct p11a_spin *s);
/*
 * One step of it: hand the CPU to anything else runnable.  Returns 1
 * when something did run since p11a_spin_begin(): this CPU has other
 * work, which polling would only slow down, so the caller should stop
 * polling and sleep instead.
 */
int p11a_spin_yield(struct p11a_spin *s);

#endif
