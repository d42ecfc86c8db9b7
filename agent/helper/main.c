/*
 * p11agent-helper MODULE-PATH [--sessions N] [--log-level LEVEL]
 *                 [--unconfined]
 * p11agent-helper --list-registered
 *
 * The one process that calls a PKCS#11 module for p11agentd, which
 * starts it with a socketpair on fd 3 (docs/HELPER.md).  Like OpenSSH's
 * ssh-pkcs11-helper it reads a request, calls the module and writes the
 * answer, except that requests for a token run on that token's workers,
 * so replies may come back in any order.
 *
 * Exit status: 0 after EOF on fd 3 (or a read error) or SHUTDOWN, 1 when it
 * cannot start, 2 when the agent sent a malformed frame.
 */
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <p11-kit/p11-kit.h>

#include "harden.h"
#include "sandbox.h"
#include "helper.h"
#include "htoken.h"
#include "hwire.h"
#include "job.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "wire.h"

#define SESSIONS_DEFAULT 2u
#define SESSIONS_MAX 64u

struct args {
	const char *module;
	unsigned sessions;
	int level;
	int unconfined; /* no system-call filter */
};

static const char usage[] = "usage: p11agent-helper MODULE-PATH "
			    "[--sessions N] [--log-level LEVEL] "
			    "[--unconfined]\n";

static int
parse_args(int argc, char **argv, struct args *a)
{
	char *end;
	long n;

	*a = (struct args){NULL, SESSIONS_DEFAULT, LOG_LEVEL_INFO, 0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sessions") == 0 && i + 1 < argc) {
			n = strtol(argv[++i], &end, 10);
			if (*end != '\0' || n < 1 || n > SESSIONS_MAX)
				return -1;
			a->sessions = (unsigned)n;
		} else if (strcmp(argv[i], "--log-level") == 0 &&
			   i + 1 < argc) {
			if ((a->level = log_level_parse(argv[++i])) < 0)
				return -1;
		} else if (strcmp(argv[i], "--unconfined") == 0) {
			a->unconfined = 1;
		} else if (argv[i][0] != '-' && a->module == NULL) {
			a->module = argv[i];
		} else {
			return -1;
		}
	}
	return a->module != NULL ? 0 : -1;
}

static int
module_load(struct helper *h, const char *path)
{
	CK_RV rv;

	if ((h->fn = p11_kit_module_load(path, 0)) == NULL) {
		log_error("cannot load module %s: %s", path, p11_kit_message());
		return -1;
	}
	if ((rv = p11_kit_module_initialize(h->fn)) != CKR_OK ||
	    (rv = h->fn->C_GetInfo(&h->info)) != CKR_OK) {
		log_error("module %s: %s", path, p11_kit_strerror(rv));
		p11_kit_module_release(h->fn);
		h->fn = NULL;
		return -1;
	}
	return 0;
}

/*
 * --list-registered: the file names of the modules registered with
 * p11-kit, one per line, for an agent that never loads a module itself.
 * Loading runs no C_Initialize.  Our own front module is left out: the
 * agent serving its own keys back to itself would loop.
 */
static int
list_registered(void)
{
	CK_FUNCTION_LIST **m = p11_kit_modules_load(NULL, 0);
	char *name;

	if (m == NULL) {
		fprintf(stderr, "cannot load p11-kit modules: %s\n",
			p11_kit_message());
		return 1;
	}
	for (size_t i = 0; m[i] != NULL; i++) {
		if ((name = p11_kit_module_get_filename(m[i])) == NULL)
			continue;
		if (strstr(name, "p11agent-pkcs11") == NULL)
			printf("%s\n", name);
		free(name);
	}
	p11_kit_modules_release(m);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * A thread blocked in C_WaitForSlotEvent tells the agent of every slot
 * event (a card pulled or put back), so that the agent need not poll the
 * module's tokens.  It ends when C_Finalize wakes it.  Whether the
 * module supports it shows only by calling it: SoftHSM answers
 * CKF_DONT_BLOCK with CKR_NO_EVENT but a blocking call with
 * CKR_FUNCTION_NOT_SUPPORTED, at once.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int ended; /* the first blocking call returned an error */
} events = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

#define SLOT_EVENTS_SETTLE_MS 50

static void *
slot_events_main(void *arg)
{
	struct helper *h = arg;
	struct p11a_buf p;
	CK_SLOT_ID slot;
	CK_RV rv;

	for (;;) {
		rv = h->fn->C_WaitForSlotEvent(0, &slot, NULL);
		if (rv != CKR_OK)
			break;
		p11a_buf_init(&p, 8);
		if (p11a_buf_put_u64(&p, slot) == P11A_OK)
			hwire_send(h, H_EVENT, 0, &p);
		p11a_buf_free(&p);
	}
	pthread_mutex_lock(&events.lock);
	events.ended = 1;
	pthread_cond_signal(&events.done);
	pthread_mutex_unlock(&events.lock);
	log_debug("slot events end: %s", p11_kit_strerror(rv));
	return NULL;
}

/* Listen for slot events if the module blocks in C_WaitForSlotEvent. */
static void
slot_events_start(struct helper *h)
{
	struct timespec until;
	pthread_t t;

	if (pthread_create(&t, NULL, slot_events_main, h) != 0)
		return;
	pthread_detach(t);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += SLOT_EVENTS_SETTLE_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&events.lock);
	while (!events.ended &&
	       pthread_cond_timedwait(&events.done, &events.lock, &until) == 0)
		;
	h->slot_events = !events.ended;
	pthread_mutex_unlock(&events.lock);
	if (h->slot_events)
		log_info("the module reports slot events "
			 "(C_WaitForSlotEvent): its tokens are not polled");
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

int
main(int argc, char **argv)
{
	static char ident[NAME_MAX + 16];
	struct helper h = {.write_lock = PTHREAD_MUTEX_INITIALIZER,
			   .lock = PTHREAD_MUTEX_INITIALIZER,
			   .ended = PTHREAD_COND_INITIALIZER,
			   .reading = 1};
	struct args a;

	if (argc == 2 && strcmp(argv[1], "--list-registered") == 0)
		return list_registered();
	if (parse_args(argc, argv, &a) != 0) {
		fputs(usage, stderr);
		return 1;
	}
	snprintf(ident, sizeof(ident), "helper[%s]", base_name(a.module));
	log_init(ident, 0, (enum log_level)a.level);
	/* before the module runs: it must not see or keep our other fds */
	if (harden_process() != 0)
		return 1;
	/* before the module runs: its code is what the filter is for */
	if (!a.unconfined)
		(void)sandbox_enter();
	if (module_load(&h, a.module) != 0)
		return 1;
	p11a_buf_init(&h.in, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
	if (htokens_start(&h, a.sessions) != P11A_OK) {
		htokens_stop(&h);
		p11_kit_module_finalize(h.fn);
		return 1;
	}
	slot_events_start(&h);
	htokens_run(&h);
	/* SHUTDOWN finishes what was asked; after EOF nobody reads replies */
	htokens_stop(&h);
	p11a_buf_free(&h.in);
	p11_kit_module_finalize(h.fn);
	p11_kit_module_release(h.fn);
	log_debug("finished");
	return 0;
}
