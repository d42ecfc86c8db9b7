/*
 * The agent's link to the helper process of one PKCS#11 module
 * (docs/HELPER.md): p11agentd never calls a module itself.
 *
 * hlink_start() runs p11agent-helper for the module with a socketpair on
 * its fd 3 and its stderr on a pipe, and learns the module's tokens from
 * HELLO.  Any thread may then send requests (hlink_call): each carries an
 * id, and the link's reader thread hands every reply to the thread that
 * waits for it, so requests of different threads are in flight at once.
 *
 * The reader thread also supervises.  When the helper dies (EOF on the
 * socket) every request in flight fails, the tokens read as recovering,
 * and the helper is started again after a back-off; its generation then
 * moves on, so a request built with key handles of the old process is
 * refused instead of signing with whatever the new one has under that
 * handle.  A request that goes unanswered for the hang timeout gets the
 * helper killed (SIGKILL), and the same path restarts it.  Five restarts
 * within a minute leave the module failed, with the reason kept for
 * STATUS.  The helper's stderr goes to the agent's log, line by line,
 * with the module's name.
 */
#ifndef P11A_AGENT_HLINK_H
#define P11A_AGENT_HLINK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "buf.h"

/* The framing version of docs/HELPER.md the agent and helper speak. */
#define HLINK_VERSION 3u

/* The message types of docs/HELPER.md. */
enum hlink_msg {
	HL_HELLO = 0x01,
	HL_LOGIN = 0x02,
	HL_LOGOUT = 0x03,
	HL_KEYS = 0x04,
	HL_SIGN = 0x05,
	HL_PROBE = 0x06,
	HL_PING = 0x07,
	HL_SHUTDOWN = 0x08,
	HL_OK = 0x80,
	HL_HELLO_REPLY = 0x81,
	HL_KEYS_REPLY = 0x84,
	HL_SIGNATURE = 0x85,
	HL_PROBE_REPLY = 0x86,
	HL_PONG = 0x87,
	HL_EVENT = 0x89,
	HL_ERROR = 0xff
};

enum hlink_state {
	HLINK_READY,	  /* the helper runs and answers */
	HLINK_RECOVERING, /* it died or was killed; a new one is starting */
	HLINK_FAILED	  /* it kept dying: given up, see hlink_reason() */
};

/* A token as the helper's HELLO_REPLY lists it. */
struct hlink_token {
	uint64_t slot;
	CK_TOKEN_INFO info;
	unsigned sessions; /* sessions the helper opened on it */
};

struct hlink_config {
	unsigned sessions;	  /* per token, passed to the helper */
	unsigned hang_timeout_ms; /* unanswered this long: killed */
	int log_level;		  /* passed to the helper */
	int unconfined;		  /* helper without its system-call filter */
};

/*
 * What came back for a request.  code is P11A_OK for a success reply
 * (type and payload set), else the error: from the helper's H_ERROR (rv
 * the module's CK_RV) or from the link itself (the helper died, the
 * module failed, the key handles are stale), with a message for the log
 * and the client (never secret).
 */
struct hlink_reply {
	uint8_t type;
	int code;
	CK_RV rv;
	char msg[320];
	struct p11a_buf payload; /* owned: hlink_reply_free() */
};

struct hlink;

/*
 * Run the helper for module (an absolute path) and read its HELLO_REPLY.
 * Returns a p11a_err; an error is logged.
 */
int hlink_start(const char *module, const struct hlink_config *cfg,
		struct hlink **out);

/*
 * Called on the reader thread after the helper was restarted (state
 * READY, generation moved on): it must not wait for the link.
 */
void hlink_set_restart_hook(struct hlink *h, void (*fn)(void *ctx), void *ctx);

/*
 * Called on the reader thread for every slot event the helper reports
 * (its module blocks in C_WaitForSlotEvent): it must not wait.
 */
void hlink_set_event_hook(struct hlink *h, void (*fn)(void *ctx, uint64_t slot),
			  void *ctx);
/* Whether the module reports slot events, so its tokens need no polling. */
int hlink_slot_events(const struct hlink *h);
const CK_INFO *hlink_module_info(const struct hlink *h);
/* The tokens of the first HELLO; their slots stay valid across restarts. */
const struct hlink_token *hlink_tokens(const struct hlink *h, size_t *n);
const char *hlink_module(const struct hlink *h);

enum hlink_state hlink_state(struct hlink *h);
/* Why the module failed or last restarted ("" if never); for STATUS. */
void hlink_reason(struct hlink *h, char *out, size_t len);
/* Moves on with every restart; key handles belong to one generation. */
unsigned hlink_generation(struct hlink *h);
/* Helper restarts so far. */
unsigned hlink_restarts(struct hlink *h);

/*
 * A request in flight.  hlink_call() keeps one on its stack; a caller of
 * hlink_send() embeds one in its own request and owns it until on_reply
 * is called.
 */
struct hlink_req {
	struct hlink_req *next; /* the link's requests in flight */
	uint32_t id;
	uint64_t sent_ms;
	int done;
	int sending; /* its frame is being written */
	struct hlink_reply *rep;
	pthread_cond_t *wake; /* hlink_call(): its own, signalled when done */
	/* hlink_send(): called once with rep filled, on the reader thread */
	void (*on_reply)(struct hlink_req *req);
};

/*
 * Send a request without waiting for its reply: req->rep and
 * req->on_reply are the caller's.  P11A_OK: on_reply is called once,
 * when the reply came or the helper is gone: on the link's reader
 * thread, in hlink_stop(), or before hlink_send() returns, on the
 * caller's own thread, when the reply beat the end of the write (so
 * on_reply may start the next request from inside hlink_send()).  It
 * must not wait for the link.  Any other code
 * (the helper is restarting or failed, generation is stale, the write
 * failed): nothing was sent, on_reply is never called and rep says why.
 * It never waits for a restart: the caller decides whether to.
 */
int hlink_send(struct hlink *h, unsigned generation, uint8_t type,
	       const struct p11a_buf *payload, struct hlink_req *req);

/*
 * Send a request and wait for its reply.  While the helper is being
 * restarted the call waits for it (at most the hang timeout).  With
 * generation non-zero the request is refused (rep->rv
 * CKR_KEY_HANDLE_INVALID) when the helper is no longer the one of that
 * generation.  Returns rep->code.
 */
int hlink_call(struct hlink *h, unsigned generation, uint8_t type,
	       const struct p11a_buf *payload, struct hlink_reply *rep);
void hlink_reply_free(struct hlink_reply *rep);

/*
 * Restart the helper because its module is stuck in an error a new
 * process may cure (the device was reset under it: only finalizing and
 * initializing the module again helps).  Only if the helper is still
 * the one of generation and ready: several callers seeing the same
 * failure restart it once.  The state is RECOVERING when this returns,
 * so hlink_call() waits for the new helper; the restart counts towards
 * the crash loop like a death.  Returns 1 if it restarted the helper.
 */
int hlink_restart(struct hlink *h, unsigned generation, const char *reason);
/*
 * Wait while the helper is being restarted (at most the hang timeout);
 * 1 if it is ready then.
 */
int hlink_wait_ready(struct hlink *h);

/*
 * Ask the helper to finish and exit (SHUTDOWN), wait at most timeout_ms,
 * then kill it; stop the reader and free the link.
 */
void hlink_stop(struct hlink *h, int timeout_ms);

/*
 * The helper program: p11agent-helper next to our own executable (the
 * build tree), else the installed one.
 */
const char *hlink_helper_path(void);

#endif
