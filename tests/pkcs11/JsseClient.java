/*
 * JsseClient - Java's TLS client (JSSE) authenticating with keys that
 * SunPKCS11 finds through p11agent-pkcs11.so.  Run as a single-file
 * source program:
 *
 *   java JsseClient.java CONFIG CAFILE PORT OUTDIR ALIAS:PROTOCOL...
 *
 * CONFIG is a SunPKCS11 configuration naming the module, CAFILE the PEM
 * CA that signed the server's certificate.  For each ALIAS:PROTOCOL
 * (e.g. j-rsa:TLSv1.3) it connects to 127.0.0.1:PORT with only that
 * protocol enabled and only that key offered, sends an HTTP GET and
 * writes what the server answers (openssl s_server -www: its view of the
 * session) to OUTDIR/ALIAS-PROTOCOL.page.  Every case runs; one line per
 * case on stdout ("ok ..." or "FAILED ...").  Exit status 0 when every
 * handshake completed, 1 otherwise.
 */
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;

public class JsseClient {
	/* Offers the one key of alias, for the key types it can serve. */
	static final class OneKey extends X509ExtendedKeyManager {
		private final String alias;
		private final PrivateKey key;
		private final X509Certificate[] chain;

		OneKey(KeyStore ks, String alias) throws Exception {
			this.alias = alias;
			/* the module needs no PIN: the agent holds the login */
			this.key = (PrivateKey) ks.getKey(alias, null);
			Certificate[] c = ks.getCertificateChain(alias);
			if (key == null || c == null)
				throw new IllegalArgumentException(
				    "no key and certificate " + alias);
			this.chain = Arrays.copyOf(c, c.length,
			    X509Certificate[].class);
		}

		private String pick(String[] types) {
			for (String t : types)
				if (t.equals(key.getAlgorithm()))
					return alias;
			return null;
		}

		@Override
		public String chooseClientAlias(String[] types,
		    Principal[] issuers, Socket s) {
			return pick(types);
		}

		@Override
		public String chooseEngineClientAlias(String[] types,
		    Principal[] issuers, SSLEngine e) {
			return pick(types);
		}

		@Override
		public String[] getClientAliases(String type,
		    Principal[] issuers) {
			return pick(new String[] {type}) == null
			    ? null : new String[] {alias};
		}

		@Override
		public X509Certificate[] getCertificateChain(String a) {
			return alias.equals(a) ? chain : null;
		}

		@Override
		public PrivateKey getPrivateKey(String a) {
			return alias.equals(a) ? key : null;
		}

		@Override
		public String chooseServerAlias(String type,
		    Principal[] issuers, Socket s) {
			return null;
		}

		@Override
		public String[] getServerAliases(String type,
		    Principal[] issuers) {
			return null;
		}
	}

	static SSLContext context(KeyStore ks, String alias, String caFile)
	    throws Exception {
		KeyStore trust = KeyStore.getInstance("PKCS12");
		trust.load(null, null);
		try (InputStream in = new FileInputStream(caFile)) {
			trust.setCertificateEntry("ca", CertificateFactory
			    .getInstance("X.509").generateCertificate(in));
		}
		TrustManagerFactory tmf = TrustManagerFactory.getInstance(
		    TrustManagerFactory.getDefaultAlgorithm());
		tmf.init(trust);
		SSLContext ctx = SSLContext.getInstance("TLS");
		ctx.init(new KeyManager[] {new OneKey(ks, alias)},
		    tmf.getTrustManagers(), null);
		return ctx;
	}

	/* One handshake and GET; returns what the server sent. */
	static byte[] fetch(SSLContext ctx, int port, String protocol)
	    throws Exception {
		try (SSLSocket s = (SSLSocket) ctx.getSocketFactory()
			 .createSocket("127.0.0.1", port)) {
			s.setSoTimeout(20000);
			s.setEnabledProtocols(new String[] {protocol});
			s.startHandshake();
			String got = s.getSession().getProtocol();
			if (!got.equals(protocol))
				throw new IllegalStateException(
				    "negotiated " + got);
			OutputStream out = s.getOutputStream();
			out.write("GET / HTTP/1.0\r\n\r\n".getBytes(
			    StandardCharsets.US_ASCII));
			out.flush();
			ByteArrayOutputStream page = new ByteArrayOutputStream();
			s.getInputStream().transferTo(page);
			return page.toByteArray();
		}
	}

	public static void main(String[] args) throws Exception {
		if (args.length < 5) {
			System.err.println("usage: java JsseClient.java CONFIG"
			    + " CAFILE PORT OUTDIR ALIAS:PROTOCOL...");
			System.exit(2);
		}
		Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
		Security.addProvider(p);
		KeyStore ks = KeyStore.getInstance("PKCS11", p);
		ks.load(null, null);
		int port = Integer.parseInt(args[2]), failed = 0;
		for (int i = 4; i < args.length; i++) {
			String[] c = args[i].split(":", 2);
			try {
				byte[] page = fetch(context(ks, c[0], args[1]),
				    port, c[1]);
				Files.write(Path.of(args[3], c[0] + "-" + c[1]
				    + ".page"), page);
				System.out.println("ok " + args[i]);
			} catch (Exception e) {
				failed++;
				System.out.println("FAILED " + args[i] + ": " + e);
				e.printStackTrace();
			}
		}
		System.exit(failed == 0 ? 0 : 1);
	}
}
