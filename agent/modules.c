#include "modules.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include "identity.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11util.h"

#define MAX_SLOTS 64

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
token_new(CK_FUNCTION_LIST *fn, const CK_INFO *mi, CK_SLOT_ID slot,
	  const CK_TOKEN_INFO *ti)
{
	struct token *t;
	char *name;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->login_lock, NULL);
	t->module = fn;
	t->module_info = *mi;
	t->slot = slot;
	t->info = *ti;
	p11_trim_copy(t->label, sizeof(t->label), ti->label, sizeof(ti->label));
	t->login_required = (ti->flags & CKF_LOGIN_REQUIRED) != 0;
	t->protected_auth =
		(ti->flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
	atomic_store(&t->state, t->login_required ? TOKEN_LOCKED : TOKEN_READY);
	name = p11_kit_module_get_filename(fn);
	t->module_name = name != NULL ? name : strdup("(unknown module)");
	t->uri = token_format_uri(t);
	if (t->module_name == NULL || t->uri == NULL) {
		token_free(t);
		return NULL;
	}
	return t;
}

static int
module_find_tokens(CK_FUNCTION_LIST *fn, struct module_set *ms)
{
	CK_SLOT_ID slots[MAX_SLOTS];
	CK_ULONG n = MAX_SLOTS;
	CK_TOKEN_INFO ti;
	CK_INFO mi;
	struct token *t;
	CK_RV rv;

	if ((rv = fn->C_GetInfo(&mi)) != CKR_OK ||
	    (rv = fn->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		/* one broken module must not stop the others */
		log_warn("a module failed to list its slots: %s",
			 p11_kit_strerror(rv));
		return P11A_OK;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		if (fn->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		/* SoftHSM shows an empty slot for creating tokens */
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if ((t = token_new(fn, &mi, slots[i], &ti)) == NULL)
			return P11A_ERR_NO_MEMORY;
		if (!registry_wants_token(t)) {
			token_free(t);
			continue;
		}
		if (tokens_append(ms, t) != P11A_OK) {
			token_free(t);
			return P11A_ERR_NO_MEMORY;
		}
		log_info("token '%s' in slot %lu of %s", t->label, slots[i],
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
modules_load_paths(const struct agent_options *opt, struct module_set *ms)
{
	char real[PATH_MAX];
	CK_FUNCTION_LIST *fn;
	CK_RV rv;

	if ((ms->loaded = calloc(opt->n_modules, sizeof(*ms->loaded))) == NULL)
		return P11A_ERR_NO_MEMORY;
	for (size_t i = 0; i < opt->n_modules; i++) {
		if (!module_path_allowed(opt, opt->modules[i], real))
			return P11A_ERR_DENIED;
		fn = p11_kit_module_load(real, 0);
		if (fn == NULL) {
			log_error("cannot load module %s: %s", opt->modules[i],
				  p11_kit_message());
			return P11A_ERR_INVALID_ARGUMENT;
		}
		if ((rv = p11_kit_module_initialize(fn)) != CKR_OK) {
			log_error("module %s: C_Initialize: %s",
				  opt->modules[i], p11_kit_strerror(rv));
			p11_kit_module_release(fn);
			return P11A_ERR_TOKEN;
		}
		ms->loaded[ms->n_loaded++] = fn;
	}
	return P11A_OK;
}

int
modules_load(const struct agent_options *opt, struct module_set *ms)
{
	int r;

	memset(ms, 0, sizeof(*ms));
	if (opt->n_modules > 0) {
		if ((r = modules_load_paths(opt, ms)) != P11A_OK)
			return r;
		for (size_t i = 0; i < ms->n_loaded; i++)
			if ((r = module_find_tokens(ms->loaded[i], ms)) !=
			    P11A_OK)
				return r;
		return P11A_OK;
	}
	ms->registered = p11_kit_modules_load_and_initialize(0);
	if (ms->registered == NULL) {
		log_error("cannot load p11-kit modules: %s", p11_kit_message());
		return P11A_ERR_TOKEN;
	}
	for (size_t i = 0; ms->registered[i] != NULL; i++)
		if ((r = module_find_tokens(ms->registered[i], ms)) != P11A_OK)
			return r;
	return P11A_OK;
}

void
modules_unload(struct module_set *ms)
{
	for (size_t i = 0; i < ms->n_tokens; i++)
		token_free(ms->tokens[i]);
	free(ms->tokens);
	for (size_t i = 0; i < ms->n_loaded; i++) {
		p11_kit_module_finalize(ms->loaded[i]);
		p11_kit_module_release(ms->loaded[i]);
	}
	free(ms->loaded);
	if (ms->registered != NULL)
		p11_kit_modules_finalize_and_release(ms->registered);
	memset(ms, 0, sizeof(*ms));
}
