#include "identity.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include <openssl/evp.h>

#include "hlink.h"
#include "idname.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11util.h"
#include "scheme.h"
#include "wire.h"

static struct {
	pthread_rwlock_t lock;
	struct identity **items;
	size_t n, cap;
	P11KitUri **filters;
	const struct identity_rule *rules;
	size_t n_filters;
} reg = {.lock = PTHREAD_RWLOCK_INITIALIZER};

int
registry_init(const struct identity_rule *rules, size_t n)
{
	int r;

	if (n == 0)
		return P11A_OK;
	if ((reg.filters = calloc(n, sizeof(*reg.filters))) == NULL)
		return P11A_ERR_NO_MEMORY;
	reg.rules = rules;
	for (size_t i = 0; i < n; i++) {
		if ((reg.filters[i] = p11_kit_uri_new()) == NULL)
			return P11A_ERR_NO_MEMORY;
		reg.n_filters++;
		r = p11_kit_uri_parse(rules[i].uri, P11_KIT_URI_FOR_ANY,
				      reg.filters[i]);
		if (r != P11_KIT_URI_OK) {
			log_error("bad identity URI '%s': %s", rules[i].uri,
				  p11_kit_uri_message(r));
			return P11A_ERR_INVALID_ARGUMENT;
		}
		p11_uri_blank_nul_padding(reg.filters[i]);
	}
	return P11A_OK;
}

static void
identity_free(struct identity *id)
{
	if (id == NULL)
		return;
	free(id->ck_id);
	free(id->label);
	p11a_identity_clear(&id->wire);
	free(id);
}

void
registry_free(void)
{
	for (size_t i = 0; i < reg.n; i++)
		identity_free(reg.items[i]);
	free(reg.items);
	reg.items = NULL;
	reg.n = reg.cap = 0;
	for (size_t i = 0; i < reg.n_filters; i++)
		p11_kit_uri_free(reg.filters[i]);
	free(reg.filters);
	reg.filters = NULL;
	reg.rules = NULL;
	reg.n_filters = 0;
}

static int
filter_matches_token(P11KitUri *f, const struct token *t)
{
	return p11_kit_uri_match_module_info(f, &t->module_info) &&
	       p11_kit_uri_match_token_info(f, &t->info);
}

int
registry_wants_token(const struct token *t)
{
	if (reg.n_filters == 0)
		return 1;
	for (size_t i = 0; i < reg.n_filters; i++)
		if (filter_matches_token(reg.filters[i], t))
			return 1;
	return 0;
}

int
registry_token_pin(const struct token *t, struct pin *out)
{
	const char *v;

	for (size_t i = 0; i < reg.n_filters; i++) {
		if (!filter_matches_token(reg.filters[i], t))
			continue;
		if ((v = p11_kit_uri_get_pin_value(reg.filters[i])) != NULL)
			return pin_set(out, v, strlen(v));
		if ((v = p11_kit_uri_get_pin_source(reg.filters[i])) != NULL)
			return pin_from_source_for(v, t->label, out);
	}
	return P11A_OK;
}

/* Whether an --identity URI selects the key; the first one sets flags. */
static int
identity_selected(struct identity *id)
{
	if (reg.n_filters == 0)
		return 1;
	for (size_t i = 0; i < reg.n_filters; i++) {
		if (!filter_matches_token(reg.filters[i], id->token) ||
		    !p11_kit_uri_match_attributes(reg.filters[i],
						  id->match_attrs, 3))
			continue;
		id->rule = &reg.rules[i];
		id->wire.flags = reg.rules[i].purpose;
		return 1;
	}
	return 0;
}

/*
 * A stable id: the same key on the same token gets the same id after a
 * restart, whatever order the token lists its objects in.  The token's
 * label is in it because serials do not tell tokens apart: every
 * tpm2-pkcs11 token has serial 0000000000000000.
 */
