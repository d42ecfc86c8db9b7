/*
 * Diagnostics of the PKCS#11 front module.  A module runs inside other
 * programs, so it stays silent unless P11AGENT_PKCS11_DEBUG is set
 * (non-empty, not "0"); only configuration errors that stop it from
 * working are always printed.  Everything goes to stderr, one line each.
 */
#ifndef P11M_LOG_H
#define P11M_LOG_H

/* p11m_debug - a line when debugging is switched on. */
void p11m_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* p11m_warn - a line always: the configuration is unusable. */
void p11m_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
