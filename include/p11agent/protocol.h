/*
 * p11agent socket protocol: constants and decoded message contents.
 * docs/PROTOCOL.md is the normative description; this header mirrors it.
 */
#ifndef P11AGENT_PROTOCOL_H
#define P11AGENT_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define P11A_PROTOCOL_VERSION 1
/* Largest frame body (type + request id + payload) either side accepts. */
#define P11A_MAX_FRAME (256u * 1024u)
/* Bytes before the body: a big-endian u32 body length. */
#define P11A_FRAME_HEADER_LEN 4u
/* type (u8) + request id (u32) */
#define P11A_FRAME_BODY_MIN 5u

enum p11a_msg_type {
	P11A_MSG_HELLO = 0x01,
	P11A_MSG_LIST_IDENTITIES = 0x02,
	P11A_MSG_SIGN = 0x03,
	P11A_MSG_STATUS = 0x04,
	P11A_MSG_LOCK = 0x05,
	P11A_MSG_UNLOCK = 0x06,

	P11A_MSG_HELLO_REPLY = 0x81,
	P11A_MSG_IDENTITIES = 0x82,
	P11A_MSG_SIGNATURE = 0x83,
	P11A_MSG_STATUS_REPLY = 0x84,
	P11A_MSG_OK = 0x85,
	P11A_MSG_ERROR = 0xff
};

/* TLS SignatureScheme code points (RFC 8446 4.2.3) plus one private-use. */
enum p11a_scheme {
	P11A_SCHEME_RSA_PKCS1_SHA1 = 0x0201,
	P11A_SCHEME_ECDSA_SHA1 = 0x0203,
	P11A_SCHEME_RSA_PKCS1_SHA256 = 0x0401,
	P11A_SCHEME_ECDSA_SECP256R1_SHA256 = 0x0403,
	P11A_SCHEME_RSA_PKCS1_SHA384 = 0x0501,
	P11A_SCHEME_ECDSA_SECP384R1_SHA384 = 0x0503,
	P11A_SCHEME_RSA_PKCS1_SHA512 = 0x0601,
	P11A_SCHEME_ECDSA_SECP521R1_SHA512 = 0x0603,
	P11A_SCHEME_RSA_PSS_RSAE_SHA256 = 0x0804,
	P11A_SCHEME_RSA_PSS_RSAE_SHA384 = 0x0805,
	P11A_SCHEME_RSA_PSS_RSAE_SHA512 = 0x0806,
	P11A_SCHEME_ED25519 = 0x0807,
	/* private use: TLS 1.0/1.1 RSA signature over MD5(m) || SHA1(m) */
	P11A_SCHEME_RSA_PKCS1_MD5_SHA1 = 0xfe00
};

enum p11a_key_type { P11A_KEY_RSA = 1, P11A_KEY_EC = 2, P11A_KEY_ED25519 = 3 };

/* SIGN flags */
#define P11A_SIGN_DIGEST 0x01u /* data is a digest of the scheme's hash */
/*
 * data is the transcript hash of a TLS 1.3 handshake (32 or 48 bytes);
 * the agent signs 64 spaces, "TLS 1.3, client CertificateVerify", 0x00
 * and that hash (RFC 8446 4.4.3) with the scheme.
 */
#define P11A_SIGN_TLS13_CLIENT_CV 0x02u

/* identity flags */
#define P11A_IDENTITY_AVAILABLE 0x01u /* token present and logged in */
/* signs only in the P11A_SIGN_TLS13_CLIENT_CV form (--purpose) */
#define P11A_IDENTITY_TLS13_CLIENT_ONLY 0x02u
/* the key has CKA_ALWAYS_AUTHENTICATE: a PIN for every signature */
#define P11A_IDENTITY_ALWAYS_AUTH 0x04u
/* some schemes are raw RSA (CKM_RSA_X_509) padded by the agent */
#define P11A_IDENTITY_AGENT_PADS 0x08u
/*
 * some schemes use a hash-and-sign mechanism: send the message, the
 * P11A_SIGN_DIGEST form is refused for them
 */
#define P11A_IDENTITY_MESSAGE_ONLY 0x10u

