#include "policy.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "pinentry.h"
#include "p11agent/error.h"

extern char **environ;

int
policy_peer_may_use(const struct identity *id, const struct conn *c)
{
	const struct identity_rule *rule = id->rule;

	if (rule == NULL || (rule->n_uids == 0 && rule->n_gids == 0))
		return 1;
	for (size_t i = 0; i < rule->n_uids; i++)
		if (rule->uids[i] == c->uid)
			return 1;
	for (size_t i = 0; i < rule->n_gids; i++)
		if (conn_peer_in_group(c, rule->gids[i]))
			return 1;
	return 0;
}

/*
 * What of our environment the program gets: what a dialog needs to show
 * (display, session bus, locale) and to run at all.  A list of what may
 * go, not of what may not: the agent cannot know which other variables
 * hold a PIN (P11A_PIN, a pin-source's VAR, anything a user set).
 */
static int
policy_env_passes(const char *e)
{
	static const char *const names[] = {
		"PATH",
		"HOME",
		"USER",
		"LOGNAME",
		"SHELL",
		"TMPDIR",
		"TZ",
		"LANG",
		"LANGUAGE",
		"TERM",
		"DISPLAY",
		"XAUTHORITY",
		"WAYLAND_DISPLAY",
		"XDG_RUNTIME_DIR",
		"DBUS_SESSION_BUS_ADDRESS",
	};
	size_t n;

	if (strncmp(e, "LC_", 3) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i]);
		if (strncmp(e, names[i], n) == 0 && e[n] == '=')
			return 1;
	}
	return 0;
}

/* The program's environment: what it needs to decide, and to run. */
static void
policy_confirm_env(char **env, size_t max, char vars[][320],
		   const struct identity *id, const struct conn *c)
{
	size_t n = 0, k = 0;

	snprintf(vars[k++], 320, "P11AGENT_CONFIRM_IDENTITY=%s", id->id);
	snprintf(vars[k++], 320, "P11AGENT_CONFIRM_LABEL=%s", id->label);
	snprintf(vars[k++], 320, "P11AGENT_CONFIRM_URI=%s", id->wire.uri);
	snprintf(vars[k++], 320, "P11AGENT_CONFIRM_PID=%d", (int)c->pid);
	snprintf(vars[k++], 320, "P11AGENT_CONFIRM_UID=%u", (unsigned)c->uid);
	snprintf(vars[k++], 320, "P11AGENT_CONFIRM_EXE=%s", c->exe);
	for (size_t i = 0; i < k; i++)
		env[n++] = vars[i];
	for (char **e = environ; *e != NULL && n + 1 < max; e++)
		if (policy_env_passes(*e))
			env[n++] = *e;
	env[n] = NULL;
}

int
policy_needs_confirm(const struct identity *id)
{
	return id->rule != NULL && id->rule->confirm;
}

int
policy_confirm(const struct agent_options *opt, const struct identity *id,
	       const struct conn *c)
{
	char vars[6][320], *env[64];
	char *argv[2];
	pid_t pid;
	int status, r;

	if (!policy_needs_confirm(id))
		return 1;
	if (opt->confirm_program == NULL) {
		log_warn("identity %s needs confirmation but no "
			 "--confirm-program is set: refused",
			 id->id);
		return 0;
	}
	policy_confirm_env(env, sizeof(env) / sizeof(env[0]), vars, id, c);
	argv[0] = (char *)opt->confirm_program;
	argv[1] = NULL;
	r = posix_spawn(&pid, opt->confirm_program, NULL, NULL, argv, env);
	if (r != 0) {
		log_warn("cannot run %s: %s", opt->confirm_program,
			 strerror(r));
		return 0;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	r = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	log_info("identity %s for pid %d: confirmation %s", id->id, (int)c->pid,
		 r ? "given" : "refused");
	return r;
}

int
policy_prompts_pin(const struct identity *id)
{
	return id->rule != NULL && id->rule->always_auth_prompt;
}

/* The pinentry program: the one --pin-source names, else from PATH. */
static const char *
policy_pinentry(const struct agent_options *opt)
{
	const char *s = opt->pin_source;

	if (s != NULL && strncmp(s, "pinentry:", 9) == 0 && s[9] != '\0')
		return s + 9;
	return "pinentry";
}

int
policy_prompt_pin(const struct agent_options *opt, const struct identity *id,
		  const struct conn *c, struct pin *out)
{
	unsigned long f = atomic_load(&id->token->pin_flags);
	char desc[256];
	int r;

	out->value = NULL;
	out->len = 0;
	if (id->token->protected_auth)
		return P11A_OK; /* the reader's pad asks */
	/* a card counting down is not guessed at, not even by its user */
	if (f & CKF_USER_PIN_LOCKED)
		return P11A_ERR_PIN_LOCKED;
	if (f & CKF_USER_PIN_FINAL_TRY)
		return P11A_ERR_PIN_FINAL_TRY;
	snprintf(desc, sizeof(desc),
		 "PIN of token %s for one signature with key %s "
		 "(client pid %d)",
		 id->token->label, id->label != NULL ? id->label : id->id,
		 (int)c->pid);
	r = pinentry_get_pin(policy_pinentry(opt), desc, out);
	log_info("identity %s for pid %d: PIN %s", id->id, (int)c->pid,
		 r == P11A_OK ? "entered" : "not given");
	return r == P11A_OK ? P11A_OK : P11A_ERR_DENIED;
}
