/*
 * Which agent identities the module exposes.  Some consumers break on
 * key types they do not know: libp11 0.4.12 (Debian 12) finds no key at
 * all on a token that also holds an Ed25519 key.  A filter is either
 *
 *   - a pkcs11: URI (RFC 7512): an identity is exposed when its token
 *     (token, manufacturer, model, serial) and its key (id, object)
 *     match; other attributes (type, module-*, pin-*) are ignored; or
 *   - a comma-separated list of key types: rsa, ec (alias ecdsa),
 *     ed25519 (alias eddsa).
 *
 * No filter (NULL or empty) exposes everything.
 */
#ifndef P11M_FILTER_H
#define P11M_FILTER_H

#include <stdint.h>

#include <p11-kit/uri.h>

struct p11m_filter {
	P11KitUri *uri; /* URI filter, or NULL */
	unsigned types; /* key-type filter: bit (1 << P11A_KEY_*) */
};

/*
 * p11m_filter_parse - parse spec into f.  Returns 0, or -1 for a spec
 * that is neither a valid URI nor a list of known key types (*why says
 * what is wrong).
 */
int p11m_filter_parse(const char *spec, struct p11m_filter *f,
		      const char **why);

/*
 * p11m_filter_match - whether the identity with this parsed URI (of its
 * private key) and key type passes.
 */
int p11m_filter_match(const struct p11m_filter *f, P11KitUri *identity,
		      uint8_t key_type);

/* p11m_filter_free - release; safe on a zeroed filter. */
void p11m_filter_free(struct p11m_filter *f);

#endif
