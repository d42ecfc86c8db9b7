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
/* Drop the mechanisms the card lacks from a list of n; the new count. */
CK_ULONG card_filter_mechanisms(CK_MECHANISM_TYPE *list, CK_ULONG n);
/* How long a C_Sign takes on the card, in ms. */
long card_sign_ms(void);
/* Before C_Login: CKR_PIN_LOCKED if the card blocked its PIN, else CKR_OK. */
CK_RV card_login_allowed(CK_SLOT_ID slot);
/* After C_Login: count a wrong PIN, reset on a right one. */
void card_login_done(CK_SLOT_ID slot, CK_RV rv);

#endif
