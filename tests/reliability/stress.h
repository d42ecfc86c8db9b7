/*
 * p11a-stress: load, restart and garbage tests against a running
 * p11agentd (see p11a-stress.c for the modes).  Shared declarations.
 */
#ifndef P11A_STRESS_H
#define P11A_STRESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* A key the well-behaved clients sign with, and how to check it. */
struct stress_key {
	const char *id;	 /* identity id or URI */
	uint16_t scheme; /* TLS SignatureScheme */
	EVP_PKEY *pub;	 /* from the token maker's PEM, not from the agent */
	unsigned weight; /* share of the requests */
};

/* Counters every thread adds to. */
struct stress_stats {
	atomic_ulong signed_ok;	  /* replies that verified */
	atomic_ulong bad_sig;	  /* replies that did not verify */
	atomic_ulong errors;	  /* ERROR replies */
	atomic_ulong unknown_id;  /* replies to no outstanding request */
	atomic_ulong lost;	  /* requests lost with a broken connection */
	atomic_ulong reconnects;  /* calls that had to wait for the agent */
	atomic_ulong garbage;	  /* garbage connections made */
	atomic_ulong garbage_bad; /* garbage the agent did not close */
	atomic_int stop_garbage;
	atomic_int first_error; /* p11a_err of the first ERROR reply */
};

/* Load a PEM public key (or certificate); NULL on failure. */
EVP_PKEY *stress_load_pub(const char *path);

/* 1 if sig is a good signature of msg under scheme by pub. */
int stress_verify(EVP_PKEY *pub, uint16_t scheme, const uint8_t *msg,
		  size_t len, const uint8_t *sig, size_t sig_len);

/*
 * One garbage thread: until st->stop_garbage, connect to path and
 * misbehave in one of several ways, checking that the agent closes the
 * connection.  arg is a struct garbage_arg.
 */
struct garbage_arg {
	const char *path;
	const char *identity; /* a real key, for SIGNs cut off mid-request */
	uint16_t scheme;
	struct stress_stats *st;
	unsigned seed;
};
void *stress_garbage_thread(void *arg);

/* VmRSS of a process in KiB; 0 if it cannot be read. */
unsigned long stress_rss_kb(long pid);

#endif