/* token flags in STATUS */
#define P11A_TOKEN_PRESENT 0x01u
#define P11A_TOKEN_LOGGED_IN 0x02u
#define P11A_TOKEN_PROTECTED_AUTH 0x04u
#define P11A_TOKEN_NEEDS_UNLOCK 0x08u
#define P11A_TOKEN_RECOVERING 0x10u /* its module's helper is restarting */
#define P11A_TOKEN_FAILED 0x20u	    /* its module kept failing: given up */
/* the token's own PIN counter (CKF_USER_PIN_*), as last read by the agent */
#define P11A_TOKEN_PIN_COUNT_LOW 0x40u
#define P11A_TOKEN_PIN_FINAL_TRY 0x80u
#define P11A_TOKEN_PIN_LOCKED 0x100u

/* UNLOCK flags */
#define P11A_UNLOCK_FINAL_TRY 0x01u /* a token's last PIN try may be used */

/* STATUS flags (an optional u32 payload; absent: 0) */
/* the reply also carries the token details and signing paths */
#define P11A_STATUS_DETAIL 0x01u

/* HELLO capabilities */
#define P11A_CAP_PIPELINING 0x01u
#define P11A_CAP_LOCK 0x02u
/* STATUS takes P11A_STATUS_DETAIL; never send it to an agent without */
#define P11A_CAP_STATUS_DETAIL 0x04u

#define P11A_MAX_SCHEMES 16

struct p11a_hello {
	uint16_t version;     /* chosen (reply) or highest (request) */
	uint16_t min_version; /* request only */
	char *name;	      /* client or agent name */
	char *software;	      /* agent version string (reply only) */
	uint32_t capabilities;
	uint32_t max_frame;
};

struct p11a_identity {
	char *id;    /* stable id: 32 lowercase hex characters */
	char *uri;   /* RFC 7512 URI of the private key */
	char *label; /* CKA_LABEL, may be empty */
	uint8_t key_type;
	uint16_t bits;	/* modulus or field size */
	char *curve;	/* "P-256", "Ed25519"; empty for RSA */
	uint32_t flags; /* P11A_IDENTITY_* */
	size_t n_schemes;
	uint16_t schemes[P11A_MAX_SCHEMES];
	uint8_t *cert; /* certificate DER; NULL when none */
	size_t cert_len;
	uint8_t *spki; /* SubjectPublicKeyInfo DER; NULL when unknown */
	size_t spki_len;
};

struct p11a_identity_list {
	size_t n;
	struct p11a_identity *items;
};

struct p11a_sign_request {
	const char *identity; /* identity id or a pkcs11: URI */
	uint16_t scheme;
	uint32_t flags; /* P11A_SIGN_* */
	const uint8_t *data;
	size_t data_len;
};

struct p11a_token_status {
	char *label;
	char *uri;    /* token URI */
	char *module; /* module name or path */
	uint32_t flags;
	uint32_t identities;
	uint32_t workers;
	uint64_t signs;
	uint64_t errors;
	uint64_t sign_usec_total; /* sum of C_Sign times, for averages */
};

struct p11a_status {
	char *software;
	uint64_t uptime_sec;
	uint32_t connections;
	uint64_t requests;
	size_t n_tokens;
	struct p11a_token_status *tokens;
};

/* STATUS_REPLY's detail of one token (P11A_STATUS_DETAIL) */
struct p11a_token_detail {
	uint32_t sessions; /* PKCS#11 sessions its workers use, one each */
	uint32_t queued;   /* jobs waiting for a worker */
	uint32_t running;  /* jobs a worker is doing now */
};

/* signing paths (P11A_STATUS_DETAIL) */
enum p11a_sign_path_kind {
	P11A_SIGN_PATH_NATIVE = 1, /* the scheme's own mechanism */
	P11A_SIGN_PATH_RAW = 2,	   /* CKM_RSA_X_509, padded by the agent */
	P11A_SIGN_PATH_HASHED = 3  /* hash-and-sign: message form only */
};

struct p11a_scheme_path {
	uint16_t scheme;
	uint8_t path;	    /* enum p11a_sign_path_kind */
	uint32_t mechanism; /* the CKM_* the token is asked for */
};

/* How one identity signs each of its schemes. */
struct p11a_identity_paths {
	char *id;
	uint32_t token; /* index into the reply's tokens */
	size_t n_paths;
	struct p11a_scheme_path paths[P11A_MAX_SCHEMES];
};

/* A STATUS_REPLY to STATUS with P11A_STATUS_DETAIL. */
struct p11a_status_detail {
	struct p11a_status status;
	int detailed; /* 0: the agent has no detail, the rest is empty */
	struct p11a_token_detail *tokens; /* status.n_tokens of them */
	size_t n_identities;
	struct p11a_identity_paths *identities;
};

#ifdef __cplusplus
}
#endif
#endif
