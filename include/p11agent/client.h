/*
 * libp11agent: a client of the p11agentd socket protocol.
 *
 * Every function returns a p11a_err code (0 on success).  A connection is
 * not thread-safe: use one per thread, or serialise calls on it.  Blocking
 * calls send one request and wait for its reply, asleep in a blocking
 * read (never polling).  To pipeline, send
 * several requests with p11a_client_send_sign() (or queue them with
 * p11a_client_queue_sign(), to write them together) and collect the
 * replies with p11a_client_recv() in whatever order the agent answers.
 *
 * Reconnecting: when the connection breaks on I/O (the agent was
 * restarted, or closed an idle connection), the idempotent calls
 * p11a_client_list(), p11a_client_status(), p11a_client_sign() and
 * p11a_client_send_sign() connect to the same socket path again, once
 * per call, and repeat their request there; if that fails they return
 * the error (P11A_ERR_CONNECT while no agent listens) and the next such
 * call tries again.  They do so only when no pipelined request is
 * waiting for its reply or queued, and no such request was lost without
 * a pipelining call (send, queue, flush, recv) having returned
 * P11A_ERR_IO since: a break loses every outstanding reply, so
 * p11a_client_recv() then returns P11A_ERR_IO, forgets the outstanding
 * requests, and the caller decides which to send again.
 * p11a_client_lock() and p11a_client_unlock() are not idempotent and
 * never reconnect: on a broken connection they return P11A_ERR_IO (close
 * it and connect again).  A repeated SIGN may be signed twice by the
 * token, which is harmless for a signature.
 */
#ifndef P11AGENT_CLIENT_H
#define P11AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "p11agent/error.h"
#include "p11agent/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is exported from libp11agent. */
#pragma GCC visibility push(default)

typedef struct p11a_client p11a_client;

/*
 * p11a_default_socket_path - the socket a client uses when given none:
 * $P11AGENT_SOCK if set, else $XDG_RUNTIME_DIR/p11agent/agent.sock.
 * Writes into buf (size len); P11A_ERR_CONNECT when neither is set.
 */
int p11a_default_socket_path(char *buf, size_t len);

/*
 * p11a_client_connect - connect to the agent at path (NULL: the default
 * path) and exchange HELLO.  P11A_ERR_CONNECT if nothing listens there,
 * P11A_ERR_VERSION if the agent speaks no common protocol version.
 */
int p11a_client_connect(const char *path, p11a_client **out);

/*
 * p11a_client_connect_msg - p11a_client_connect() that, when it fails,
 * also copies the explanation ("no agent at PATH", the agent's ERROR
 * text, ...) into msg, which has room for msg_len bytes (msg may be NULL
 * when msg_len is 0).  The explanation cannot be fetched later because
 * no connection is returned on failure.
 */
int p11a_client_connect_msg(const char *path, p11a_client **out, char *msg,
			    size_t msg_len);

/*
 * p11a_client_close - close the connection and free it; NULL is fine.
 * Requests queued with p11a_client_queue_sign() and not yet written are
 * dropped.
 */
void p11a_client_close(p11a_client *c);

/* p11a_client_hello - the agent's HELLO reply (owned by the client). */
const struct p11a_hello *p11a_client_hello(const p11a_client *c);

/*
 * p11a_client_broken - the error (P11A_ERR_IO, a framing error, ...) that
 * left the connection out of step with the agent, or 0 while it is
 * usable.  A broken connection fails every later call except those that
 * reconnect (see above); a pool of connections closes it instead of
 * handing it out again.  0 for NULL.
 */
int p11a_client_broken(const p11a_client *c);

/*
 * p11a_client_last_message - the message text of the last ERROR reply
 * (or a local explanation), never NULL; valid until the next call.
 */
const char *p11a_client_last_message(const p11a_client *c);

/*
 * p11a_client_list - fetch every identity.  Free *list with
 * p11a_identity_list_free().
 */
int p11a_client_list(p11a_client *c, struct p11a_identity_list *list);

/* p11a_identity_list_free - release what p11a_client_list() filled. */
void p11a_identity_list_free(struct p11a_identity_list *list);

