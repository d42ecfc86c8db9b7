/*
 * Wrong-PIN back-off per client uid, as ssh-agent does for its lock
 * password: after the n-th UNLOCK in a row that a token refused, that
 * uid's next UNLOCK is refused for min(2^(n-1), 60) seconds, without
 * asking any token.  A success resets it.  Nothing waits: a refused
 * UNLOCK is answered at once with the time left.
 */
#ifndef P11A_AGENT_THROTTLE_H
#define P11A_AGENT_THROTTLE_H

#include <stdint.h>
#include <sys/types.h>

/* Milliseconds until uid may UNLOCK again; 0: now. */
uint64_t throttle_wait_ms(uid_t uid, uint64_t now_ms);
/* The outcome of an UNLOCK of uid: a refused PIN doubles its delay. */
void throttle_note(uid_t uid, int p11a_err, uint64_t now_ms);

#endif
