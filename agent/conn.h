/*
 * A client connection.  The event loop owns reading; any thread (a
 * token's worker, the monitor) may send a reply.  Replies are written straight
 * to the socket when it takes them, otherwise kept in the output buffer and
 * written by the loop when the socket is writable.  The descriptor is closed
 * only when the last reference is dropped, so a worker finishing late never
 * writes to a reused descriptor.
 */
#ifndef P11A_AGENT_CONN_H
#define P11A_AGENT_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "log.h"

/*
 * Memory.  What a connection holds for its client, its unread replies
 * and its requests queued or running, is its pending memory: once that
 * reaches CONN_MAX_PENDING the connection is paused, that is the agent
 * stops reading it (EPOLLIN off) until it is below again.  The buffers
 * of every connection and their requests together are the agent's
 * client memory: while that is at --max-memory (conn_set_max_memory),
 * every connection with anything pending is paused, so the clients that
 * read their replies are still served, one request at a time.  A paused
 * connection is resumed once it holds nothing, or half its bound while
 * the client memory is below half --max-memory.
 */
#define CONN_MAX_PENDING (1024u * 1024u)
/*
 * Replies of requests already in flight can take a paused connection
 * past CONN_MAX_PENDING, never this far: past it the client is cut.
 */
#define CONN_MAX_OUTPUT (2u * 1024u * 1024u)
#define CONN_MAX_GROUPS 64

struct conn {
	int fd;
	int epfd;
	atomic_int refs;
	pthread_mutex_t out_lock; /* out, closed, events, out_counted */
	struct p11a_buf out;
	atomic_int closed;  /* written under out_lock, read anywhere */
	atomic_int paused;  /* written under out_lock: not read (EPOLLIN off) */
	atomic_int kick;    /* written under out_lock: resumed, loop to look */
	atomic_int cut;	    /* shut down: closed by the loop soon */
	uint32_t events;    /* what its epoll set waits for */
	size_t out_counted; /* out's allocation, in the client memory */
	atomic_size_t out_pending; /* unread reply bytes */
	atomic_size_t queued;	   /* bytes of its requests queued or running */
	atomic_uint inflight;	   /* SIGNs queued or running */
	atomic_int logged;	   /* it had its one line (conn_log) */
	atomic_uint not_logged;	   /* the lines it had beyond that */
	/* last byte received or sent; the accept thread reads it too */
	atomic_uint_fast64_t last_active_ms;
	/* the rest belongs to the event loop thread */
	struct p11a_buf in;
	size_t in_counted; /* in's allocation, in the client memory */
	int hello_done;
	uint64_t accepted_ms;
	uint64_t partial_since_ms; /* a frame is half received; 0: none */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[CONN_MAX_GROUPS]; /* supplementary groups */
	size_t n_groups;
	char exe[256]; /* the peer's executable, for the audit log */
	struct conn *prev, *next;
};

struct conn *conn_new(int fd, int epfd);
/*
 * Connections allocated and not yet freed, including closed ones that
 * queued jobs still hold: what really uses descriptors and memory.
 */
unsigned conn_count_live(void);
/* Whether the client is gone: work for it can be skipped. */
int conn_is_closed(const struct conn *c);
/* The bound on the client memory (--max-memory), in bytes. */
void conn_set_max_memory(size_t bytes);
/*
 * Loop: whether the connection may be read now (another request taken
 * from its input); if not it is paused, and the loop gets an event
 * (EPOLLOUT) once it may again, which this call then acknowledges.  A
 * pause the client memory alone caused is lifted by calling this again
 * (the sweep does).
 */
int conn_may_read(struct conn *c);
int conn_is_paused(const struct conn *c);
/* Count the memory a request of the connection holds while queued. */
void conn_queued_add(struct conn *c, size_t bytes);
void conn_queued_sub(struct conn *c, size_t bytes);
/* Loop: count what the input buffer holds, after it has been used. */
void conn_count_input(struct conn *c);
/* Shut the connection down from any thread; the loop then closes it. */
void conn_cut(struct conn *c);
/*
 * Log a line about one request of the connection: the first of the
 * connection is logged (log_msg_limited), the others only counted, and
 * conn_close() says how many were left out.
 */
void conn_log(struct conn *c, enum log_level level, const char *func,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define conn_warn(c, ...) conn_log((c), LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define conn_info(c, ...) conn_log((c), LOG_LEVEL_INFO, __func__, __VA_ARGS__)
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/*
 * Lock the output buffer for appending one reply; NULL when the
 * connection is closed (nothing to send to, nothing locked).
 */
struct p11a_buf *conn_out_begin(struct conn *c);
/* Write what the socket takes, arm EPOLLOUT for the rest, unlock. */
void conn_out_end(struct conn *c);
/* Whether the peer has gid as its primary or a supplementary group. */
int conn_peer_in_group(const struct conn *c, gid_t gid);
/* Send an ERROR reply; the message must never contain secrets. */
void conn_send_error(struct conn *c, uint32_t id, int code, const char *msg);
/* Send a reply with an empty payload (OK). */
void conn_send_empty(struct conn *c, uint8_t type, uint32_t id);

/*
 * Write what the output buffer holds, as far as the socket takes it, and
 * wait for EPOLLOUT for the rest: the loop, when the socket became
 * writable.
 */
void conn_flush(struct conn *c);
/* Loop: stop serving this connection; the last unref closes the fd. */
void conn_close(struct conn *c);
/*
 * Shutdown: write out what the n connections have queued, all at once,
 * until the clock (jobs_now_ms) reaches until_ms.
 */
void conns_drain(struct conn *const *c, size_t n, uint64_t until_ms);

#endif
