/*
 * Names and messages of the error codes in p11agent/error.h, in a table
 * indexed by code.  docs/PROTOCOL.md lists the same texts.
 */
#include <stddef.h>

#include "p11agent/error.h"

struct err_entry {
	const char *name;
	const char *message;
};

#define E(code, msg) [P11A_ERR_##code] = {#code, msg}

static const struct err_entry err_table[] = {
	[P11A_OK] = {"OK", "success"},
	E(INTERNAL, "internal error"),
	E(NO_MEMORY, "out of memory"),
	E(PROTOCOL, "protocol error: message malformed or out of order"),
	E(FRAME_TOO_LARGE, "frame larger than the maximum size"),
	E(TRUNCATED, "message truncated: a field runs past the end"),
	E(TRAILING_DATA, "unexpected bytes after the last field"),
	E(UNKNOWN_MESSAGE, "unknown message type"),
	E(VERSION, "no protocol version in common"),
	E(IDENTITY_NOT_FOUND, "no identity matches"),
	E(IDENTITY_AMBIGUOUS, "the URI or id matches more than one identity"),
	E(SCHEME_UNSUPPORTED, "the key cannot sign with this scheme"),
	E(UNKNOWN_SCHEME, "unknown signature scheme"),
	E(BAD_INPUT, "bad input data (e.g. digest of the wrong length)"),
	E(LOCKED, "locked: unlock first"),
	E(PIN_INCORRECT, "PIN incorrect"),
	E(PIN_LOCKED, "PIN locked by the token"),
	E(TOKEN_NOT_PRESENT, "token not present"),
	E(TOKEN, "token error"),
	E(TIMEOUT, "timed out"),
	E(DENIED, "denied by policy"),
	E(BUSY, "busy: a limit was reached"),
	E(CONNECT, "cannot connect to the agent"),
	E(IO, "connection broken or closed"),
	E(INVALID_ARGUMENT, "invalid argument"),
	E(SHUTTING_DOWN, "the agent is shutting down"),
	E(INCOMPLETE, "incomplete: more bytes needed"),
	E(TOKEN_NOT_FOUND, "no token matches"),
	E(UNTRUSTED_AGENT, "the agent at the socket runs as an untrusted uid"),
	E(PIN_FINAL_TRY, "the token has one PIN try left: not used without "
			 "--final-try"),
};

#undef E

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == P11A_ERR_MAX_,
	       "err_table must have one entry per error code");

static const struct err_entry *
err_lookup(int err)
{
	if (err < 0 || err >= P11A_ERR_MAX_ || err_table[err].name == NULL)
		return NULL;
	return &err_table[err];
}

const char *
p11a_strerror(int err)
{
	const struct err_entry *e = err_lookup(err);

	return e == NULL ? "unknown error" : e->message;
}

const char *
p11a_err_name(int err)
{
	const struct err_entry *e = err_lookup(err);

	return e == NULL ? "UNKNOWN" : e->name;
}
