/*
 * Event-loop threads.
 *
 * The agent serves its clients from a few event loops (one per CPU, at
 * least two), each with its own epoll set; a connection belongs to one
 * loop for its whole life, so its input is only ever touched by the
 * thread serving that loop.  Serving a loop is a role (a mutex) that
 * one thread holds while it waits for and handles events.
 *
 * A SIGN whose token has an idle session and nothing queued is not
 * handed to a worker: the loop thread that read it signs it itself,
 * after it has handled the rest of its events, so one client request
 * costs the agent one thread wake-up instead of two.  While it signs it
 * lets go of the role.  Should a token hold it (a hung card), the
 * monitor gives the loop another thread after LOOP_RESCUE_MS, so no
 * token can stall the clients of a loop for longer than that.
 *
 * Before blocking, a loop thread that has just served a request polls
 * its epoll set for up to --spin microseconds (yielding the CPU to
 * anyone runnable): the next request of a busy client then finds it
 * awake, which on virtual machines saves the costly wake-up of an idle
 * CPU.  An idle agent does not spin.
 */
#ifndef P11A_AGENT_LOOP_H
#define P11A_AGENT_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct job;
struct loop;
struct token;

/* What the server does with a loop's events; called with the role. */
struct loop_ops {
	/* handle n events of the loop */
	void (*handle)(void *ctx, struct loop *l, struct epoll_event *ev,
		       int n);
	/* once per wake-up, after the events: sweeps and the like */
	void (*tick)(void *ctx, struct loop *l, uint64_t now_ms);
};

/* The loops give a stuck loop another thread after this long. */
#define LOOP_RESCUE_MS 100
#define LOOP_MAX 16

/*
 * Create n loops (their epoll sets, no threads yet) that poll for
 * spin_us before blocking.  Returns a p11a_err.
 */
int loops_init(unsigned n, unsigned spin_us);
/* Start one thread per loop; events go to ops with ctx. */
int loops_start(const struct loop_ops *ops, void *ctx);
/* Ask every loop thread to return, and wait at most timeout_ms. */
int loops_stop(int timeout_ms);
/* Close the epoll sets (after loops_stop returned 0). */
void loops_free(void);

unsigned loops_count(void);
struct loop *loops_get(unsigned i);
/* The loop with the fewest connections, for a new one. */
struct loop *loops_least_loaded(void);
int loop_epfd(const struct loop *l);
unsigned loop_index(const struct loop *l);
/* Count a connection in or out of the loop. */
void loop_conn_added(struct loop *l);
void loop_conn_removed(struct loop *l);

/*
 * Submit a SIGN job.  On a loop thread whose token has an idle session
 * and nothing queued, the job is kept and run by this thread once it has
 * handled its other events, and so are later SIGNs of this wake-up for
 * the same token (jobs_keep): as long as they are expected to take
 * LOOP_KEEP_US together, beyond that while no other session is idle, at
 * most 64, and none after one went to the workers.  Otherwise it goes on
 * the token's queue as with jobs_submit().  Returns what jobs_submit()
 * returns.
 */
int loop_submit(struct token *t, struct job *j);

/* Monitor: give a loop whose threads are all stuck in tokens another. */
void loops_rescue(uint64_t now_ms);

#endif
