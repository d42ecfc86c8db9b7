/*
 * PINs held by the agent.  A PIN is read from its source once, kept only
 * in a struct pin, and wiped with OPENSSL_cleanse when cleared.  PINs are
 * never logged.
 */
#ifndef P11A_AGENT_PIN_H
#define P11A_AGENT_PIN_H

#include <stddef.h>
#include <stdint.h>

struct pin {
	char *value; /* NUL-terminated; NULL when no PIN is held */
	size_t len;
};

/*
 * Read a PIN from a source: "file:PATH" (first line), "env:VAR", a plain
 * absolute path, "pinentry" or "pinentry:PROGRAM" (pinentry.h), or
 * "systemd-ask-password" (askpass.h).  Returns a p11a_err; on failure a
 * reason that never contains the PIN is logged.
 */
int pin_from_source(const char *source, struct pin *out);
/* The same; an interactive source shows description (what is unlocked). */
int pin_from_source_for(const char *source, const char *description,
			struct pin *out);
/*
 * An "env:VAR" source takes VAR out of the environment (and wipes its
 * bytes, which /proc/PID/environ would show); its PIN is kept for other
 * tokens naming VAR until pin_env_forget(), at the end of start-up.
 */
void pin_env_forget(void);
/* 0 if source is a PIN source pin_from_source understands, else -1. */
int pin_source_check(const char *source);
/* Ask on /dev/tty without echo. */
int pin_from_tty(const char *prompt, struct pin *out);
/* Copy len bytes (which may hold no NUL) into a fresh PIN. */
int pin_set(struct pin *dst, const void *value, size_t len);
/* Wipe and free; safe on an empty PIN. */
void pin_clear(struct pin *p);

#endif
