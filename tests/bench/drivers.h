/*
 * A driver is one way of getting signatures: the same operations for
 * direct PKCS#11, the agent (blocking or pipelined), p11-kit server and
 * ssh-agent, so that run.c measures them all the same way.
 *
 * Every signature a driver returns is in TLS CertificateVerify form (raw
 * RSA, DER ECDSA, raw Ed25519), so one verifier checks them all.
 */
#ifndef P11A_BENCH_DRIVERS_H
#define P11A_BENCH_DRIVERS_H

#include <stdarg.h>

#include "bench.h"
#include "stats.h"

/* One cell as a driver sees it. */
struct bench_cell {
	const struct bench_opts *o;
	const struct bench_scheme *scheme;
	const struct bench_key *key;
	unsigned threads;
	void *shared; /* what the driver's setup made */
};

/* A thread stops after count signatures, or (count 0) at deadline_ns. */
struct bench_stop {
	uint64_t deadline_ns;
	uint64_t count;
};

/* Whether a thread that has made n signatures is done. */
static inline int
bench_stop_reached(const struct bench_stop *st, uint64_t n, uint64_t now)
{
	return st->count ? n >= st->count : now >= st->deadline_ns;
}

struct bench_driver {
	enum bench_mode mode;
	/* once per program (load the module, list the identities, ...) */
	int (*setup)(const struct bench_opts *o, void **shared,
		     char why[BENCH_WHY]);
	void (*teardown)(void *shared);
	/* 0 if the cell can be run; else why not ("n/a": not an error) */
	int (*supports)(void *shared, const struct bench_scheme *s,
			const struct bench_key *k, char why[BENCH_WHY]);
	/* the process doing the signing on the other side; 0 for none */
	pid_t (*server_pid)(void *shared);
	/* per thread: a session or connection */
	int (*open)(const struct bench_cell *c, void **conn,
		    char why[BENCH_WHY]);
	/* one blocking signature into sig (BENCH_SIG_MAX bytes; NULL when
	 * the caller does not want it) */
	int (*sign)(void *conn, const struct bench_input *in, uint8_t *sig,
		    size_t *sig_len, char why[BENCH_WHY]);
	/* the timed loop when it is not one sign() after another; NULL
	 * otherwise.  Adds one latency per signature to s, counts in *n. */
	int (*loop)(void *conn, const struct bench_input *in,
		    const struct bench_stop *st, struct bench_samples *s,
		    uint64_t *n, char why[BENCH_WHY]);
	void (*close)(void *conn);
};

extern const struct bench_driver bench_driver_direct;
extern const struct bench_driver bench_driver_p11kit;
extern const struct bench_driver bench_driver_agent;
extern const struct bench_driver bench_driver_pipelined;
extern const struct bench_driver bench_driver_ssh;

/* The driver of a mode. */
const struct bench_driver *bench_driver_for(enum bench_mode m);

/* Format an explanation into why; returns -1 for `return bench_why(...)`. */
int bench_why(char why[BENCH_WHY], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The pid of the process listening on a Unix socket (SO_PEERCRED); 0 if
 * it cannot be found. */
pid_t bench_socket_peer_pid(const char *path);

#endif