static int
identity_make_id(struct identity *id)
{
	const CK_TOKEN_INFO *ti = &id->token->info;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len;
	EVP_MD_CTX *ctx;
	uint8_t n[4] = {(uint8_t)(id->ck_id_len >> 24),
			(uint8_t)(id->ck_id_len >> 16),
			(uint8_t)(id->ck_id_len >> 8), (uint8_t)id->ck_id_len};
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return P11A_ERR_NO_MEMORY;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, ti->manufacturerID,
			      sizeof(ti->manufacturerID)) &&
	     EVP_DigestUpdate(ctx, ti->model, sizeof(ti->model)) &&
	     EVP_DigestUpdate(ctx, ti->serialNumber,
			      sizeof(ti->serialNumber)) &&
	     EVP_DigestUpdate(ctx, ti->label, sizeof(ti->label)) &&
	     EVP_DigestUpdate(ctx, n, sizeof(n)) &&
	     EVP_DigestUpdate(ctx, id->ck_id, id->ck_id_len) &&
	     EVP_DigestUpdate(ctx, id->label, strlen(id->label)) &&
	     EVP_DigestFinal_ex(ctx, md, &md_len);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return P11A_ERR_INTERNAL;
	for (size_t i = 0; i < 16; i++)
		snprintf(id->id + 2 * i, 3, "%02x", md[i]);
	return P11A_OK;
}

static int
identity_make_uri(struct identity *id)
{
	P11KitUri *u;
	char *s = NULL;
	int r;

	if ((u = p11_kit_uri_new()) == NULL)
		return P11A_ERR_NO_MEMORY;
	memcpy(p11_kit_uri_get_token_info(u), &id->token->info,
	       sizeof(CK_TOKEN_INFO));
	for (size_t i = 0; i < 3; i++)
		p11_kit_uri_set_attribute(u, &id->match_attrs[i]);
	r = p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s);
	p11_kit_uri_free(u);
	if (r != P11_KIT_URI_OK)
		return P11A_ERR_NO_MEMORY;
	id->wire.uri = s;
	return P11A_OK;
}

/* KEYS flags (docs/HELPER.md 4.4) */
#define KEY_ALWAYS_AUTHENTICATE 0x01u
#define KEY_MECHS_KNOWN 0x04u
#define KEY_MAX_MECHS 64

/* One private key as the helper's KEYS_REPLY describes it. */
struct key_record {
	uint64_t handle;
	const uint8_t *ck_id, *label, *spki, *cert;
	size_t ck_id_len, label_len, spki_len, cert_len;
	uint8_t key_type, flags;
	uint16_t bits;
	char *curve;
	CK_MECHANISM_TYPE mechs[KEY_MAX_MECHS];
	uint32_t n_mechs;
};

/*
 * The schemes the key can make and how, once: what the token offers
 * does not change while the agent runs.
 */
static void
identity_pick_paths(struct identity *id, const struct key_record *k)
{
	struct p11a_identity *w = &id->wire;
	int known = (k->flags & KEY_MECHS_KNOWN) != 0;

	w->n_schemes = p11a_scheme_list_for_mechs(
		k->key_type, k->bits, known ? k->mechs : NULL, k->n_mechs,
		k->spki_len > 0, w->schemes, id->paths, P11A_MAX_SCHEMES);
	for (size_t i = 0; i < w->n_schemes; i++) {
		if (id->paths[i].kind == P11A_PATH_RAW)
			id->path_flags |= P11A_IDENTITY_AGENT_PADS;
		if (id->paths[i].kind == P11A_PATH_HASHED)
			id->path_flags |= P11A_IDENTITY_MESSAGE_ONLY;
	}
	if (k->flags & KEY_ALWAYS_AUTHENTICATE)
		id->path_flags |= P11A_IDENTITY_ALWAYS_AUTH;
}

