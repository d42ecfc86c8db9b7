#include "monitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <p11-kit/p11-kit.h>

#include "dispatch.h"
#include "hlink.h"
#include "jobs.h"
#include "log.h"
#include "p11agent/error.h"
#include "token.h"

static struct {
	pthread_t thread;
	pthread_mutex_t lock; /* stop, kicked */
	pthread_cond_t wake;
	int stop, kicked, started;
	atomic_uint_fast64_t planned; /* when it wakes next, for the hook */
	struct agent *agent;
} mon;

/*
 * On a worker of the token: is it still there?  A token that comes back
 * (or whose helper was restarted) logs in again with the cached PIN.
 */
static void
probe_job_run(struct job *j, struct token *t, struct token_session *s)
{
	(void)s;
	token_probe(t);
	atomic_store(&t->probing, 0);
	free(j);
}

void
monitor_probe(struct token *t)
{
	struct job *j;

	/* one probe at a time: a slow token must not collect them */
	if (atomic_exchange(&t->probing, 1))
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		atomic_store(&t->probing, 0);
		return;
	}
	j->run = probe_job_run;
	if (jobs_submit(t, j) != P11A_OK) {
		free(j);
		atomic_store(&t->probing, 0);
	}
}

/*
 * --lock-after: no signature for that long locks every token.  Returns
 * when to look again (UINT64_MAX: never).
 */
static uint64_t
monitor_idle_lock(uint64_t now)
{
	struct agent *a = mon.agent;
	uint64_t limit = (uint64_t)a->opt->lock_after_s * 1000u;
	uint64_t last = atomic_load(&a->last_use_ms);

	if (limit == 0)
		return UINT64_MAX;
	if (now - last < limit)
		return last + limit;
	/* restart the clock so an agent that stays locked is locked once */
	atomic_store(&a->last_use_ms, now);
	for (size_t i = 0; i < a->modules.n_tokens; i++)
		if (token_get_state(a->modules.tokens[i]) == TOKEN_READY &&
		    a->modules.tokens[i]->login_required) {
			agent_lock(a, "idle for --lock-after");
			break;
		}
	return now + limit;
}

/* One round: what is due now; returns when the next thing is due. */
static uint64_t
monitor_round(uint64_t now, uint64_t *next_probe)
{
	struct module_set *ms = &mon.agent->modules;
	uint64_t next = monitor_idle_lock(now), d;

	for (size_t i = 0; i < ms->n_tokens; i++)
		if ((d = jobs_expire(ms->tokens[i], now)) < next)
			next = d;
	if ((d = log_limited_flush(now)) < next)
		next = d;
	if (now >= *next_probe) {
		size_t polled = 0;

		/* a module with slot events tells us: no polling for it */
		for (size_t i = 0; i < ms->n_tokens; i++)
			if (!hlink_slot_events(ms->tokens[i]->link)) {
				monitor_probe(ms->tokens[i]);
				polled++;
			}
		*next_probe = polled > 0
				      ? now + mon.agent->opt->poll_interval_ms
				      : UINT64_MAX;
	}
	return *next_probe < next ? *next_probe : next;
}

static void
monitor_until(struct timespec *ts, uint64_t when_ms)
{
	ts->tv_sec = (time_t)(when_ms / 1000);
	ts->tv_nsec = (long)(when_ms % 1000) * 1000000L;
}

/*
 * Sleeps in the kernel until the next thing is due: the earliest request
 * deadline, the next presence probe, the --lock-after time.  An idle
 * agent wakes once per --poll-interval, and not at all in between.
 */
static void *
monitor_main(void *arg)
{
	uint64_t next_probe = jobs_now_ms() + mon.agent->opt->poll_interval_ms;
	struct timespec until;

	(void)arg;
	pthread_mutex_lock(&mon.lock);
	while (!mon.stop) {
		uint64_t next;

		pthread_mutex_unlock(&mon.lock);
		next = monitor_round(jobs_now_ms(), &next_probe);
		pthread_mutex_lock(&mon.lock);
		atomic_store(&mon.planned, next);
		monitor_until(&until, next);
		while (!mon.stop && !mon.kicked &&
		       pthread_cond_timedwait(&mon.wake, &mon.lock, &until) !=
			       ETIMEDOUT)
			;
		mon.kicked = 0;
	}
	pthread_mutex_unlock(&mon.lock);
	return NULL;
}

/*
 * A request's deadline: the monitor is woken only when it is nearer
 * than what the monitor sleeps for (rare: timeouts are long), so a
 * request costs it no wake-up.
 */
static void
monitor_kick(uint64_t due_ms)
{
	if (due_ms >= atomic_load(&mon.planned))
		return;
	pthread_mutex_lock(&mon.lock);
	atomic_store(&mon.planned, due_ms);
	mon.kicked = 1;
	pthread_cond_signal(&mon.wake);
	pthread_mutex_unlock(&mon.lock);
}

int
monitor_start(struct agent *a)
{
	pthread_condattr_t ca;

	mon.agent = a;
	mon.stop = mon.kicked = 0;
	atomic_store(&mon.planned, UINT64_MAX);
	pthread_mutex_init(&mon.lock, NULL);
	pthread_condattr_init(&ca);
	/* the clock the deadlines are on (p11a_clock_ms) */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mon.wake, &ca);
	pthread_condattr_destroy(&ca);
	jobs_set_deadline_hook(monitor_kick);
	if (pthread_create(&mon.thread, NULL, monitor_main, NULL) != 0)
		return P11A_ERR_NO_MEMORY;
	mon.started = 1;
	return P11A_OK;
}

void
monitor_stop(void)
{
	if (!mon.started)
		return;
	pthread_mutex_lock(&mon.lock);
	mon.stop = 1;
	pthread_cond_signal(&mon.wake);
	pthread_mutex_unlock(&mon.lock);
	pthread_join(mon.thread, NULL);
	mon.started = 0;
}
