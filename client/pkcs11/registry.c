/* Slots, keys and objects from the agent: see registry.h. */
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "agent.h"
#include "log.h"
#include "object.h"
#include "registry.h"

/* An identity of a LIST reply, made ready outside the lock. */
struct prepared {
	const struct p11a_identity *ident;
	CK_TOKEN_INFO token; /* from its URI */
	struct p11m_keyinfo info;
	struct p11m_objects objs;
	int usable;
};

/*
 * Room for one more item of size in an array of n (capacity *cap,
 * doubled from 8 as needed): the array, maybe moved, or NULL.
 */
static void *
reserve(void *items, size_t n, size_t *cap, size_t size)
{
	size_t c = *cap ? *cap * 2 : 8;
	void *p;

	if (n < *cap)
		return items;
	if ((p = realloc(items, c * size)) == NULL)
		return NULL;
	*cap = c;
	return p;
}

static int
keyinfo_from(const struct p11a_identity *ident, struct p11m_keyinfo *k)
{
	if (ident->key_type < P11A_KEY_RSA ||
	    ident->key_type > P11A_KEY_ED25519 ||
	    ident->n_schemes > P11A_MAX_SCHEMES)
		return -1;
	memset(k, 0, sizeof(*k));
	k->key_type = ident->key_type;
	k->bits = ident->bits;
	k->flags = ident->flags;
	k->n_schemes = ident->n_schemes;
	memcpy(k->schemes, ident->schemes,
	       ident->n_schemes * sizeof(k->schemes[0]));
	return 0;
}

/* Is this identity one to show?  (Its URI is parsed into uri.) */
static int
wanted(const struct p11a_identity *ident, P11KitUri *uri)
{
	if (ident->flags & P11A_IDENTITY_TLS13_CLIENT_ONLY) {
		/* PKCS#11 callers never send the TLS 1.3 form: useless */
		p11m_debug("identity %s: TLS 1.3 client only, not shown",
			   ident->id);
		return 0;
	}
	if (!p11m_filter_match(&p11m.filter, uri, ident->key_type)) {
		p11m_debug("identity %s: filtered out", ident->id);
		return 0;
	}
	return 1;
}

static void
prepare_one(const struct p11a_identity *ident, P11KitUri *uri,
	    struct prepared *p)
{
	struct p11m_object_src src = {.ident = ident, .info = &p->info};
	CK_ATTRIBUTE_PTR a;

	p->ident = ident;
	if (keyinfo_from(ident, &p->info) != 0 ||
	    p11_kit_uri_parse(ident->uri, P11_KIT_URI_FOR_ANY, uri) !=
		    P11_KIT_URI_OK ||
	    !wanted(ident, uri))
		return;
	p->token = *p11_kit_uri_get_token_info(uri);
	if ((a = p11_kit_uri_get_attribute(uri, CKA_ID)) != NULL) {
		src.id = a->pValue;
		src.id_len = a->ulValueLen;
	}
	if ((a = p11_kit_uri_get_attribute(uri, CKA_LABEL)) != NULL) {
		src.label = a->pValue;
		src.label_len = a->ulValueLen;
	} else {
		src.label = ident->label;
		src.label_len = ident->label ? strlen(ident->label) : 0;
	}
	p->usable = p11m_objects_build(&src, &p->objs) == CKR_OK;
}

static CK_RV
prepare_all(const struct p11a_identity_list *list, struct prepared **out)
{
	struct prepared *p;
	P11KitUri *uri;
	size_t i;

	*out = NULL;
	if (list->n == 0)
		return CKR_OK;
	if ((p = calloc(list->n, sizeof(*p))) == NULL)
		return CKR_HOST_MEMORY;
	for (i = 0; i < list->n; i++) {
		if ((uri = p11_kit_uri_new()) == NULL)
			break;
		prepare_one(&list->items[i], uri, &p[i]);
		p11_kit_uri_free(uri);
	}
	*out = p;
	return CKR_OK;
}

static void
prepared_free(struct prepared *p, size_t n)
{
	size_t i;

	for (i = 0; p != NULL && i < n; i++)
		p11m_objects_free(&p[i].objs);
	free(p);
}

/* ---- merging (lock held) ------------------------------------------------ */

