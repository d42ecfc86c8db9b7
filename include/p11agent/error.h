/*
 * p11agent error codes, shared by the agent, libp11agent and the wire
 * protocol.  The numeric values travel in ERROR replies (docs/PROTOCOL.md),
 * so existing values never change; new codes are appended.
 */
#ifndef P11AGENT_ERROR_H
#define P11AGENT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is exported from libp11agent. */
#pragma GCC visibility push(default)

typedef enum p11a_err {
	P11A_OK = 0,
	P11A_ERR_INTERNAL = 1, /* a bug or an impossible state */
	P11A_ERR_NO_MEMORY = 2,
	P11A_ERR_PROTOCOL = 3,		 /* message out of order or malformed */
	P11A_ERR_FRAME_TOO_LARGE = 4,	 /* length prefix above the maximum */
	P11A_ERR_TRUNCATED = 5,		 /* a field runs past the end */
	P11A_ERR_TRAILING_DATA = 6,	 /* bytes left after the last field */
	P11A_ERR_UNKNOWN_MESSAGE = 7,	 /* message type not known */
	P11A_ERR_VERSION = 8,		 /* no protocol version in common */
	P11A_ERR_IDENTITY_NOT_FOUND = 9, /* no identity matches */
	P11A_ERR_IDENTITY_AMBIGUOUS = 10, /* a URI (or id) matches several */
	P11A_ERR_SCHEME_UNSUPPORTED = 11, /* the key cannot do this scheme */
	P11A_ERR_UNKNOWN_SCHEME = 12,	  /* scheme code not known at all */
	P11A_ERR_BAD_INPUT = 13,	  /* e.g. digest of the wrong length */
	P11A_ERR_LOCKED = 14,		  /* agent/token locked: UNLOCK first */
	P11A_ERR_PIN_INCORRECT = 15,
	P11A_ERR_PIN_LOCKED = 16, /* the token blocked its PIN */
	P11A_ERR_TOKEN_NOT_PRESENT = 17,
	P11A_ERR_TOKEN = 18, /* other failure reported by the token */
	P11A_ERR_TIMEOUT = 19,
	P11A_ERR_DENIED = 20,		/* refused by policy */
	P11A_ERR_BUSY = 21,		/* a limit was reached */
	P11A_ERR_CONNECT = 22,		/* client side: no agent at the path */
	P11A_ERR_IO = 23,		/* connection broken or closed */
	P11A_ERR_INVALID_ARGUMENT = 24, /* caller passed something unusable */
	P11A_ERR_SHUTTING_DOWN = 25,	/* the agent is stopping */
	P11A_ERR_INCOMPLETE = 26,	/* internal: need more bytes */
	P11A_ERR_TOKEN_NOT_FOUND = 27,	/* no token matches the URI */
	/* client side: the socket's listener runs as a uid not trusted */
	P11A_ERR_UNTRUSTED_AGENT = 28,
	/* one PIN try left: UNLOCK refused it without P11A_UNLOCK_FINAL_TRY */
	P11A_ERR_PIN_FINAL_TRY = 29,
	P11A_ERR_MAX_ = 30
} p11a_err;

/*
 * p11a_strerror - a one-line English description of an error code.
 * Never returns NULL; unknown codes give "unknown error".
 */
const char *p11a_strerror(int err);

/*
 * p11a_err_name - the symbolic name of an error code without prefix,
 * e.g. "LOCKED" for P11A_ERR_LOCKED; "UNKNOWN" for codes not known.
 */
const char *p11a_err_name(int err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
