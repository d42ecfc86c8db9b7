/*
 * The TLS subcommands of p11agent: `connect` (cmd_connect.c) and
 * `tunnel` (cmd_tunnel.c), the TLS client set-up and handshake they
 * share (cmd_connect.c), and the handshake trace (cmd_trace.c).
 *
 * The private key operation of every handshake is a SIGN request to the
 * agent, through the provider inside libp11agent (include/p11agent/ssl.h).
 */
#ifndef P11A_CMD_TLS_H
#define P11A_CMD_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/ssl.h>

#include "p11agent/client.h"
#include "p11agent/ssl.h"

/* Exit codes: 0-7 as for every p11agent command (p11agent.c), and more. */
enum p11a_tls_exit {
	P11A_TLS_EXIT_OK = 0,
	P11A_TLS_EXIT_ERROR = 1,
	P11A_TLS_EXIT_USAGE = 2,
	P11A_TLS_EXIT_NO_AGENT = 3, /* agent unreachable */
	P11A_TLS_EXIT_IDENTITY = 4, /* no (matching) identity */
	P11A_TLS_EXIT_LOCKED = 5,   /* agent locked */
	P11A_TLS_EXIT_REJECTED = 8, /* the server rejected our certificate */
	P11A_TLS_EXIT_UNTRUSTED =
		9,		   /* the server's certificate is not trusted */
	P11A_TLS_EXIT_NETWORK = 10 /* server unreachable, or TLS failed */
};

/* Entry points, called from p11agent.c's command table. */
int p11a_cmd_connect(const char *socket, int argc, char **argv);
int p11a_cmd_tunnel(const char *socket, int argc, char **argv);

#define P11A_CONNECT_SYNOPSIS                                                  \
	"[--identity ID|URI] [--cert FILE] [--CAfile FILE] "                   \
	"[--servername NAME] [--tls1.2|--tls1.3] [--trace] HOST:PORT"
#define P11A_TUNNEL_SYNOPSIS                                                   \
	"--listen ADDR:PORT --connect HOST:PORT [--identity ID|URI] "          \
	"[--cert FILE] [--CAfile FILE] [--servername NAME] "                   \
	"[--tls1.2|--tls1.3] [--max-connections N] [--trace]"

extern const char p11a_connect_help[];
extern const char p11a_tunnel_help[];

/* ---- the TLS client both commands use (cmd_connect.c) ---------------- */

struct p11a_tls_opts {
	const char *socket; /* agent socket, NULL: default */
	const char
		*identity;  /* id or pkcs11: URI; NULL: chosen per handshake */
	const char *cert;   /* PEM certificate (+ chain) file, or NULL */
	const char *cafile; /* CAs for the server; NULL: system store */
	const char *servername; /* SNI and name checked; NULL: the host */
	int version; /* 0 (1.2 or 1.3), TLS1_2_VERSION, TLS1_3_VERSION */
	int trace;
	char host[256];
	char port[32];
};

/*
 * Parse the options both commands take (--identity, --cert, --CAfile,
 * --servername, --tls1.2, --tls1.3, --trace) into o.  Returns 1 when ch
 * was one of them.
 */
int p11a_tls_take_option(int ch, const char *arg, struct p11a_tls_opts *o);

/* The getopt_long entries for those options (values 0x100 and up). */
#define P11A_TLS_LONG_OPTIONS                                                  \
	{"identity", required_argument, NULL, 0x100},                          \
		{"cert", required_argument, NULL, 0x101},                      \
		{"CAfile", required_argument, NULL, 0x102},                    \
		{"servername", required_argument, NULL, 0x103},                \
		{"tls1.2", no_argument, NULL, 0x104},                          \
		{"tls1.3", no_argument, NULL, 0x105},                          \
	{                                                                      \
		"trace", no_argument, NULL, 0x106                              \
	}

/* Split HOST:PORT (or [V6]:PORT) into host and port; -1 if malformed. */
int p11a_tls_split_target(const char *arg, char *host, size_t host_len,
			  char *port, size_t port_len);

/*
 * Check the agent (reachable; an identity to use, not locked) and make
 * the SSL_CTX: the agent identity (fixed, or chosen per handshake), the
 * CAs, the versions.  Messages go to stderr prefixed with who; returns
 * an exit code.
 */
int p11a_tls_ctx_new(const struct p11a_tls_opts *o, const char *who,
		     SSL_CTX **out);

/* What one connection saw; the trace (cmd_trace.c) fills most of it. */
struct p11a_tls_conn {
	SSL *ssl;
	int fd;
	FILE *trace;	    /* where the trace goes; NULL: no trace */
	const char *target; /* "host:port", for messages */
	int cert_requested; /* the server sent a CertificateRequest */
	int cert_sent;	    /* we sent a non-empty Certificate */
	int finished_sent;  /* our Finished went out */
	int accepted;	    /* the server went on after our Finished */
	int alert;	    /* fatal alert received, or -1 */
	int verify_error;   /* X509_V_* of the server chain, 0 if fine */
	int server_hello;   /* ServerHello seen; key exchange not yet told */
	int keys_told;	    /* key derivations told (cmd_trace.c) */
	/* the agent's signature, from the sign observer */
	int signed_cv;
	int sign_error;
	uint16_t scheme;
	uint32_t sign_flags;
	uint64_t sign_usec;
	char identity[40];
	char label[64];
};

/*
 * TCP to o->host:o->port, then the TLS handshake on conn.  In TLS 1.3
 * the server judges our certificate after the handshake, so when one was
 * sent this also waits (up to 2 s) for the server's first word: a
 * session ticket (accepted) or an alert (rejected).  Bytes of
 * application data that arrive meanwhile are left for SSL_read.  Prints
 * the failure (prefixed with who) and returns an exit code.
 */
int p11a_tls_connect(SSL_CTX *ctx, const struct p11a_tls_opts *o,
		     const char *who, struct p11a_tls_conn *conn);

/* Free conn's SSL and close its socket. */
void p11a_tls_conn_close(struct p11a_tls_conn *conn);

/*
 * SSL_write all of buf on the connection's non-blocking socket, waiting
 * with poll() when TLS wants to read or write first; -1 on failure.
 */
int p11a_tls_write_all(struct p11a_tls_conn *c, const unsigned char *buf,
		       size_t n);

/*
 * The exit code and one-line explanation (into msg) of a connection
 * that failed after the handshake started: rejected by the server,
 * untrusted server, agent refusal, or plain TLS failure.
 */
int p11a_tls_explain(const struct p11a_tls_conn *conn, char *msg, size_t len);

/* ---- the trace (cmd_trace.c) -------------------------------------------- */

/*
 * Install the callbacks that fill conn (and print the trace when
 * conn->trace is set): message, key log, certificate verification.
 */
void p11a_trace_attach(SSL_CTX *ctx);
void p11a_trace_bind(SSL *ssl, struct p11a_tls_conn *conn);
/* The sign observer records into the connection handshaking in this thread. */
void p11a_trace_begin_handshake(struct p11a_tls_conn *conn);
void p11a_trace_end_handshake(void);
/* The final summary: version, cipher, both certificates (step 10). */
void p11a_trace_summary(const struct p11a_tls_conn *conn);
/* The TLS alert name of a description code. */
const char *p11a_trace_alert_name(int desc);

#endif
