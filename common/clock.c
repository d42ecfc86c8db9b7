#include "clock.h"

#include <sched.h>
#include <time.h>

/* a yield that nobody took returns in well under this */
#define SPIN_CONTENDED_US 10u

uint64_t
p11a_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
p11a_clock_ms(void)
{
	return p11a_clock_us() / 1000u;
}

int
p11a_spin_yield(void)
{
	uint64_t t0 = p11a_clock_us();

	sched_yield();
	return p11a_clock_us() - t0 > SPIN_CONTENDED_US;
}