/*
 * p11a_client_sign - sign and wait (asleep in the kernel until the reply
 * comes).  On success *sig is a malloc'd buffer (free()) of *sig_len
 * bytes in TLS CertificateVerify form.
 */
int p11a_client_sign(p11a_client *c, const struct p11a_sign_request *req,
		     uint8_t **sig, size_t *sig_len);

/*
 * p11a_client_status - agent and token status.  Free with
 * p11a_status_free().
 */
int p11a_client_status(p11a_client *c, struct p11a_status *st);

/* p11a_status_free - release what p11a_client_status() filled. */
void p11a_status_free(struct p11a_status *st);

/*
 * p11a_client_status_detail - STATUS with the sessions and queue of each
 * token and the signing path of each identity's schemes
 * (docs/PROTOCOL.md 6.7).  From an agent without them (no
 * P11A_CAP_STATUS_DETAIL) only d->status is filled and d->detailed is
 * 0.  Free with p11a_status_detail_free().
 */
int p11a_client_status_detail(p11a_client *c, struct p11a_status_detail *d);

/* p11a_status_detail_free - release what p11a_client_status_detail() filled. */
void p11a_status_detail_free(struct p11a_status_detail *d);

/* p11a_client_lock - log out of every token and wipe cached PINs. */
int p11a_client_lock(p11a_client *c);

/*
 * p11a_client_unlock - log in again with pin.  token_uri (a pkcs11: URI)
 * restricts it to matching tokens; NULL means every token.
 * P11A_ERR_PIN_INCORRECT if a token refused the PIN (or, logged in
 * already, was logged in with another one); P11A_ERR_TOKEN_NOT_FOUND if
 * token_uri matches no token.
 */
int p11a_client_unlock(p11a_client *c, const char *token_uri, const char *pin);

/*
 * p11a_client_unlock_flags - p11a_client_unlock() with P11A_UNLOCK_* flags.
 * A token with one PIN try left (CKF_USER_PIN_FINAL_TRY) is tried only
 * with P11A_UNLOCK_FINAL_TRY, else P11A_ERR_PIN_FINAL_TRY; a token whose
 * PIN is blocked is never tried: P11A_ERR_PIN_LOCKED.  The tokens of one
 * UNLOCK are tried one after the other; the first that refuses the PIN
 * ends it (the others are not tried with it).
 */
int p11a_client_unlock_flags(p11a_client *c, const char *token_uri,
			     const char *pin, uint32_t flags);

/*
 * p11a_client_send_sign - queue a SIGN request without waiting; *req_id
 * receives its request id.  The request is written before returning.
 */
int p11a_client_send_sign(p11a_client *c, const struct p11a_sign_request *req,
			  uint32_t *req_id);

/*
 * p11a_client_queue_sign - like p11a_client_send_sign(), but the request
 * is only queued in the library: it goes out, together with every other
 * request queued by then, at p11a_client_flush(), at the next request
 * written, or when p11a_client_recv() (or any call) has to wait for the
 * agent.  A pipelining caller that queues the requests it has ready
 * costs itself and the agent one write and one read for all of them.
 */
int p11a_client_queue_sign(p11a_client *c, const struct p11a_sign_request *req,
			   uint32_t *req_id);

/* p11a_client_flush - write every queued request now. */
int p11a_client_flush(p11a_client *c);

struct p11a_reply {
	uint32_t id;	/* request id it answers */
	uint32_t error; /* 0, or the ERROR reply's code */
	char *message;	/* ERROR message, or NULL */
	uint8_t *sig;	/* SIGNATURE bytes, or NULL */
	size_t sig_len;
};

/*
 * p11a_client_recv - wait for the next reply to a request sent with
 * p11a_client_send_sign().  Free with p11a_reply_free().
 */
int p11a_client_recv(p11a_client *c, struct p11a_reply *reply);

/* p11a_reply_free - release what p11a_client_recv() filled. */
void p11a_reply_free(struct p11a_reply *reply);

/* p11a_scheme_from_name / p11a_scheme_to_name - RFC 8446 names. */
int p11a_scheme_from_name(const char *name, uint16_t *code);
const char *p11a_scheme_to_name(uint16_t code);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
