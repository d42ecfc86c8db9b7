/*
 * p11agent-pkcs11.so: a PKCS#11 2.40 module whose keys are the p11agent
 * agent's identities.  Programs that speak only PKCS#11 sign with keys
 * the agent holds; the PIN and the token's own module stay in the agent.
 *
 * This file: the function list (the only export, with the version script
 * p11agent-pkcs11.map), C_Initialize, C_Finalize and C_GetInfo.  The
 * other entry points live in api_*.c; the ones the module does not
 * implement answer CKR_FUNCTION_NOT_SUPPORTED (api_unsupported.c).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "registry.h"
#include "state.h"

#define MANUFACTURER "p11agent"
#define DESCRIPTION "p11agent PKCS#11 front module"
/* the agent's own process: a module registered with p11-kit is loaded
 * by every program, the agent included; it must not talk to itself */
#define AGENT_PROGRAM "p11agentd"

static CK_FUNCTION_LIST function_list;

/* All four mutex callbacks or none (PKCS#11 2.40 section 5.4). */
static CK_RV
check_init_args(const CK_C_INITIALIZE_ARGS *a)
{
	int n = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) +
		(a->LockMutex != NULL) + (a->UnlockMutex != NULL);

	if (n != 0 && n != 4)
		return CKR_ARGUMENTS_BAD;
	/*
	 * The module always locks with pthread mutexes, which is right for
	 * every caller that uses native threads, whatever callbacks it
	 * passes (NSS passes its own and CKF_OS_LOCKING_OK).
	 */
	return CKR_OK;
}

/* Options, filter and pool for a fresh state; lock held. */
static CK_RV
setup(const char *reserved)
{
	const char *why;
	CK_RV rv;

	if ((rv = p11m_options_load(&p11m.options, reserved)) != CKR_OK)
		return rv;
	if (p11m_filter_parse(p11m.options.filter, &p11m.filter, &why) != 0) {
		p11m_warn("bad filter '%s': %s", p11m.options.filter, why);
		return CKR_ARGUMENTS_BAD;
	}
	p11m.disabled =
		strcmp(program_invocation_short_name, AGENT_PROGRAM) == 0;
	if (p11m.disabled)
		p11m_debug("loaded into %s: no slots", AGENT_PROGRAM);
	return p11m_agent_start(p11m.options.socket);
}

CK_RV
C_Initialize(CK_VOID_PTR pInitArgs)
{
	const CK_C_INITIALIZE_ARGS *a = pInitArgs;
	CK_RV rv;

	if (a != NULL && (rv = check_init_args(a)) != CKR_OK)
		return rv;
	p11m_lock();
	if (p11m.initialized && p11m.pid == getpid()) {
		p11m_unlock();
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	/* a child initialising again starts afresh, without the parent's */
	if (p11m.initialized)
		p11m_state_clear();
	p11m.pid = getpid();
	if ((rv = setup(a != NULL ? a->pReserved : NULL)) != CKR_OK) {
		p11m_state_clear();
		p11m_unlock();
		p11m_agent_stop();
		return rv;
	}
	p11m.initialized = 1;
	p11m_unlock();
	p11m_state_register_fork();
	/* no agent yet is fine: no slots now, they appear when it answers */
	if (!p11m.disabled && (rv = p11m_registry_refresh()) != CKR_OK)
		p11m_debug("no answer from the agent yet (0x%lx)", rv);
	return CKR_OK;
}

CK_RV
C_Finalize(CK_VOID_PTR pReserved)
{
	CK_RV rv;

	if (pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	p11m_state_clear();
	p11m_unlock();
	p11m_agent_stop();
	return CKR_OK;
}

CK_RV
C_GetInfo(CK_INFO_PTR pInfo)
{
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = CRYPTOKI_VERSION_MAJOR;
	pInfo->cryptokiVersion.minor = CRYPTOKI_VERSION_MINOR;
	p11m_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
		 MANUFACTURER);
	p11m_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
		 DESCRIPTION);
	pInfo->libraryVersion.major = P11M_VERSION_MAJOR;
	pInfo->libraryVersion.minor = P11M_VERSION_MINOR;
	return p11m_leave(CKR_OK);
}

__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &function_list;
	return CKR_OK;
}

static CK_FUNCTION_LIST function_list = {
	.version = {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR},
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};
