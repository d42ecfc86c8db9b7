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
 * Exit status: 0 after EOF on fd 3 or SHUTDOWN, 1 when it cannot start,
 * 2 when the agent sent a malformed frame.
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

#define READ_CHUNK 65536u
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

static void
reply_hello(struct helper *h, const struct hreq *r)
{
	struct p11a_buf out;

	if (r->version == 0) {
		hwire_send_rv(h, r->id, P11A_ERR_VERSION, CKR_OK, "HELLO");
		return;
	}
	p11a_buf_init(&out, P11A_MAX_FRAME - P11A_FRAME_BODY_MIN);
	if (hwire_hello_reply(h, HELPER_VERSION, &out) == P11A_OK)
		hwire_send(h, H_HELLO_REPLY, r->id, &out);
	else
		hwire_send_rv(h, r->id, P11A_ERR_NO_MEMORY, CKR_HOST_MEMORY,
			      "HELLO");
	p11a_buf_free(&out);
}

/* The agent is trusted, but a malformed frame means it is confused. */
static void __attribute__((noreturn))
malformed(const struct p11a_frame *f, int err)
{
	log_error("malformed frame (type 0x%02x, id %u) from the agent: %s",
		  f != NULL ? f->type : 0, f != NULL ? f->id : 0,
		  p11a_strerror(err));
	_exit(2);
}

/* One frame; returns 1 after SHUTDOWN. */
static int
handle_frame(struct helper *h, const struct p11a_frame *f)
{
	struct htoken *t;
	struct hjob *j;
	int err;

	if ((j = job_new(f->type, f->id, &f->payload, &err)) == NULL) {
		if (err != P11A_ERR_NO_MEMORY)
			malformed(f, err);
		hwire_send_rv(h, f->id, err, CKR_HOST_MEMORY, "helper");
		return 0;
	}
	switch (f->type) {
	case H_PING:
		hwire_send_empty(h, H_PONG, f->id);
		break;
	case H_HELLO:
		reply_hello(h, &j->req);
		break;
	case H_SHUTDOWN:
		hwire_send_empty(h, H_OK, f->id);
		job_free(j);
		return 1;
	default:
		if ((t = htoken_find(h, j->req.slot)) != NULL) {
			htoken_push(t, j);
			return 0;
		}
		hwire_send_rv(h, f->id, P11A_ERR_TOKEN_NOT_PRESENT,
			      CKR_SLOT_ID_INVALID, "helper");
	}
	job_free(j);
	return 0;
}

/* Frames until EOF (0), SHUTDOWN (1) or a read error (-1). */
static int
read_loop(struct helper *h)
{
	struct p11a_buf in;
	struct p11a_frame f;
	uint8_t *p;
	ssize_t n;
	int r = 0, e;

	p11a_buf_init(&in, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
	while (r == 0) {
		size_t room = p11a_buf_room(&in);

		if (p11a_buf_reserve(&in, room < READ_CHUNK ? room : READ_CHUNK,
				     &p) != P11A_OK) {
			r = -1;
			break;
		}
		n = read(HELPER_FD, p, room < READ_CHUNK ? room : READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n == 0 ? 0 : -1;
			break;
		}
		p11a_buf_commit(&in, (size_t)n);
		while (r == 0 && (e = p11a_frame_next(&in, P11A_MAX_FRAME,
						      &f)) == P11A_OK) {
			r = handle_frame(h, &f);
			/* the job has its copy; a PIN stays in one place */
			OPENSSL_cleanse(
				(void *)(uintptr_t)p11a_buf_ptr(&f.payload),
				p11a_buf_remaining(&f.payload));
		}
		if (r == 0 && e != P11A_ERR_INCOMPLETE)
			malformed(NULL, e);
		p11a_buf_compact(&in);
	}
	if (r < 0)
		log_error("reading from the agent: %s", strerror(errno));
	p11a_buf_free(&in);
	return r;
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
	struct helper h = {.write_lock = PTHREAD_MUTEX_INITIALIZER};
	struct args a;
	int r;

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
	if (htokens_start(&h, a.sessions) != P11A_OK) {
		htokens_stop(&h, 0);
		p11_kit_module_finalize(h.fn);
		return 1;
	}
	slot_events_start(&h);
	r = read_loop(&h);
	/* SHUTDOWN finishes what was asked; after EOF nobody reads replies */
	htokens_stop(&h, r == 1);
	p11_kit_module_finalize(h.fn);
	p11_kit_module_release(h.fn);
	log_debug("finished");
	return r < 0 ? 1 : 0;
}