static int
identity_fill_wire(struct identity *id, const struct key_record *k)
{
	struct p11a_identity *w = &id->wire;
	int r;

	if ((r = identity_make_id(id)) != P11A_OK)
		return r;
	w->id = strdup(id->id);
	w->label = strdup(id->label);
	w->curve = strdup(k->curve);
	if (w->id == NULL || w->label == NULL || w->curve == NULL)
		return P11A_ERR_NO_MEMORY;
	w->key_type = k->key_type;
	w->bits = k->bits;
	identity_pick_paths(id, k);
	if (k->cert_len > 0) {
		if ((w->cert = malloc(k->cert_len)) == NULL)
			return P11A_ERR_NO_MEMORY;
		memcpy(w->cert, k->cert, k->cert_len);
		w->cert_len = k->cert_len;
	}
	if (k->spki_len > 0) {
		if ((w->spki = malloc(k->spki_len)) == NULL)
			return P11A_ERR_NO_MEMORY;
		memcpy(w->spki, k->spki, k->spki_len);
		w->spki_len = k->spki_len;
	}
	return identity_make_uri(id);
}

/* Copy CKA_ID and CKA_LABEL and set up the URI-matching attributes. */
static int
identity_read_names(struct identity *id, const struct key_record *k)
{
	if (k->ck_id_len > 0) {
		if ((id->ck_id = malloc(k->ck_id_len)) == NULL)
			return P11A_ERR_NO_MEMORY;
		memcpy(id->ck_id, k->ck_id, k->ck_id_len);
		id->ck_id_len = k->ck_id_len;
	}
	if ((id->label = malloc(k->label_len + 1)) == NULL)
		return P11A_ERR_NO_MEMORY;
	if (k->label_len > 0)
		memcpy(id->label, k->label, k->label_len);
	id->label[k->label_len] = '\0';
	id->class_private = CKO_PRIVATE_KEY;
	id->match_attrs[0] = (CK_ATTRIBUTE){CKA_CLASS, &id->class_private,
					    sizeof(id->class_private)};
	id->match_attrs[1] = (CK_ATTRIBUTE){CKA_ID, id->ck_id, id->ck_id_len};
	id->match_attrs[2] =
		(CK_ATTRIBUTE){CKA_LABEL, id->label, strlen(id->label)};
	return P11A_OK;
}

/*
 * Whether b is the key a was registered for, found again by a later
 * login: the same token and the same public key.  An equal id alone is
 * not enough: two tokens that look alike, or two keys of one token with
 * the same CKA_ID and label, give equal ids to different keys.
 */
static int
identity_same_key(const struct identity *a, const struct identity *b)
{
	return a->token == b->token && a->wire.spki_len == b->wire.spki_len &&
	       (a->wire.spki_len == 0 ||
		memcmp(a->wire.spki, b->wire.spki, a->wire.spki_len) == 0);
}

/*
 * Add a new identity (*added = 1), or refresh the key handle of the same
 * key found before (*added = 0).  Another key with the same id is never
 * overwritten: both are kept (*twin is the other one) and the id is
 * ambiguous.  One critical section: two logins finding the same key at
 * once must not register it twice.
 */
static int
registry_add(struct identity *id, int *added, struct identity **twin)
{
	struct identity **n;
	int r = P11A_OK;

	*added = 0;
	*twin = NULL;
	pthread_rwlock_wrlock(&reg.lock);
	for (size_t i = 0; i < reg.n; i++) {
		if (strcmp(reg.items[i]->id, id->id) != 0)
			continue;
		if (identity_same_key(reg.items[i], id)) {
			/* the handle first: a reader takes the generation first
			 */
			atomic_store(&reg.items[i]->key, atomic_load(&id->key));
			atomic_store(&reg.items[i]->key_gen,
				     atomic_load(&id->key_gen));
			*twin = NULL;
			goto out;
		}
		*twin = reg.items[i];
	}
	if (reg.n == reg.cap) {
		size_t cap = reg.cap ? reg.cap * 2 : 16;

		if ((n = realloc(reg.items, cap * sizeof(*n))) == NULL) {
			r = P11A_ERR_NO_MEMORY;
			goto out;
		}
		reg.items = n;
		reg.cap = cap;
	}
	reg.items[reg.n++] = id;
	atomic_fetch_add(&id->token->identities, 1);
	*added = 1;
out:
	pthread_rwlock_unlock(&reg.lock);
	return r;
}

