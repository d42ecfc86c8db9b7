/*
 * The keys measured: finding a key's identity in the agent's list, its
 * public key (to verify signatures), and verifying a signature.
 */
#ifndef P11A_BENCH_KEYS_H
#define P11A_BENCH_KEYS_H

#include "p11agent/protocol.h"

#include "drivers.h"

/*
 * The identity whose key has CKA_LABEL label on the token labelled token
 * (any token when NULL); NULL with why set when none or several match.
 */
const struct p11a_identity *
bench_find_identity(const struct p11a_identity_list *l, const char *label,
		    const char *token, char why[BENCH_WHY]);

/*
 * Fill keys[i] for o->schemes[i]: the public key from
 * o->pubkey_dir/LABEL.pub.pem, or else from the agent's identity list
 * (its SubjectPublicKeyInfo).  A benchmark whose signatures do not verify
 * measures nothing, so there is no way to run without a public key.
 */
int bench_keys_load(const struct bench_opts *o, struct bench_key *keys,
		    char why[BENCH_WHY]);
void bench_keys_free(struct bench_key *keys, size_t n);

/* 0 when sig (TLS form) is a valid signature of in->msg by k. */
int bench_verify(const struct bench_key *k, const struct bench_input *in,
		 const uint8_t *sig, size_t sig_len);

#endif
