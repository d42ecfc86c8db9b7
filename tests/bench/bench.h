/*
 * p11agent-bench: what its parts share.
 *
 * A run measures a matrix of cells: (scheme, client threads, mode).  A
 * mode is one way of getting a signature made by the same key on the same
 * token (direct C_Sign in this process, the agent blocking or pipelined,
 * p11-kit server, ssh-agent); each mode is a driver (drivers.h).  run.c
 * runs one cell, stats.c turns its samples into figures, report.c prints
 * the table and writes the JSON.
 */
#ifndef P11A_BENCH_H
#define P11A_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "p11agent/protocol.h"
#include "scheme.h"

#define BENCH_MAX_THREADS 256
#define BENCH_MAX_THREAD_COUNTS 16
#define BENCH_MAX_SCHEMES 16
#define BENCH_MAX_DEPTH 256
#define BENCH_MSG_MAX 4096
#define BENCH_SIG_MAX 1024
#define BENCH_LABEL_MAX 64
#define BENCH_WHY 256 /* room for an explanation */

enum bench_mode {
	MODE_DIRECT,	/* C_Sign in this process, session per thread */
	MODE_AGENT,	/* p11agentd, blocking, connection per thread */
	MODE_PIPELINED, /* p11agentd, depth requests in flight */
	MODE_P11KIT,	/* p11-kit-client.so to `p11-kit server` */
	MODE_SSH,	/* ssh-agent holding the token (`ssh-add -s`) */
	MODE_COUNT
};

/* A scheme to measure and the CKA_LABEL of the key that signs it. */
struct bench_scheme {
	const struct p11a_scheme_info *sc;
	char label[BENCH_LABEL_MAX];
};

struct bench_opts {
	const char *module;	   /* PKCS#11 module for direct */
	const char *p11kit_module; /* p11-kit-client.so */
	const char *token;	   /* token label */
	char *pin;		   /* malloc'd, wiped at exit */
	const char *socket;	   /* p11agentd socket */
	const char *ssh_socket;	   /* ssh-agent socket */
	const char *pubkey_dir;	   /* LABEL.pub.pem files, or NULL */
	const char *json;	   /* --json FILE, or NULL */
	pid_t agent_pid;	   /* 0: found through the socket */
	unsigned modes;		   /* bit (1u << enum bench_mode) */
	struct bench_scheme schemes[BENCH_MAX_SCHEMES];
	size_t n_schemes;
	unsigned threads[BENCH_MAX_THREAD_COUNTS];
	size_t n_threads;
	unsigned depth;	  /* pipelined requests per connection */
	double seconds;	  /* per cell, when count is 0 */
	uint64_t count;	  /* signatures per cell (all threads) */
	unsigned repeat;  /* whole matrix this many times */
	size_t msg_len;	  /* bytes of the signed message */
	int message_form; /* send the message, not its digest */
	unsigned workers; /* agent workers, for the record only */
};

/* What a thread signs: a random message and, for hashed schemes, its
 * digest (what a TLS stack that hashed the transcript itself holds). */
struct bench_input {
	const struct p11a_scheme_info *sc;
	uint8_t msg[BENCH_MSG_MAX];
	size_t msg_len;
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t digest_len; /* 0 for Ed25519 */
	int message_form;
};

/* A key to measure with: its label and public key (for verifying). */
struct bench_key {
	char label[BENCH_LABEL_MAX];
	EVP_PKEY *pub;
};

/* Figures of one cell (one repetition, or the median of several). */
struct bench_result {
	int ok;		     /* 0: the cell failed or was not run */
	int na;		     /* not ok because the mode cannot do it */
	char why[BENCH_WHY]; /* when not ok */
	uint64_t signatures;
	double seconds; /* wall time of the timed part */
	double rate;	/* signatures per second */
	double p50_us, p99_us;
	double client_cpu_us; /* this process's CPU per signature */
	double server_cpu_us; /* the server process tree's; < 0 unknown */
};

const char *bench_mode_name(enum bench_mode m);
/* -1 when the name is not a mode */
int bench_mode_from_name(const char *name);

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

#endif
