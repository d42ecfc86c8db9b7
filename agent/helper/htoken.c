#include "htoken.h"

#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include "hwire.h"
#include "intake.h"
#include "job.h"
#include "log.h"
#include "ops.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "p11util.h"

static CK_RV
session_open(struct hworker *w)
{
	CK_FUNCTION_LIST *fn = w->tok->h->fn;

	return fn->C_OpenSession(w->tok->slot, CKF_SERIAL_SESSION, NULL, NULL,
				 &w->session);
}

static int
session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

/* Run the job on the worker's session; a lost session is replaced once. */
static CK_RV
worker_call(struct hworker *w, const struct hreq *r, struct p11a_buf *out,
	    const char **call)
{
	CK_RV rv = CKR_OK;

	*call = "C_OpenSession";
	if (w->session == CK_INVALID_HANDLE && (rv = session_open(w)) != CKR_OK)
		return rv;
	rv = ops_run(w, r, out, call);
	if (!session_lost(rv))
		return rv;
	log_info("slot %lu: %s: %s; opening a new session", w->tok->slot, *call,
		 p11_kit_strerror(rv));
	w->tok->h->fn->C_CloseSession(w->session);
	w->session = CK_INVALID_HANDLE;
	*call = "C_OpenSession";
	if ((rv = session_open(w)) != CKR_OK)
		return rv;
	p11a_buf_reset(out);
	return ops_run(w, r, out, call);
}

static uint8_t
reply_type(uint8_t request)
{
	switch (request) {
	case H_KEYS:
		return H_KEYS_REPLY;
	case H_SIGN:
		return H_SIGNATURE;
	case H_PROBE:
		return H_PROBE_REPLY;
	default:
		return H_OK;
	}
}

/* The job is freed (its PIN wiped) as soon as the module is done with it. */
static void
worker_run(struct hworker *w, struct hjob *j)
{
	uint8_t type = j->req.type;
	uint32_t id = j->req.id;
	struct p11a_buf out;
	const char *call;
	CK_RV rv;

	p11a_buf_init(&out, P11A_MAX_FRAME - P11A_FRAME_BODY_MIN);
	rv = worker_call(w, &j->req, &out, &call);
	job_free(j);
	if (rv == CKR_OK)
		hwire_send(w->tok->h, reply_type(type), id, &out);
	else
		hwire_send_rv(w->tok->h, id, p11_error_from_rv(rv), rv, call);
	p11a_buf_free(&out);
}

/* Take w out of the idle list and wake it. */
static void
wake_locked(struct hworker **link, struct hworker *w)
{
	*link = w->next_idle;
	w->idle = 0;
	pthread_cond_signal(&w->wake);
}

/* Wake an idle worker: one of t's, or any when t is NULL; 0: none idle. */
static int
wake_idle_locked(struct helper *h, const struct htoken *t)
{
	for (struct hworker **p = &h->idle; *p != NULL; p = &(*p)->next_idle) {
		if (t != NULL && (*p)->tok != t)
			continue;
		wake_locked(p, *p);
		return 1;
	}
	return 0;
}

static void
idle_wait_locked(struct helper *h, struct hworker *w)
{
	w->idle = 1;
	w->next_idle = h->idle;
	h->idle = w;
	while (w->idle)
		pthread_cond_wait(&w->wake, &h->lock);
}

static struct hjob *
fifo_pop_locked(struct htoken *t)
{
	struct hjob *j;

	if (t == NULL || (j = t->head) == NULL)
		return NULL;
	if ((t->head = j->next) == NULL)
		t->tail = NULL;
	return j;
}

/* Under the lock: the end came; after EOF the queued jobs are dropped. */
static void
helper_end_locked(struct helper *h, int end)
{
	struct hjob *j;

	h->end = end;
	for (size_t i = 0; end < 0 && i < h->n_tokens; i++)
		while ((j = fifo_pop_locked(&h->tokens[i])) != NULL)
			job_free(j);
	while (wake_idle_locked(h, NULL))
		;
	pthread_cond_broadcast(&h->ended);
}

/*
 * A worker: the first job of its token's FIFO; else, if nobody reads,
 * the reading turn (intake_read); else it sleeps until one of them is
 * its.  It hands the turn on (wakes an idle worker) only when it takes
 * a job, so that requests keep being read while it signs.
 */
