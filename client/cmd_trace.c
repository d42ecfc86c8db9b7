/*
 * The handshake as it happens, told in the ten steps of the classic SSL
 * handshake description (ClientHello = step 1 ... application data =
 * step 10; docs/TLS.md has the mapping).  OpenSSL's message callback
 * gives every handshake message sent or received, the key log callback
 * tells when keys are derived (only the label is used: no secret is ever
 * printed), the verify callback gives the server chain's verdict, and the
 * provider's sign observer gives the agent's part in step 5.
 *
 * The same callbacks also record what the connection saw (an alert, a
 * CertificateRequest, our certificate sent, the server's acceptance) for
 * the exit code, with or without a trace.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "cmd_tls.h"

/* The connection whose handshake runs in this thread (for the observer). */
static _Thread_local struct p11a_tls_conn *current;

/* ---- output -------------------------------------------------------------- */

static void step(const struct p11a_tls_conn *c, int n, const char *dir,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One trace line: "[ n] -> text"; n 0 means a continuation line. */
static void
step(const struct p11a_tls_conn *c, int n, const char *dir, const char *fmt,
     ...)
{
	va_list ap;

	if (c->trace == NULL)
		return;
	if (n > 0)
		fprintf(c->trace, "[%2d] %s ", n, dir);
	else
		fprintf(c->trace, "     %s ", dir);
	va_start(ap, fmt);
	vfprintf(c->trace, fmt, ap);
	va_end(ap);
	fputc('\n', c->trace);
	fflush(c->trace);
}

/* A name on one line, e.g. "CN=k-rsa, O=Example". */
static void
name_line(const X509_NAME *name, char *buf, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	snprintf(buf, len, "-");
	if (bio == NULL || name == NULL)
		goto out;
	X509_NAME_print_ex(bio, name, 0,
			   XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ &
				   ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_get_mem_data(bio, &p);
	if (n > 0)
		snprintf(buf, len, "%.*s", (int)n, p);
out:
	BIO_free(bio);
}

static const char *
version_name(const SSL *ssl)
{
	return SSL_version(ssl) == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2";
}

static int
is_tls13(const SSL *ssl)
{
	return SSL_version(ssl) == TLS1_3_VERSION;
}

const char *
p11a_trace_alert_name(int desc)
{
	static const struct {
		int code;
		const char *name;
	} names[] = {
		{0, "close_notify"},
		{10, "unexpected_message"},
		{20, "bad_record_mac"},
		{22, "record_overflow"},
		{40, "handshake_failure"},
		{42, "bad_certificate"},
		{43, "unsupported_certificate"},
		{44, "certificate_revoked"},
		{45, "certificate_expired"},
		{46, "certificate_unknown"},
		{47, "illegal_parameter"},
		{48, "unknown_ca"},
		{49, "access_denied"},
		{50, "decode_error"},
		{51, "decrypt_error"},
		{70, "protocol_version"},
		{71, "insufficient_security"},
		{80, "internal_error"},
		{86, "inappropriate_fallback"},
		{90, "user_canceled"},
		{109, "missing_extension"},
		{110, "unsupported_extension"},
		{112, "unrecognized_name"},
		{116, "certificate_required"},
		{120, "no_application_protocol"},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == desc)
			return names[i].name;
	return "unknown_alert";
}

/* ---- the agent's signature ----------------------------------------------- */

static void
observe_sign(const struct p11a_sign_event *ev, void *arg)
{
	struct p11a_tls_conn *c = current;

	(void)arg;
	if (c == NULL)
		return;
	c->signed_cv = 1;
	c->sign_error = ev->error;
	c->scheme = ev->scheme;
	c->sign_flags = ev->flags;
	c->sign_usec = ev->usec;
	snprintf(c->identity, sizeof(c->identity), "%s", ev->identity);
	snprintf(c->label, sizeof(c->label), "%s", ev->label);
}

void
p11a_trace_begin_handshake(struct p11a_tls_conn *conn)
{
	current = conn;
}

void
p11a_trace_end_handshake(void)
{
	current = NULL;
}

/* ---- what the server asked for and what we sent (step 5) ----------------- */

static void
tell_request(const struct p11a_tls_conn *c)
{
	const STACK_OF(X509_NAME) *cas = SSL_get0_peer_CA_list(c->ssl);
	int n = SSL_get_sigalgs(c->ssl, -1, NULL, NULL, NULL, NULL, NULL);
	char name[256];
	int i;

	step(c, 5, "  ",
	     "the server asked for a client certificate: %d "
	     "signature algorithms, %d CA name(s)",
	     n > 0 ? n : 0, cas != NULL ? sk_X509_NAME_num(cas) : 0);
	for (i = 0; cas != NULL && i < sk_X509_NAME_num(cas) && i < 4; i++) {
		name_line(sk_X509_NAME_value(cas, i), name, sizeof(name));
		step(c, 0, "  ", "   CA name: %s", name);
	}
}

/* Whether a Certificate message we sent carries a certificate. */
static int
certificate_nonempty(const SSL *ssl, const unsigned char *m, size_t len)
{
	size_t at = 4; /* handshake header */

	if (is_tls13(ssl)) {
		if (len < at + 1)
			return 0;
		at += 1 + m[at]; /* certificate_request_context */
	}
	if (len < at + 3)
		return 0;
	return (m[at] | m[at + 1] | m[at + 2]) != 0;
}

static void
sent_certificate(struct p11a_tls_conn *c, const unsigned char *m, size_t len)
{
	X509 *x = SSL_get_certificate(c->ssl);
	char subject[256], issuer[256], id[40], why[256];
	int r;

	tell_request(c);
	c->cert_sent = certificate_nonempty(c->ssl, m, len);
	if (!c->cert_sent) {
		r = p11a_ssl_auto_result(c->ssl, id, sizeof(id), why,
					 sizeof(why));
		step(c, 5, "->", "Certificate: empty (%s)",
		     r != P11A_OK && r != P11A_ERR_INVALID_ARGUMENT
			     ? why
			     : "no usable certificate");
		return;
	}
	name_line(x != NULL ? X509_get_subject_name(x) : NULL, subject,
		  sizeof(subject));
	name_line(x != NULL ? X509_get_issuer_name(x) : NULL, issuer,
		  sizeof(issuer));
	step(c, 5, "->", "Certificate: %s (issuer %s)", subject, issuer);
}

static void
sent_certificate_verify(struct p11a_tls_conn *c)
{
	const char *scheme = p11a_scheme_to_name(c->scheme);

	if (!c->signed_cv) {
		step(c, 5, "->", "CertificateVerify");
		return;
	}
	step(c, 5, "->",
	     "CertificateVerify: signed by p11agentd with %s in %.1f ms",
	     scheme != NULL ? scheme : "?", (double)c->sign_usec / 1000.0);
	step(c, 0, "  ", "   identity %s%s%s%s", c->identity,
	     *c->label ? " (" : "", c->label, *c->label ? ")" : "");
	step(c, 0, "  ", "   %s",
	     (c->sign_flags & P11A_SIGN_TLS13_CLIENT_CV)
		     ? "sent to the agent: the transcript hash only; the agent "
		       "built the TLS 1.3 content itself"
	     : (c->sign_flags & P11A_SIGN_DIGEST)
		     ? "sent to the agent: the digest of the handshake messages"
		     : "sent to the agent: the handshake messages");
}

/* ---- after the ServerHello: version, cipher, key exchange (2, 4) --------- */

/* The cipher being negotiated (TLS 1.2 sets the current one later). */
static const SSL_CIPHER *
cipher_of(const SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

	return c != NULL ? c : SSL_get_pending_cipher(ssl);
}

static const char *
group_of(SSL *ssl)
{
	int group = SSL_get_negotiated_group(ssl);
	const char *name = group != 0 ? SSL_group_to_name(ssl, group) : NULL;

	return name != NULL ? name : "?";
}

static void
tell_server_choice(struct p11a_tls_conn *c)
{
	if (c->server_hello != 1)
		return;
	c->server_hello = 2;
	step(c, 2, "  ", "the server chose %s, %s", version_name(c->ssl),
	     SSL_CIPHER_get_name(cipher_of(c->ssl)));
	if (is_tls13(c->ssl))
		step(c, 4, "  ",
		     "key exchange: ECDHE with %s, shares carried in the two "
		     "hellos (nothing is encrypted with the server's key)",
		     group_of(c->ssl));
}

/* ---- messages ------------------------------------------------------------ */

static void
received_handshake(struct p11a_tls_conn *c, int type, size_t len)
{
	if (type != SSL3_MT_SERVER_HELLO)
		tell_server_choice(c);
	switch (type) {
	case SSL3_MT_SERVER_HELLO:
		c->server_hello = 1;
		step(c, 2, "<-", "ServerHello");
		break;
	case SSL3_MT_ENCRYPTED_EXTENSIONS:
		step(c, 2, "<-", "EncryptedExtensions");
		break;
	case SSL3_MT_CERTIFICATE_REQUEST:
		c->cert_requested = 1;
		step(c, 2, "<-",
		     "CertificateRequest: the server asks for a client "
		     "certificate");
		break;
	case SSL3_MT_CERTIFICATE:
		step(c, 2, "<-", "Certificate: the server's chain (%zu bytes)",
		     len);
		break;
	case SSL3_MT_SERVER_KEY_EXCHANGE:
		step(c, 4, "<-",
		     "ServerKeyExchange: the server's ECDHE share, signed "
		     "with its certificate's key");
		break;
	case SSL3_MT_SERVER_DONE:
		step(c, 2, "<-", "ServerHelloDone");
		break;
	case SSL3_MT_CERTIFICATE_VERIFY:
		step(c, 3, "<-",
		     "CertificateVerify: the server signed the handshake "
		     "with its certificate's key");
		break;
	case SSL3_MT_FINISHED:
		step(c, 9, "<-", "Finished%s: the server's part is complete",
		     is_tls13(c->ssl) ? "" : " (after its ChangeCipherSpec)");
		if (c->finished_sent && !c->accepted) {
			c->accepted = 1;
			if (c->cert_sent)
				step(c, 6, "  ",
				     "the server accepted our certificate "
				     "(it finished after our "
				     "CertificateVerify)");
		}
		break;
	case SSL3_MT_NEWSESSION_TICKET:
		if (c->finished_sent && !c->accepted && is_tls13(c->ssl)) {
			c->accepted = 1;
			step(c, 6, "<-",
			     "NewSessionTicket: the server accepted our "
			     "%s",
			     c->cert_sent ? "certificate" : "connection");
		} else {
			step(c, is_tls13(c->ssl) ? 10 : 9, "<-",
			     "NewSessionTicket");
		}
		break;
	default:
		step(c, 0, "<-", "handshake message %d", type);
	}
}

static void
sent_handshake(struct p11a_tls_conn *c, int type, const unsigned char *m,
	       size_t len)
{
	switch (type) {
	case SSL3_MT_CLIENT_HELLO:
		step(c, 1, "->", "ClientHello: offers %s",
		     SSL_get_max_proto_version(c->ssl) == TLS1_2_VERSION
			     ? "TLS 1.2"
		     : SSL_get_min_proto_version(c->ssl) == TLS1_3_VERSION
			     ? "TLS 1.3"
			     : "TLS 1.3 and 1.2");
		break;
	case SSL3_MT_CERTIFICATE:
		sent_certificate(c, m, len);
		break;
	case SSL3_MT_CLIENT_KEY_EXCHANGE:
		step(c, 4, "->",
		     "ClientKeyExchange: our ECDHE share (%s); both sides "
		     "now hold the premaster secret",
		     group_of(c->ssl));
		break;
	case SSL3_MT_CERTIFICATE_VERIFY:
		sent_certificate_verify(c);
		break;
	case SSL3_MT_FINISHED:
		c->finished_sent = 1;
		step(c, 8, "->", "Finished: our part is complete");
		break;
	default:
		step(c, 0, "->", "handshake message %d", type);
	}
}

static void
alert_seen(struct p11a_tls_conn *c, int write_p, const unsigned char *m,
	   size_t len)
{
	const char *name;

	if (len < 2)
		return;
	name = p11a_trace_alert_name(m[1]);
	if (write_p) {
		step(c, 0, "->", "alert %s", name);
		return;
	}
	if (m[0] == 2 || m[1] != 0)
		c->alert = m[1];
	step(c, c->cert_sent && m[1] != 0 ? 6 : 0, "<-", "alert %s%s", name,
	     c->cert_sent && m[1] != 0
		     ? ": the server refused the handshake after our "
		       "certificate"
		     : "");
}

static void
on_message(int write_p, int version, int content_type, const void *buf,
	   size_t len, SSL *ssl, void *arg)
{
	struct p11a_tls_conn *c = SSL_get_app_data(ssl);
	const unsigned char *m = buf;

	(void)version;
	(void)arg;
	if (c == NULL)
		return;
	switch (content_type) {
	case SSL3_RT_HANDSHAKE:
		if (len < 1)
			return;
		if (write_p)
			sent_handshake(c, m[0], m, len);
		else
			received_handshake(c, m[0], len);
		break;
	case SSL3_RT_CHANGE_CIPHER_SPEC:
		if (!write_p)
			tell_server_choice(c);
		step(c, write_p ? 8 : 9, write_p ? "->" : "<-", "%s",
		     is_tls13(ssl) ? "ChangeCipherSpec (TLS 1.3 middlebox "
				     "compatibility, no meaning)"
				   : "ChangeCipherSpec: from now on encrypted");
		break;
	case SSL3_RT_ALERT:
		alert_seen(c, write_p, m, len);
		break;
	default:
		break; /* record headers, inner content types */
	}
}

/*
 * Key derivation, from the key log's labels (the secrets are ignored).
 * Each derivation is told once, at its first label: in TLS 1.3 the
 * client derives the server's keys first.
 */
static void
on_keylog(const SSL *ssl, const char *line)
{
	static const struct {
		const char *prefix;
		int bit;
		const char *text;
	} labels[] = {
		{"SERVER_HANDSHAKE_TRAFFIC_SECRET ", 1,
		 "handshake keys derived from the ECDHE secret: the rest of "
		 "the handshake is encrypted"},
		{"CLIENT_HANDSHAKE_TRAFFIC_SECRET ", 1, NULL},
		{"SERVER_TRAFFIC_SECRET_0 ", 2,
		 "application data keys derived"},
		{"CLIENT_TRAFFIC_SECRET_0 ", 2, NULL},
		{"CLIENT_RANDOM ", 4,
		 "master secret derived; the session keys follow from it"},
	};
	struct p11a_tls_conn *c = SSL_get_app_data(ssl);
	const char *prefix;
	size_t i;

	if (c == NULL)
		return;
	/* keys follow the ServerHello: tell what it chose first */
	tell_server_choice(c);
	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		prefix = labels[i].prefix;
		if (strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		if (!(c->keys_told & labels[i].bit)) {
			c->keys_told |= labels[i].bit;
			step(c, 7, "  ", "%s",
			     labels[i].text != NULL ? labels[i].text
						    : labels[i - 1].text);
		}
		return;
	}
}

static int
on_verify(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct p11a_tls_conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	X509 *x = X509_STORE_CTX_get_current_cert(store);
	int err = X509_STORE_CTX_get_error(store);
	char subject[256];

	if (c == NULL)
		return ok;
	if (c->server_hello == 1)
		tell_server_choice(c);
	name_line(x != NULL ? X509_get_subject_name(x) : NULL, subject,
		  sizeof(subject));
	if (!ok && c->verify_error == 0)
		c->verify_error = err;
	step(c, 3, "  ", "server certificate, depth %d: %s: %s",
	     X509_STORE_CTX_get_error_depth(store), subject,
	     ok ? "ok" : X509_verify_cert_error_string(err));
	return ok;
}

void
p11a_trace_attach(SSL_CTX *ctx)
{
	SSL_CTX_set_msg_callback(ctx, on_message);
	SSL_CTX_set_keylog_callback(ctx, on_keylog);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
	p11a_set_sign_observer(observe_sign, NULL);
}

void
p11a_trace_bind(SSL *ssl, struct p11a_tls_conn *conn)
{
	conn->ssl = ssl;
	conn->alert = -1;
	SSL_set_app_data(ssl, conn);
}

/* ---- summary (step 10) --------------------------------------------------- */

static void
tell_cert(const struct p11a_tls_conn *c, const char *who, X509 *x,
	  const char *note)
{
	char subject[256], issuer[256];

	if (x == NULL) {
		step(c, 0, "  ", "%s certificate: none", who);
		return;
	}
	name_line(X509_get_subject_name(x), subject, sizeof(subject));
	name_line(X509_get_issuer_name(x), issuer, sizeof(issuer));
	step(c, 0, "  ", "%s certificate: %s (issuer %s)%s", who, subject,
	     issuer, note);
}

void
p11a_trace_summary(const struct p11a_tls_conn *c)
{
	X509 *peer = SSL_get1_peer_certificate(c->ssl);

	step(c, 10, "==", "handshake complete: %s, %s, key exchange %s",
	     SSL_get_version(c->ssl), SSL_CIPHER_get_name(cipher_of(c->ssl)),
	     group_of(c->ssl));
	tell_cert(c, "server", peer,
		  SSL_get_verify_result(c->ssl) == X509_V_OK ? ", verified"
							     : "");
	tell_cert(c, "client",
		  c->cert_sent ? SSL_get_certificate(c->ssl) : NULL,
		  ", key held by p11agentd");
	step(c, 0, "  ",
	     "application data follows, encrypted with the "
	     "session keys");
	X509_free(peer);
}
