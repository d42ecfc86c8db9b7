/*
 * The helper's system-call filter: what a PKCS#11 module never needs to
 * do is refused with EPERM (seccomp, docs/HELPER.md "Hardening").
 */
#ifndef P11A_HELPER_SANDBOX_H
#define P11A_HELPER_SANDBOX_H

/*
 * Refuse, from now on and for every thread started later, running
 * programs, tracing or reading other processes, loading kernel code,
 * mounting and namespaces.  0, or -1 (logged) where the kernel cannot.
 */
int sandbox_enter(void);

#endif
