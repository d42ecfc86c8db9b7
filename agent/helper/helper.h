/*
 * p11agent-helper: the one process that calls a PKCS#11 module, for
 * p11agentd, over a socketpair on fd 3.  docs/HELPER.md is normative for
 * the messages; this header holds the process's shared state.
 *
 * Threads: the main thread reads frames and answers HELLO and PING
 * itself; every token has a FIFO of requests served by its workers, each
 * owning one session.  Replies go out whole under one write lock.
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
	struct htoken *tok;
	CK_SESSION_HANDLE session; /* CK_INVALID_HANDLE until opened */
	pthread_t thread;
};

struct htoken {
	struct helper *h;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info; /* as read at start, after opening sessions */
	unsigned opened;    /* sessions opened at start */
	struct hworker *workers;
	unsigned n_workers;
	pthread_mutex_t lock; /* the FIFO and stopping */
	pthread_cond_t cond;
	struct hjob *head, *tail;
	int stopping;
};

struct helper {
	CK_FUNCTION_LIST *fn;
	CK_INFO info;
	struct htoken *tokens;
	size_t n_tokens;
	pthread_mutex_t write_lock;
	int slot_events; /* C_WaitForSlotEvent works: H_EVENT is sent */
};

#endif
