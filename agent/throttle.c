#include "throttle.h"

#include <pthread.h>

#include "p11agent/error.h"

#define THROTTLE_UIDS 64
#define THROTTLE_FIRST_MS 1000u
#define THROTTLE_MAX_MS 60000u

struct throttle_entry {
	uid_t uid;
	unsigned failures;
	uint64_t until_ms;
};

static struct {
	pthread_mutex_t lock;
	struct throttle_entry e[THROTTLE_UIDS];
	size_t n;
} th = {.lock = PTHREAD_MUTEX_INITIALIZER};

/*
 * The uid's entry, made if missing (the one that expired longest ago is
 * reused when the table is full); under th.lock.
 */
static struct throttle_entry *
throttle_entry(uid_t uid, int create)
{
	size_t oldest = 0;

	for (size_t i = 0; i < th.n; i++) {
		if (th.e[i].uid == uid)
			return &th.e[i];
		if (th.e[i].until_ms < th.e[oldest].until_ms)
			oldest = i;
	}
	if (!create)
		return NULL;
	if (th.n < THROTTLE_UIDS)
		oldest = th.n++;
	th.e[oldest] = (struct throttle_entry){.uid = uid};
	return &th.e[oldest];
}

uint64_t
throttle_wait_ms(uid_t uid, uint64_t now_ms)
{
	struct throttle_entry *e;
	uint64_t wait = 0;

	pthread_mutex_lock(&th.lock);
	if ((e = throttle_entry(uid, 0)) != NULL && e->until_ms > now_ms)
		wait = e->until_ms - now_ms;
	pthread_mutex_unlock(&th.lock);
	return wait;
}

void
throttle_note(uid_t uid, int r, uint64_t now_ms)
{
	struct throttle_entry *e;
	uint64_t delay;

	if (r != P11A_OK && r != P11A_ERR_PIN_INCORRECT)
		return; /* not a guess that went wrong */
	pthread_mutex_lock(&th.lock);
	if ((e = throttle_entry(uid, r != P11A_OK)) == NULL)
		goto out;
	if (r == P11A_OK) {
		e->failures = 0;
		e->until_ms = 0;
		goto out;
	}
	if (e->failures < 32)
		e->failures++;
	delay = (uint64_t)THROTTLE_FIRST_MS << (e->failures - 1);
	e->until_ms =
		now_ms + (delay < THROTTLE_MAX_MS ? delay : THROTTLE_MAX_MS);
out:
	pthread_mutex_unlock(&th.lock);
}