/* Say once, when it is registered, that a key shares its id. */
static void
identity_log_twin(const struct identity *id, const struct identity *twin)
{
	log_warn("token %s: key '%s' has the id %s of another key (token %s, "
		 "key '%s'): the tokens look alike and the keys have the same "
		 "CKA_ID and label; both are kept, and SIGN by that id or by a "
		 "URI that matches both is refused as ambiguous: give one "
		 "token or key another label",
		 id->token->label, id->label, id->id, twin->token->label,
		 twin->label);
}

/* Which mechanism each scheme goes through, for whoever reads the log. */
static void
identity_log_paths(const struct identity *id)
{
	char line[1024];
	size_t off = 0;

	line[0] = '\0';
	for (size_t i = 0; i < id->wire.n_schemes && off < sizeof(line); i++) {
		int n = snprintf(line + off, sizeof(line) - off, " %s=%s:0x%lx",
				 p11a_scheme_name(id->wire.schemes[i]),
				 p11a_path_name(id->paths[i].kind),
				 (unsigned long)id->paths[i].mechanism);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	log_info("identity %s: schemes%s%s", id->id,
		 id->wire.n_schemes > 0 ? line : " none",
		 (id->path_flags & P11A_IDENTITY_ALWAYS_AUTH)
			 ? "; always-authenticate"
			 : "");
}

static int
identity_from_key(struct token *t, unsigned gen, const struct key_record *k)
{
	struct identity *id, *twin;
	int r, added;

	if ((id = calloc(1, sizeof(*id))) == NULL)
		return P11A_ERR_NO_MEMORY;
	id->token = t;
	atomic_store(&id->key, (CK_OBJECT_HANDLE)k->handle);
	atomic_store(&id->key_gen, gen);
	if ((r = identity_read_names(id, k)) != P11A_OK)
		goto out;
	if (!identity_selected(id)) {
		r = P11A_OK;
		goto out;
	}
	if ((r = identity_fill_wire(id, k)) != P11A_OK)
		goto out;
	if ((r = registry_add(id, &added, &twin)) != P11A_OK || !added)
		goto out;
	if (twin != NULL)
		identity_log_twin(id, twin);
	log_info("token %s: identity %s: %s %u '%s'%s", t->label, id->id,
		 k->key_type == P11A_KEY_RSA ? "RSA" : k->curve, k->bits,
		 id->label, id->wire.cert != NULL ? " with certificate" : "");
	identity_log_paths(id);
	id = NULL;
out:
	identity_free(id);
	return r;
}

static int
key_record_decode(struct p11a_buf *b, struct key_record *k)
{
	int e;

	memset(k, 0, sizeof(*k));
	if ((e = p11a_buf_get_u64(b, &k->handle)) != P11A_OK ||
	    (e = p11a_buf_get_bytes_view(b, &k->ck_id, &k->ck_id_len)) !=
		    P11A_OK ||
	    (e = p11a_buf_get_bytes_view(b, &k->label, &k->label_len)) !=
		    P11A_OK ||
	    (e = p11a_buf_get_u8(b, &k->key_type)) != P11A_OK ||
	    (e = p11a_buf_get_u16(b, &k->bits)) != P11A_OK ||
	    (e = p11a_buf_get_cstring(b, &k->curve)) != P11A_OK ||
	    (e = p11a_buf_get_bytes_view(b, &k->spki, &k->spki_len)) !=
		    P11A_OK ||
	    (e = p11a_buf_get_bytes_view(b, &k->cert, &k->cert_len)) != P11A_OK)
		return e;
	if (memchr(k->label, 0, k->label_len) != NULL)
		return P11A_ERR_PROTOCOL; /* a label is text */
	if ((e = p11a_buf_get_u8(b, &k->flags)) != P11A_OK ||
	    (e = p11a_buf_get_u32(b, &k->n_mechs)) != P11A_OK)
		return e;
	if (k->n_mechs > KEY_MAX_MECHS)
		return P11A_ERR_PROTOCOL;
	for (uint32_t i = 0; i < k->n_mechs; i++) {
		uint64_t m;

		if ((e = p11a_buf_get_u64(b, &m)) != P11A_OK)
			return e;
		k->mechs[i] = (CK_MECHANISM_TYPE)m;
	}
	return P11A_OK;
}

/* Register the keys of a KEYS_REPLY; one bad key must not hide the rest. */
static int
identities_from_reply(struct token *t, unsigned gen, struct p11a_buf *b)
{
	struct key_record k;
	uint32_t n;
	int r = P11A_OK;

	if (p11a_buf_get_u32(b, &n) != P11A_OK)
		return P11A_ERR_TRUNCATED;
	for (uint32_t i = 0; i < n && r == P11A_OK; i++) {
		if ((r = key_record_decode(b, &k)) == P11A_OK &&
		    identity_from_key(t, gen, &k) == P11A_ERR_NO_MEMORY)
			r = P11A_ERR_NO_MEMORY;
		free(k.curve);
		k.curve = NULL;
	}
	return r;
}

int
identities_discover(struct token *t, unsigned gen)
{
	struct hlink_reply rep;
	struct p11a_buf slot;
	int r;

	p11a_buf_init(&slot, 8);
	p11a_buf_put_u64(&slot, t->slot);
	r = hlink_call(t->link, gen, HL_KEYS, &slot, &rep);
	p11a_buf_free(&slot);
	if (r != P11A_OK) {
		log_error("token %s: cannot list keys: %s", t->label, rep.msg);
		goto out;
	}
	if ((r = identities_from_reply(t, gen, &rep.payload)) != P11A_OK) {
		log_error("token %s: a malformed key list from its helper",
			  t->label);
		goto out;
	}
	atomic_store(&t->enumerated, 1);
out:
	hlink_reply_free(&rep);
	return r;
}

/*
 * Parse a name that p11a_name_kind() calls a URI (not NUL-terminated).
 * P11A_ERR_IDENTITY_NOT_FOUND if it does not parse: it names nothing.
 */
static int
uri_from_name(const uint8_t *name, size_t len, P11KitUri **out)
{
	char uri[2048];

	*out = NULL;
	if (len >= sizeof(uri))
		return P11A_ERR_IDENTITY_NOT_FOUND;
	memcpy(uri, name, len);
	uri[len] = '\0';
	if ((*out = p11_kit_uri_new()) == NULL)
		return P11A_ERR_NO_MEMORY;
	if (p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, *out) !=
	    P11_KIT_URI_OK) {
		p11_kit_uri_free(*out);
		*out = NULL;
		return P11A_ERR_IDENTITY_NOT_FOUND;
	}
	p11_uri_blank_nul_padding(*out);
	return P11A_OK;
}