static int
slot_fill(struct p11m_slot *s, const struct p11a_token_status *t)
{
	P11KitUri *u = p11_kit_uri_new();
	CK_TOKEN_INFO *ti;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (u == NULL ||
	    p11_kit_uri_parse(t->uri, P11_KIT_URI_FOR_TOKEN, u) !=
		    P11_KIT_URI_OK ||
	    (s->uri = strdup(t->uri)) == NULL)
		goto out;
	ti = p11_kit_uri_get_token_info(u);
	memcpy(s->label, ti->label, sizeof(s->label));
	memcpy(s->manufacturer, ti->manufacturerID, sizeof(s->manufacturer));
	memcpy(s->model, ti->model, sizeof(s->model));
	memcpy(s->serial, ti->serialNumber, sizeof(s->serial));
	rc = 0;
out:
	if (u != NULL)
		p11_kit_uri_free(u);
	return rc;
}

static struct p11m_slot *
slot_by_uri(const char *uri)
{
	size_t i;

	for (i = 0; i < p11m.n_slots; i++)
		if (strcmp(p11m.slots[i].uri, uri) == 0)
			return &p11m.slots[i];
	return NULL;
}

static void
merge_slots(const struct p11a_status *st)
{
	struct p11m_slot *s;
	size_t i;

	for (i = 0; i < p11m.n_slots; i++)
		p11m.slots[i].listed = 0;
	for (i = 0; i < st->n_tokens; i++) {
		if ((s = slot_by_uri(st->tokens[i].uri)) == NULL) {
			s = reserve(p11m.slots, p11m.n_slots, &p11m.cap_slots,
				    sizeof(*s));
			if (s == NULL)
				return;
			p11m.slots = s;
			s = &p11m.slots[p11m.n_slots];
			if (slot_fill(s, &st->tokens[i]) != 0) {
				free(s->uri);
				continue;
			}
			p11m.n_slots++;
		}
		s->flags = st->tokens[i].flags;
		s->listed = 1;
	}
}

/* The slot of the token a key's URI names; -1 if none. */
static int
slot_of(const CK_TOKEN_INFO *t, CK_SLOT_ID *id)
{
	const struct p11m_slot *s;
	size_t i;

	for (i = 0; i < p11m.n_slots; i++) {
		s = &p11m.slots[i];
		if (memcmp(s->label, t->label, sizeof(s->label)) == 0 &&
		    memcmp(s->manufacturer, t->manufacturerID,
			   sizeof(s->manufacturer)) == 0 &&
		    memcmp(s->model, t->model, sizeof(s->model)) == 0 &&
		    memcmp(s->serial, t->serialNumber, sizeof(s->serial)) ==
			    0) {
			*id = i;
			return 0;
		}
	}
	return -1;
}

static struct p11m_key *
key_by_id(const char *id)
{
	size_t i;

	for (i = 0; i < p11m.n_keys; i++)
		if (strcmp(p11m.keys[i].id, id) == 0)
			return &p11m.keys[i];
	return NULL;
}

/* Move one attribute list into a new object of key k. */
static int
add_object(CK_OBJECT_CLASS class, size_t k, struct p11m_attrs *attrs)
{
	struct p11m_object *o;

	o = reserve(p11m.objects, p11m.n_objects, &p11m.cap_objects,
		    sizeof(*o));
	if (o == NULL)
		return -1;
	p11m.objects = o;
	o = &p11m.objects[p11m.n_objects++];
	o->class = class;
	o->key = k;
	o->attrs = *attrs;
	memset(attrs, 0, sizeof(*attrs));
	return 0;
}

static void
add_key(struct prepared *p, CK_SLOT_ID slot)
{
	struct p11m_key *k;
	size_t idx = p11m.n_keys;
	char *id;

	k = reserve(p11m.keys, p11m.n_keys, &p11m.cap_keys, sizeof(*k));
	if (k == NULL)
		return;
	p11m.keys = k;
	if ((id = strdup(p->ident->id)) == NULL)
		return;
	k = &p11m.keys[p11m.n_keys++];
	k->id = id;
	k->slot = slot;
	k->info = p->info;
	k->listed = 1;
	if (add_object(CKO_PRIVATE_KEY, idx, &p->objs.priv) != 0)
		k->listed = 0;
	if (p->objs.has_pub)
		add_object(CKO_PUBLIC_KEY, idx, &p->objs.pub);
	if (p->objs.has_cert)
		add_object(CKO_CERTIFICATE, idx, &p->objs.cert);
}

