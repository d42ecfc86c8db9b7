#include "modules.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <p11-kit/uri.h>

#include "hlink.h"
#include "identity.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11util.h"

extern char **environ;

static int
tokens_append(struct module_set *ms, struct token *t)
{
	struct token **n;

	n = realloc(ms->tokens, (ms->n_tokens + 1) * sizeof(*n));
	if (n == NULL)
		return P11A_ERR_NO_MEMORY;
	ms->tokens = n;
	ms->tokens[ms->n_tokens++] = t;
	return P11A_OK;
}

static char *
token_format_uri(struct token *t)
{
	P11KitUri *u;
	char *s = NULL;

	if ((u = p11_kit_uri_new()) == NULL)
		return NULL;
	memcpy(p11_kit_uri_get_token_info(u), &t->info, sizeof(t->info));
	if (p11_kit_uri_format(u, P11_KIT_URI_FOR_TOKEN, &s) != P11_KIT_URI_OK)
		s = NULL;
	p11_kit_uri_free(u);
	return s;
}

static struct token *
token_new(struct hlink *link, const struct hlink_token *ht)
{
	const CK_TOKEN_INFO *ti = &ht->info;
	struct token *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->login_lock, NULL);
	t->link = link;
	t->module_info = *hlink_module_info(link);
	t->slot = (CK_SLOT_ID)ht->slot;
	t->info = *ti;
	t->helper_sessions = ht->sessions;
	p11_trim_copy(t->label, sizeof(t->label), ti->label, sizeof(ti->label));
	t->login_required = (ti->flags & CKF_LOGIN_REQUIRED) != 0;
	atomic_store(&t->pin_flags, ti->flags & TOKEN_PIN_FLAGS);
	t->protected_auth =
		(ti->flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
	atomic_store(&t->state, t->login_required ? TOKEN_LOCKED : TOKEN_READY);
	t->module_name = strdup(hlink_module(link));
	t->uri = token_format_uri(t);
	if (t->module_name == NULL || t->uri == NULL) {
		token_free(t);
		return NULL;
	}
	return t;
}

static int
module_find_tokens(struct hlink *link, struct module_set *ms)
{
	const struct hlink_token *ht;
	struct token *t;
	size_t n;

	ht = hlink_tokens(link, &n);
	for (size_t i = 0; i < n; i++) {
		/* SoftHSM shows an empty slot for creating tokens */
		if (!(ht[i].info.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if ((t = token_new(link, &ht[i])) == NULL)
			return P11A_ERR_NO_MEMORY;
		if (!registry_wants_token(t)) {
			token_free(t);
			continue;
		}
		if (tokens_append(ms, t) != P11A_OK) {
			token_free(t);
			return P11A_ERR_NO_MEMORY;
		}
		log_info("token '%s' in slot %lu of %s", t->label, t->slot,
			 t->module_name);
	}
	return P11A_OK;
}

/* As ssh-agent -P: only modules under allowed paths, after realpath. */
static int
module_path_allowed(const struct agent_options *opt, const char *path,
		    char *real)
{
	static const char *const defaults[] = {"/usr/lib*/*",
					       "/usr/local/lib*/*"};
	const char *const *globs = opt->allow_modules;
	size_t n = opt->n_allow_modules;

	if (realpath(path, real) == NULL) {
		log_error("module %s: %s", path, strerror(errno));
		return 0;
	}
	if (n == 0) {
		globs = defaults;
		n = sizeof(defaults) / sizeof(defaults[0]);
	}
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], real, 0) == 0)
			return 1;
	log_error("module %s (%s) is not in an allowed directory "
		  "(--allow-module)",
		  path, real);
	return 0;
}

static int
links_append(struct module_set *ms, struct hlink *h)
{
	struct hlink **n;

	if ((n = realloc(ms->links, (ms->n_links + 1) * sizeof(*n))) == NULL)
		return P11A_ERR_NO_MEMORY;
	ms->links = n;
	ms->links[ms->n_links++] = h;
	return P11A_OK;
}

/* Start the helper of one module; one that does not start is skipped. */
/*
 * Start the helper of one module.  One named by --module must start; one
 * of p11-kit's that does not is skipped, so that it cannot stop the rest.
 */
