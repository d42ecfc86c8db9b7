#include "clock.h"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>

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

/* Times this thread was switched out while still runnable. */
static long
involuntary_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return -1;
	return ru.ru_nivcsw;
}

void
p11a_spin_begin(struct p11a_spin *s)
{
	s->switches = involuntary_switches();
}

int
p11a_spin_yield(struct p11a_spin *s)
{
	sched_yield();
	/*
	 * A yield that let another thread run counts as an involuntary
	 * switch; the host pausing our virtual CPU does not.
	 */
	return involuntary_switches() != s->switches;
}
