#include "jobs.h"

#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "p11agent/error.h"
#include "token.h"

struct job_queue {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct job *head, *tail;
	unsigned pending;
	int stopping;
	pthread_t *threads;
	unsigned n_threads;
};

struct worker_arg {
	struct token *token;
	unsigned index;
};

static struct job *
jobs_take(struct job_queue *q)
{
	struct job *j;

	pthread_mutex_lock(&q->lock);
	while (q->head == NULL && !q->stopping)
		pthread_cond_wait(&q->ready, &q->lock);
	if ((j = q->head) != NULL) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->pending--;
	}
	pthread_mutex_unlock(&q->lock);
	return j;
}

static void *
jobs_worker(void *arg)
{
	struct token *t = ((struct worker_arg *)arg)->token;
	CK_SESSION_HANDLE s = t->sessions[((struct worker_arg *)arg)->index];
	struct job *j;

	free(arg);
	/* a stopping queue still hands out what it holds, then NULL */
	while ((j = jobs_take(t->queue)) != NULL)
		j->run(j, t, s);
	return NULL;
}

static int
jobs_spawn(struct token *t, unsigned index)
{
	struct worker_arg *arg;

	if ((arg = malloc(sizeof(*arg))) == NULL)
		return P11A_ERR_NO_MEMORY;
	arg->token = t;
	arg->index = index;
	if (pthread_create(&t->queue->threads[index], NULL, jobs_worker,
			   arg) != 0) {
		free(arg);
		return P11A_ERR_NO_MEMORY;
	}
	t->queue->n_threads++;
	return P11A_OK;
}

int
jobs_start(struct token *t)
{
	struct job_queue *q;
	int r;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return P11A_ERR_NO_MEMORY;
	if ((q->threads = calloc(t->n_sessions, sizeof(*q->threads))) == NULL) {
		free(q);
		return P11A_ERR_NO_MEMORY;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->ready, NULL);
	t->queue = q;
	for (unsigned i = 0; i < t->n_sessions; i++)
		if ((r = jobs_spawn(t, i)) != P11A_OK) {
			log_error("token %s: cannot start worker thread",
				  t->label);
			return r;
		}
	return P11A_OK;
}

int
jobs_submit(struct token *t, struct job *j)
{
	struct job_queue *q = t->queue;
	int r = P11A_OK;

	j->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		r = P11A_ERR_SHUTTING_DOWN;
	} else {
		if (q->tail != NULL)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
		q->pending++;
		pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

unsigned
jobs_pending(struct token *t)
{
	unsigned n;

	if (t->queue == NULL)
		return 0;
	pthread_mutex_lock(&t->queue->lock);
	n = t->queue->pending;
	pthread_mutex_unlock(&t->queue->lock);
	return n;
}

void
jobs_stop(struct token *t)
{
	struct job_queue *q = t->queue;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->ready);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->ready);
	free(q->threads);
	free(q);
	t->queue = NULL;
}