static void *
worker_main(void *arg)
{
	struct hworker *w = arg;
	struct helper *h = w->h;
	struct hjob *j;
	int end;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		if ((j = fifo_pop_locked(w->tok)) != NULL) {
			if (!h->reading && h->end == 0)
				wake_idle_locked(h, NULL);
			pthread_mutex_unlock(&h->lock);
			worker_run(w, j);
			pthread_mutex_lock(&h->lock);
			continue;
		}
		if (h->end != 0)
			break;
		if (h->reading) {
			idle_wait_locked(h, w);
			continue;
		}
		h->reading = 1;
		pthread_mutex_unlock(&h->lock);
		end = intake_read(h);
		pthread_mutex_lock(&h->lock);
		h->reading = 0;
		if (end != 0)
			helper_end_locked(h, end);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

void
htoken_push(struct htoken *t, struct hjob *j)
{
	struct helper *h = t->h;

	j->next = NULL;
	pthread_mutex_lock(&h->lock);
	if (t->tail != NULL)
		t->tail->next = j;
	else
		t->head = j;
	t->tail = j;
	wake_idle_locked(h, t);
	pthread_mutex_unlock(&h->lock);
}

struct htoken *
htoken_find(struct helper *h, uint64_t slot)
{
	for (size_t i = 0; i < h->n_tokens; i++)
		if (h->tokens[i].slot == slot)
			return &h->tokens[i];
	return NULL;
}

/* As asked, within the token's own limit where it states one; >= 1. */
static unsigned
session_count(const CK_TOKEN_INFO *ti, unsigned asked)
{
	CK_ULONG max = ti->ulMaxSessionCount;

	if (max != CK_EFFECTIVELY_INFINITE &&
	    max != CK_UNAVAILABLE_INFORMATION && max < asked)
		asked = (unsigned)max;
	return asked > 0 ? asked : 1;
}

static int
token_start(struct htoken *t, unsigned sessions)
{
	CK_FUNCTION_LIST *fn = t->h->fn;
	CK_RV rv;

	t->n_workers = session_count(&t->info, sessions);
	if ((t->workers = calloc(t->n_workers, sizeof(*t->workers))) == NULL) {
		t->n_workers = 0;
		return P11A_ERR_NO_MEMORY;
	}
	for (unsigned i = 0; i < t->n_workers; i++) {
		struct hworker *w = &t->workers[i];

		w->h = t->h;
		w->tok = t;
		pthread_cond_init(&w->wake, NULL);
		/* a worker without a session opens one for its first job */
		w->session = CK_INVALID_HANDLE;
		if ((rv = session_open(w)) == CKR_OK)
			t->opened++;
		else
			log_warn("slot %lu: C_OpenSession: %s", t->slot,
				 p11_kit_strerror(rv));
	}
	/* the snapshot HELLO sends, with our sessions counted */
	if (fn->C_GetTokenInfo(t->slot, &t->info) != CKR_OK)
		log_warn("slot %lu: C_GetTokenInfo failed after opening "
			 "sessions",
			 t->slot);
	for (unsigned i = 0; i < t->n_workers; i++)
		if (pthread_create(&t->workers[i].thread, NULL, worker_main,
				   &t->workers[i]) != 0) {
			t->n_workers = i;
			return P11A_ERR_NO_MEMORY;
		}
	return P11A_OK;
}

/* Slots with an initialised token; SoftHSM adds an empty one to fill. */
static int
tokens_find(struct helper *h, CK_SLOT_ID **slots, CK_ULONG *n)
{
	CK_FUNCTION_LIST *fn = h->fn;
	CK_TOKEN_INFO ti;
	CK_ULONG kept = 0;
	CK_RV rv;

	*slots = NULL;
	if ((rv = fn->C_GetSlotList(CK_TRUE, NULL, n)) != CKR_OK)
		goto fail;
	if ((*slots = calloc(*n + 1, sizeof(**slots))) == NULL)
		return P11A_ERR_NO_MEMORY;
	if ((rv = fn->C_GetSlotList(CK_TRUE, *slots, n)) != CKR_OK)
		goto fail;
	for (CK_ULONG i = 0; i < *n; i++)
		if (fn->C_GetTokenInfo((*slots)[i], &ti) == CKR_OK &&
		    (ti.flags & CKF_TOKEN_INITIALIZED))
			(*slots)[kept++] = (*slots)[i];
	*n = kept;
	return P11A_OK;
fail:
	log_error("C_GetSlotList: %s", p11_kit_strerror(rv));
	free(*slots);
	*slots = NULL;
	return P11A_ERR_TOKEN;
}

int
htokens_start(struct helper *h, unsigned sessions)
{
	CK_SLOT_ID *slots;
	CK_ULONG n;
	int r;

	if ((r = tokens_find(h, &slots, &n)) != P11A_OK)
		return r;
	if ((h->tokens = calloc(n + 1, sizeof(*h->tokens))) == NULL) {
		free(slots);
		return P11A_ERR_NO_MEMORY;
	}
	for (CK_ULONG i = 0; i < n && r == P11A_OK; i++) {
		struct htoken *t = &h->tokens[h->n_tokens];

		/* gone since the slot list was read */
		if (h->fn->C_GetTokenInfo(slots[i], &t->info) != CKR_OK)
			continue;
		h->n_tokens++;
		t->h = h;
		t->slot = slots[i];
		r = token_start(t, sessions);
		log_info("slot %lu: %u sessions, %u workers", t->slot,
			 t->opened, t->n_workers);
	}
	free(slots);
	return r;
}

void
htokens_run(struct helper *h)
{
	struct hworker reader = {.h = h};
	int alone = 1;

	pthread_mutex_lock(&h->lock);
	/* the start held the turn: HELLO must see the slot-event check */
	h->reading = 0;
	wake_idle_locked(h, NULL);
	for (size_t i = 0; i < h->n_tokens; i++)
		if (h->tokens[i].n_workers > 0)
			alone = 0;
	pthread_mutex_unlock(&h->lock);
	/* a module without tokens has no worker to read: this thread does */
	if (alone) {
		pthread_cond_init(&reader.wake, NULL);
		worker_main(&reader);
		pthread_cond_destroy(&reader.wake);
	}
	pthread_mutex_lock(&h->lock);
	while (h->end == 0)
		pthread_cond_wait(&h->ended, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

void
htokens_stop(struct helper *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->end == 0)
		helper_end_locked(h, -1);
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < h->n_tokens; i++) {
		struct htoken *t = &h->tokens[i];

		for (unsigned k = 0; k < t->n_workers; k++) {
			pthread_join(t->workers[k].thread, NULL);
			pthread_cond_destroy(&t->workers[k].wake);
		}
		free(t->workers);
	}
	free(h->tokens);
	h->tokens = NULL;
	h->n_tokens = 0;
}
