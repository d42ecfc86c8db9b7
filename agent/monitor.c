#include "monitor.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <p11-kit/p11-kit.h>

#include "dispatch.h"
#include "jobs.h"
#include "log.h"
#include "loop.h"
#include "p11agent/error.h"
#include "token.h"

#define MONITOR_TICK_MS 50
/* a reply held for a batch goes out at most this late (plus a tick) */
#define HELD_MAX_AGE_MS 50

static struct {
	pthread_t thread;
	atomic_int stop;
	int started;
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

/* --lock-after: no signature for that long locks every token. */
static void
monitor_idle_lock(uint64_t now)
{
	struct agent *a = mon.agent;
	uint64_t limit = (uint64_t)a->opt->lock_after_s * 1000u;
	uint64_t last = atomic_load(&a->last_use_ms);

	if (limit == 0 || now - last < limit)
		return;
	/* restart the clock so an agent that stays locked is locked once */
	atomic_store(&a->last_use_ms, now);
	for (size_t i = 0; i < a->modules.n_tokens; i++)
		if (token_get_state(a->modules.tokens[i]) == TOKEN_READY &&
		    a->modules.tokens[i]->login_required) {
			agent_lock(a, "idle for --lock-after");
			return;
		}
}

static void *
monitor_main(void *arg)
{
	struct module_set *ms = &mon.agent->modules;
	uint64_t next_probe = jobs_now_ms();
	struct timespec tick = {0, MONITOR_TICK_MS * 1000000L};

	(void)arg;
	while (!atomic_load(&mon.stop)) {
		uint64_t now = jobs_now_ms();

		for (size_t i = 0; i < ms->n_tokens; i++) {
			jobs_expire(ms->tokens[i], now);
			jobs_unstick(ms->tokens[i], now);
		}
		monitor_idle_lock(now);
		loops_rescue(now);
		conn_flush_held(now, HELD_MAX_AGE_MS);
		log_limited_flush(now);
		if (now >= next_probe) {
			for (size_t i = 0; i < ms->n_tokens; i++)
				monitor_probe(ms->tokens[i]);
			next_probe = now + mon.agent->opt->poll_interval_ms;
		}
		nanosleep(&tick, NULL);
	}
	return NULL;
}

int
monitor_start(struct agent *a)
{
	mon.agent = a;
	atomic_store(&mon.stop, 0);
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
	atomic_store(&mon.stop, 1);
	pthread_join(mon.thread, NULL);
	mon.started = 0;
}