static int
identity_matches_uri(struct identity *id, P11KitUri *u)
{
	return filter_matches_token(u, id->token) &&
	       p11_kit_uri_match_attributes(u, id->match_attrs, 3);
}

static int
identity_has_id(struct identity *id, const uint8_t *name)
{
	return memcmp(id->id, name, P11A_ID_LEN) == 0;
}

/*
 * The one identity with this id (u NULL) or matching this URI.  Several
 * give IDENTITY_AMBIGUOUS: an id too, when alike tokens share it.
 */
static int
registry_find(const uint8_t *name, P11KitUri *u, struct identity **out)
{
	size_t matches = 0;

	pthread_rwlock_rdlock(&reg.lock);
	for (size_t i = 0; i < reg.n; i++) {
		struct identity *id = reg.items[i];

		if (u != NULL ? !identity_matches_uri(id, u)
			      : !identity_has_id(id, name))
			continue;
		*out = id;
		matches++;
	}
	pthread_rwlock_unlock(&reg.lock);
	if (matches > 1) {
		*out = NULL;
		return P11A_ERR_IDENTITY_AMBIGUOUS;
	}
	return matches == 1 ? P11A_OK : P11A_ERR_IDENTITY_NOT_FOUND;
}

/*
 * An identity we do not know may be a key on a token that has been locked
 * since start-up: private keys stay invisible until the first login.
 */
