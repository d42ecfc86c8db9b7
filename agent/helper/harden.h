/*
 * What the helper does to itself before it loads a module: only fds 0-3
 * stay open, no core dumps, not ptrace-able by its uid, killed with the
 * agent.
 */
#ifndef P11A_HELPER_HARDEN_H
#define P11A_HELPER_HARDEN_H

/* 0, or -1 after logging why the process cannot run safely. */
int harden_process(void);

#endif
