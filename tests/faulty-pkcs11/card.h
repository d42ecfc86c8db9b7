/*
 * Card personalities of the fault shim (FAULTY_PKCS11_CARD): what a real
 * smartcard does differently from SoftHSM, emulated in front of it.
 *
 *   piv             2 sessions at most (C_OpenSession beyond that gives
 *                   SESSION_COUNT); mechanisms CKM_RSA_PKCS, CKM_RSA_X_509
 *                   and CKM_ECDSA only; 150 ms per C_Sign; a PIN retry
 *                   counter per token: CKF_USER_PIN_COUNT_LOW after one
 *                   wrong PIN, _FINAL_TRY after two, _LOCKED after three
 *                   (from then on C_Login gives PIN_LOCKED without asking
 *                   the real module); a right PIN resets it
 *   single-session  1 session at most
 *   no-ecdsa        no CKM_ECDSA* mechanism at all
 *   hashed-only     only the hash-and-sign mechanisms (CKM_ECDSA_SHA256,
 *                   CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, ...):
 *                   no CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS or
 *                   CKM_RSA_X_509, so the token hashes every message
 *                   (SoftHSM has no CKM_ECDSA_SHA*: the shim offers them
 *                   and makes them of a hash and the real CKM_ECDSA)
 *
 * Unset or empty: SoftHSM as it is.  The PIN counter lives in the
 * process that loaded the shim.
 */
#ifndef FAULTY_CARD_H
#define FAULTY_CARD_H

#include <p11-kit/pkcs11.h>

/* Read FAULTY_PKCS11_CARD; 0, or -1 (message on stderr) if unknown. */
int card_init(void);
/* Take a session of the slot's allowance: CKR_OK or CKR_SESSION_COUNT. */
CK_RV card_session_take(CK_SLOT_ID slot);
/* Give one back (a close, or an open that failed after the take). */
void card_session_give(CK_SLOT_ID slot);
/* C_CloseAllSessions: every session of the slot is gone. */
void card_sessions_gone(CK_SLOT_ID slot);
/* The card's limits and PIN counter in C_GetTokenInfo's answer. */
void card_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO *info);
/* Whether the card has this mechanism. */
int card_has_mechanism(CK_MECHANISM_TYPE m);
/*
 * Drop the mechanisms the card lacks from a list of n and add those it
 * emulates (room for cap); the new count.
 */
CK_ULONG card_filter_mechanisms(CK_MECHANISM_TYPE *list, CK_ULONG n,
				CK_ULONG cap);
/* The real module's mechanism for one the card offers. */
CK_MECHANISM_TYPE card_real_mechanism(CK_MECHANISM_TYPE m);
/* C_SignInit with m on session h: remember whether the shim hashes. */
void card_sign_begin(CK_SESSION_HANDLE h, CK_MECHANISM_TYPE m);
/*
 * The input for the real C_Sign: 1 with the digest of data in out (room
 * for 64 bytes) when the shim hashes for session h, 0 when data goes
 * as it is, -1 on failure.
 */
int card_sign_input(CK_SESSION_HANDLE h, const CK_BYTE *data, CK_ULONG len,
		    CK_BYTE *out, CK_ULONG *out_len);
/* How long a C_Sign takes on the card, in ms. */
long card_sign_ms(void);
/* Before C_Login: CKR_PIN_LOCKED if the card blocked its PIN, else CKR_OK. */
CK_RV card_login_allowed(CK_SLOT_ID slot);
/* After C_Login: count a wrong PIN, reset on a right one. */
void card_login_done(CK_SLOT_ID slot, CK_RV rv);

#endif