int
registry_maybe_locked(const struct token *const *tokens, size_t n,
		      const uint8_t *name, size_t len)
{
	enum p11a_name_kind kind = p11a_name_kind((const char *)name, len);
	P11KitUri *u = NULL;
	int found = 0;

	if (kind == P11A_NAME_OTHER ||
	    (kind == P11A_NAME_URI && uri_from_name(name, len, &u) != P11A_OK))
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		const struct token *t = tokens[i];

		if (atomic_load(&t->enumerated))
			continue;
		found = u == NULL || filter_matches_token(u, t);
	}
	p11_kit_uri_free(u);
	return found;
}

int
registry_lookup(const uint8_t *name, size_t len, struct identity **out)
{
	P11KitUri *u = NULL;
	int r;

	*out = NULL;
	switch (p11a_name_kind((const char *)name, len)) {
	case P11A_NAME_ID:
		return registry_find(name, NULL, out);
	case P11A_NAME_URI:
		if ((r = uri_from_name(name, len, &u)) != P11A_OK)
			return r;
		r = registry_find(name, u, out);
		p11_kit_uri_free(u);
		return r;
	case P11A_NAME_OTHER:
		break;
	}
	return P11A_ERR_IDENTITY_NOT_FOUND;
}

/* An array of one item of size per identity, under reg.lock. */
static int
registry_calloc_locked(size_t size, void **items)
{
	*items = NULL;
	if (reg.n > 0 && (*items = calloc(reg.n, size)) == NULL)
		return P11A_ERR_NO_MEMORY;
	return P11A_OK;
}

int
registry_wire_list(struct p11a_identity **items, size_t *n)
{
	int r;

	*n = 0;
	pthread_rwlock_rdlock(&reg.lock);
	if ((r = registry_calloc_locked(sizeof(**items), (void **)items)) !=
	    P11A_OK)
		goto out;
	for (size_t i = 0; i < reg.n; i++) {
		(*items)[i] = reg.items[i]->wire;
		struct token *t = reg.items[i]->token;

		(*items)[i].flags |= reg.items[i]->path_flags;
		if (token_get_state(t) == TOKEN_READY &&
		    atomic_load(&t->present) &&
		    hlink_state(t->link) == HLINK_READY)
			(*items)[i].flags |= P11A_IDENTITY_AVAILABLE;
	}
	*n = reg.n;
out:
	pthread_rwlock_unlock(&reg.lock);
	return r;
}

/* The index of t in tokens[n]; n if it is not there. */
static uint32_t
token_index(struct token *const *tokens, size_t n, const struct token *t)
{
	size_t i;

	for (i = 0; i < n && tokens[i] != t; i++)
		;
	return (uint32_t)i;
}

int
registry_paths(struct token *const *tokens, size_t n_tokens,
	       struct p11a_identity_paths **items, size_t *n)
{
	int r;

	*n = 0;
	pthread_rwlock_rdlock(&reg.lock);
	if ((r = registry_calloc_locked(sizeof(**items), (void **)items)) !=
	    P11A_OK)
		goto out;
	for (size_t i = 0; i < reg.n; i++) {
		const struct identity *id = reg.items[i];
		struct p11a_identity_paths *ip = &(*items)[*n];

		ip->token = token_index(tokens, n_tokens, id->token);
		if (ip->token >= n_tokens)
			continue;
		/* the wire's path kinds are scheme.h's */
		ip->id = (char *)id->id;
		ip->n_paths = id->wire.n_schemes;
		for (size_t k = 0; k < ip->n_paths; k++)
			ip->paths[k] = (struct p11a_scheme_path){
				id->wire.schemes[k], id->paths[k].kind,
				(uint32_t)id->paths[k].mechanism};
		(*n)++;
	}
out:
	pthread_rwlock_unlock(&reg.lock);
	return r;
}