static int
module_start(const struct agent_options *opt, const char *path, int required,
	     const struct hlink_config *cfg, struct module_set *ms)
{
	struct hlink_config mine = *cfg;
	struct hlink *h;
	int r;

	/* --unconfined-module: its helper runs without the seccomp filter */
	for (size_t i = 0; i < opt->n_unconfined_modules; i++)
		if (fnmatch(opt->unconfined_modules[i], path, 0) == 0)
			mine.unconfined = 1;
	if (mine.unconfined)
		log_info("module %s: its helper runs unconfined", path);
	if ((r = hlink_start(path, &mine, &h)) != P11A_OK) {
		if (required)
			return r;
		log_warn("module %s: skipped", path);
		return P11A_OK;
	}
	if ((r = links_append(ms, h)) != P11A_OK) {
		hlink_stop(h, 0);
		return r;
	}
	return module_find_tokens(h, ms);
}

/*
 * The modules registered with p11-kit, by file name, as the helper lists
 * them: the agent never loads a module itself, not even to ask its name.
 */
static int
modules_registered(char ***paths, size_t *n)
{
	const char *helper = hlink_helper_path();
	char *argv[] = {(char *)helper, "--list-registered", NULL};
	char line[PATH_MAX], **v = NULL, **nv;
	posix_spawn_file_actions_t fa;
	int p[2], status, r = P11A_OK;
	FILE *f;
	pid_t pid;

	*paths = NULL;
	*n = 0;
	if (pipe2(p, O_CLOEXEC) != 0)
		return P11A_ERR_IO;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (posix_spawn(&pid, helper, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		log_error("cannot run %s: %s", helper, strerror(errno));
		return P11A_ERR_IO;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	f = fdopen(p[0], "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '/' ||
		    (nv = realloc(v, (*n + 1) * sizeof(*v))) == NULL)
			continue;
		v = nv;
		if ((v[*n] = strdup(line)) != NULL)
			(*n)++;
	}
	if (f != NULL)
		fclose(f);
	else
		close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_error("cannot list the modules registered with p11-kit");
		r = P11A_ERR_TOKEN;
	}
	*paths = v;
	return r;
}

static void
paths_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
modules_load(const struct agent_options *opt, unsigned sessions,
	     struct module_set *ms)
{
	struct hlink_config cfg = {
		.sessions = sessions,
		.hang_timeout_ms = opt->hang_timeout_ms,
		.log_level = opt->log_level,
	};
	char real[PATH_MAX], **reg = NULL;
	size_t n_reg = 0;
	int r = P11A_OK;

	memset(ms, 0, sizeof(*ms));
	if (opt->n_modules == 0 &&
	    (r = modules_registered(&reg, &n_reg)) != P11A_OK)
		goto out;
	for (size_t i = 0; i < opt->n_modules && r == P11A_OK; i++) {
		if (!module_path_allowed(opt, opt->modules[i], real))
			r = P11A_ERR_DENIED;
		else
			r = module_start(opt, real, 1, &cfg, ms);
	}
	/* p11-kit's own configuration chose these: no allow-list */
	for (size_t i = 0; i < n_reg && r == P11A_OK; i++)
		r = module_start(opt, reg[i], 0, &cfg, ms);
out:
	paths_free(reg, n_reg);
	return r;
}

void
modules_set_restart_hook(struct module_set *ms, void (*fn)(void *ctx),
			 void *ctx)
{
	for (size_t i = 0; i < ms->n_links; i++)
		hlink_set_restart_hook(ms->links[i], fn, ctx);
}

/* The agent has one module set; the links' event hooks find it here. */
static struct {
	struct module_set *ms;
	void (*fn)(struct token *t);
} events;

/* On a link's reader thread: a slot event of one of its tokens. */
static void
modules_on_event(void *ctx, uint64_t slot)
{
	struct hlink *link = ctx;

	for (size_t i = 0; i < events.ms->n_tokens; i++) {
		struct token *t = events.ms->tokens[i];

		if (t->link == link && (uint64_t)t->slot == slot)
			events.fn(t);
	}
}

void
modules_set_event_hook(struct module_set *ms, void (*fn)(struct token *t))
{
	events.ms = ms;
	events.fn = fn;
	for (size_t i = 0; i < ms->n_links; i++)
		hlink_set_event_hook(ms->links[i], modules_on_event,
				     ms->links[i]);
}

void
modules_stop(struct module_set *ms, int timeout_ms)
{
	for (size_t i = 0; i < ms->n_links; i++)
		hlink_stop(ms->links[i], timeout_ms);
	free(ms->links);
	ms->links = NULL;
	ms->n_links = 0;
}

void
modules_free(struct module_set *ms)
{
	modules_stop(ms, 0);
	for (size_t i = 0; i < ms->n_tokens; i++)
		token_free(ms->tokens[i]);
	free(ms->tokens);
	memset(ms, 0, sizeof(*ms));
}
