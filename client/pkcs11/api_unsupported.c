/*
 * The PKCS#11 2.40 functions the module does not implement: it only
 * finds keys, signs and digests.  They answer CKR_FUNCTION_NOT_SUPPORTED,
 * except the legacy parallel-function pair, which answers
 * CKR_FUNCTION_NOT_PARALLEL as the standard asks.
 */
#include <p11-kit/pkcs11.h>

/* the parameters are there to match the prototypes, and unused */
#pragma GCC diagnostic ignored "-Wunused-parameter"

CK_RV
C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_InitToken(CK_SLOT_ID slot_id, CK_BYTE_PTR pin, CK_ULONG pin_len,
	    CK_BYTE_PTR label)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_InitPIN(CK_SESSION_HANDLE session, CK_BYTE_PTR pin, CK_ULONG pin_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SetPIN(CK_SESSION_HANDLE session, CK_BYTE_PTR old_pin, CK_ULONG old_len,
	 CK_BYTE_PTR new_pin, CK_ULONG new_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GetOperationState(CK_SESSION_HANDLE session, CK_BYTE_PTR operation_state,
		    CK_ULONG_PTR operation_state_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SetOperationState(CK_SESSION_HANDLE session, CK_BYTE_PTR operation_state,
		    CK_ULONG operation_state_len,
		    CK_OBJECT_HANDLE encryption_key,
		    CK_OBJECT_HANDLE authentiation_key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_CreateObject(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR templ,
	       CK_ULONG count, CK_OBJECT_HANDLE_PTR object)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_CopyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
	     CK_ATTRIBUTE_PTR templ, CK_ULONG count,
	     CK_OBJECT_HANDLE_PTR new_object)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DestroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GetObjectSize(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
		CK_ULONG_PTR size)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
		    CK_ATTRIBUTE_PTR templ, CK_ULONG count)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_EncryptInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
	      CK_OBJECT_HANDLE key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_Encrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len,
	  CK_BYTE_PTR encrypted_data, CK_ULONG_PTR encrypted_data_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_EncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR part, CK_ULONG part_len,
		CK_BYTE_PTR encrypted_part, CK_ULONG_PTR encrypted_part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_EncryptFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR last_encrypted_part,
	       CK_ULONG_PTR last_encrypted_part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
	      CK_OBJECT_HANDLE key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_Decrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_data,
	  CK_ULONG encrypted_data_len, CK_BYTE_PTR data, CK_ULONG_PTR data_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_part,
		CK_ULONG encrypted_part_len, CK_BYTE_PTR part,
		CK_ULONG_PTR part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR last_part,
	       CK_ULONG_PTR last_part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DigestKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SignRecoverInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
		  CK_OBJECT_HANDLE key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SignRecover(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len,
	      CK_BYTE_PTR signature, CK_ULONG_PTR signature_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
	     CK_OBJECT_HANDLE key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_Verify(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len,
	 CK_BYTE_PTR signature, CK_ULONG signature_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR part, CK_ULONG part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR signature,
	      CK_ULONG signature_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyRecoverInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
		    CK_OBJECT_HANDLE key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyRecover(CK_SESSION_HANDLE session, CK_BYTE_PTR signature,
		CK_ULONG signature_len, CK_BYTE_PTR data, CK_ULONG_PTR data_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DigestEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR part,
		      CK_ULONG part_len, CK_BYTE_PTR encrypted_part,
		      CK_ULONG_PTR encrypted_part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptDigestUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_part,
		      CK_ULONG encrypted_part_len, CK_BYTE_PTR part,
		      CK_ULONG_PTR part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SignEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR part,
		    CK_ULONG part_len, CK_BYTE_PTR encrypted_part,
		    CK_ULONG_PTR encrypted_part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptVerifyUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_part,
		      CK_ULONG encrypted_part_len, CK_BYTE_PTR part,
		      CK_ULONG_PTR part_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GenerateKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
	      CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GenerateKeyPair(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
		  CK_ATTRIBUTE_PTR public_key_template,
		  CK_ULONG public_key_attribute_count,
		  CK_ATTRIBUTE_PTR private_key_template,
		  CK_ULONG private_key_attribute_count,
		  CK_OBJECT_HANDLE_PTR public_key,
		  CK_OBJECT_HANDLE_PTR private_key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_WrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
	  CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
	  CK_BYTE_PTR wrapped_key, CK_ULONG_PTR wrapped_key_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_UnwrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
	    CK_OBJECT_HANDLE unwrapping_key, CK_BYTE_PTR wrapped_key,
	    CK_ULONG wrapped_key_len, CK_ATTRIBUTE_PTR templ,
	    CK_ULONG attribute_count, CK_OBJECT_HANDLE_PTR key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DeriveKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
	    CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE_PTR templ,
	    CK_ULONG attribute_count, CK_OBJECT_HANDLE_PTR key)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SeedRandom(CK_SESSION_HANDLE session, CK_BYTE_PTR seed, CK_ULONG seed_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GenerateRandom(CK_SESSION_HANDLE session, CK_BYTE_PTR random_data,
		 CK_ULONG random_len)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GetFunctionStatus(CK_SESSION_HANDLE session)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV
C_CancelFunction(CK_SESSION_HANDLE session)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}