static void
merge_keys(struct prepared *p, size_t n)
{
	struct p11m_key *k;
	CK_SLOT_ID slot;
	size_t i;

	for (i = 0; i < p11m.n_keys; i++)
		p11m.keys[i].listed = 0;
	for (i = 0; i < n; i++) {
		if (!p[i].usable || slot_of(&p[i].token, &slot) != 0)
			continue;
		if ((k = key_by_id(p[i].ident->id)) != NULL)
			k->listed = 1;
		else
			add_key(&p[i], slot);
	}
}

CK_RV
p11m_registry_refresh(void)
{
	struct p11a_status st;
	struct p11a_identity_list list;
	struct prepared *p = NULL;
	CK_RV rv;

	if ((rv = p11m_agent_fetch(&st, &list)) != CKR_OK)
		return rv;
	if ((rv = prepare_all(&list, &p)) != CKR_OK)
		goto out;
	p11m_lock();
	/* C_Finalize may have run meanwhile */
	if (p11m.initialized && !p11m.disabled) {
		merge_slots(&st);
		merge_keys(p, list.n);
	}
	p11m_unlock();
out:
	prepared_free(p, list.n);
	p11a_identity_list_free(&list);
	p11a_status_free(&st);
	return rv;
}

/* ---- look-ups (lock held) ----------------------------------------------- */

struct p11m_slot *
p11m_slot_get(CK_SLOT_ID id)
{
	if (id >= p11m.n_slots || !p11m.slots[id].listed)
		return NULL;
	return &p11m.slots[id];
}

struct p11m_key *
p11m_object_key(const struct p11m_object *o)
{
	return &p11m.keys[o->key];
}

struct p11m_object *
p11m_object_get(CK_OBJECT_HANDLE handle, CK_SLOT_ID slot)
{
	struct p11m_object *o;
	struct p11m_key *k;

	if (handle == CK_INVALID_HANDLE || handle > p11m.n_objects)
		return NULL;
	o = &p11m.objects[handle - 1];
	k = p11m_object_key(o);
	if (!k->listed || k->slot != slot || p11m_slot_get(slot) == NULL)
		return NULL;
	return o;
}

static int
has_mech(const CK_MECHANISM_TYPE *list, size_t n, CK_MECHANISM_TYPE m)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] == m)
			return 1;
	return 0;
}

size_t
p11m_slot_mechanisms(CK_SLOT_ID slot, CK_MECHANISM_TYPE *out)
{
	CK_MECHANISM_TYPE m[P11M_MECH_MAX];
	size_t i, j, n, count;

	/* every slot digests, with or without keys */
	count = p11m_digest_mechanisms(out, P11M_DIGEST_MAX);
	for (i = 0; i < p11m.n_keys; i++) {
		if (!p11m.keys[i].listed || p11m.keys[i].slot != slot)
			continue;
		n = p11m_mech_list_for_key(&p11m.keys[i].info, m,
					   P11M_MECH_MAX);
		for (j = 0; j < n; j++)
			if (count < P11M_SLOT_MECH_MAX &&
			    !has_mech(out, count, m[j]))
				out[count++] = m[j];
	}
	return count;
}

CK_RV
p11m_slot_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
			 CK_MECHANISM_INFO *info)
{
	const struct p11m_key *k;
	size_t i;
	int found = 0;

	if (p11m_digest_mechanism_info(type, info) == CKR_OK)
		return CKR_OK;
	for (i = 0; i < p11m.n_keys; i++) {
		k = &p11m.keys[i];
		if (!k->listed || k->slot != slot ||
		    !p11m_mech_key_can(type, &k->info))
			continue;
		if (!found || k->info.bits < info->ulMinKeySize)
			info->ulMinKeySize = k->info.bits;
		if (!found || k->info.bits > info->ulMaxKeySize)
			info->ulMaxKeySize = k->info.bits;
		found = 1;
	}
	if (!found)
		return CKR_MECHANISM_INVALID;
	info->flags = p11m_mech_flags(type);
	return CKR_OK;
}
