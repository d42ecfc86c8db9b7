/*
 * p11agent-helper: the one process that calls a PKCS#11 module, for
 * p11agentd, over a socketpair on fd 3.  docs/HELPER.md is normative for
 * the messages; this header holds the process's shared state.
 *
 * Threads: a worker per session of every token, each owning its
 * session; whichever worker is idle reads the agent's frames, queues
 * each on its token's FIFO and takes the first of its own.  The main
 * thread starts them and waits for the end.  Replies go out whole under
 * one write lock.
 */
#ifndef P11A_HELPER_H
#define P11A_HELPER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "buf.h"
#include "hproto.h"

#define HELPER_FD 3
#define HELPER_MAX_KEYS 256
#define HELPER_SIG_BUF 1100
#define HELPER_MAX_MECHS 64

/* A request as decoded; pointers borrow the job's copy of the payload. */
struct hreq {
	uint8_t type;
	uint32_t id;
	uint32_t version; /* HELLO */
	uint64_t slot;
	uint64_t user_type; /* LOGIN */
	/* LOGIN, and SIGN with auth; empty: protected authentication path */
	const uint8_t *pin;
	size_t pin_len;
	uint64_t key, mechanism; /* SIGN */
	uint8_t has_pss;
	uint8_t auth; /* SIGN: C_Login(CKU_CONTEXT_SPECIFIC, pin) first */
	uint64_t pss_hash, pss_mgf, pss_salt;
	const uint8_t *data;
	size_t data_len;
};

struct hjob {
	struct hjob *next;
	struct hreq req;
	uint8_t *copy; /* the payload; a locked page when it has a PIN */
	size_t copy_len;
	int locked;
};

struct helper;
struct htoken;

struct hworker {
	struct helper *h;
	struct htoken *tok; /* NULL: it only reads (a module without tokens) */
	CK_SESSION_HANDLE session; /* CK_INVALID_HANDLE until opened */
	pthread_t thread;
	pthread_cond_t
		wake; /* a job for its token, the reading turn, the end */
	struct hworker *next_idle;
	int idle;
};

struct htoken {
	struct helper *h;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info; /* as read at start, after opening sessions */
	unsigned opened;    /* sessions opened at start */
	struct hworker *workers;
	unsigned n_workers;
	struct hjob *head, *tail; /* its FIFO, under the helper's lock */
};

struct helper {
	CK_FUNCTION_LIST *fn;
	CK_INFO info;
	struct htoken *tokens;
	size_t n_tokens;
	pthread_mutex_t write_lock;
	int slot_events; /* C_WaitForSlotEvent works: H_EVENT is sent */

	/*
	 * The FIFOs, the idle workers, the reading turn and the end.  An
	 * idle worker takes the reading turn (intake.c): it reads what the
	 * agent sent, queues it, and runs the first job of its own token
	 * itself, so a request costs no hand-over between threads.
	 */
	pthread_mutex_t lock;
	pthread_cond_t ended; /* end was set */
	struct hworker *idle;
	int reading; /* a worker has the turn (or the start holds it) */
	int end;     /* 1 after SHUTDOWN: finish the FIFOs; -1 after EOF */
	struct p11a_buf in; /* the agent's bytes; the reading worker's */
};

#endif
