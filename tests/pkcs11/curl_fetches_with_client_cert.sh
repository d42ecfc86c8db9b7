#!/usr/bin/env bash
# curl --engine pkcs11 --key-type ENG --key 'pkcs11:...' --cert ...
# fetches a page from a server that requires a client certificate, with
# an RSA and an ECDSA key held by the agent through the module; without
# the key the server refuses.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
p11m_need curl
# curl deadlocks in setlocale() with the ASan runtime preloaded, before
# it loads any engine or module: not testable in sanitizer builds
p11m_ext timeout 3 curl --version >/dev/null 2>&1 ||
	p11a_skip "curl does not run with the sanitizer runtime preloaded"
engines=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')
[[ -e $engines/pkcs11.so ]] || p11a_skip "libp11's pkcs11 engine not installed"

p11a_setup_dir
p11a_make_token tok 1234 k-rsa:rsa2048 k-ec:p384 k-ed:ed25519
export P11A_PIN=1234
p11a_start_agent --pin-source env:P11A_PIN
dir=$P11A_TMP/tok
p11m_server_cert "$dir"
export PKCS11_MODULE_PATH=$P11M_MODULE P11AGENT_PKCS11_FILTER=rsa,ec

# a page with content of its own, served by s_server -WWW from www/
mkdir "$P11A_TMP/www"
page=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
echo "page $page" >"$P11A_TMP/www/page.txt"
port=$(p11m_free_port)
(cd "$P11A_TMP/www" && exec openssl s_server -accept "127.0.0.1:$port" \
	-cert "$dir/srv.pem" -key "$dir/srv.key" -CAfile "$dir/ca.pem" \
	-Verify 1 -verify_return_error -WWW) </dev/null \
	>"$P11A_TMP/s_server.log" 2>&1 &
P11M_SERVER_PIDS+=($!)
trap p11m_cleanup EXIT
p11m_wait_port "$port" "$!"

url=https://localhost:$port/page.txt
for name in k-rsa k-ec; do
	before=$(p11m_agent_signs)
	p11a_expect_exit 0 p11m_ext curl --silent --show-error --fail \
		--resolve "localhost:$port:127.0.0.1" --cacert "$dir/ca.pem" \
		--engine pkcs11 --key-type ENG \
		--key "pkcs11:token=tok;object=$name;type=private" \
		--cert "$dir/$name.pem" "$url"
	[[ $P11A_OUTPUT == "page $page" ]] ||
		p11a_fail "$name: fetched '$P11A_OUTPUT', expected 'page $page'"
	[[ $(p11m_agent_signs) -gt $before ]] ||
		p11a_fail "$name: the agent made no signature"
done

# the server does insist on a client certificate
rc=0
curl --silent --fail --resolve "localhost:$port:127.0.0.1" \
	--cacert "$dir/ca.pem" "$url" >/dev/null 2>&1 || rc=$?
[[ $rc -ne 0 ]] || p11a_fail "the page was fetched without a client certificate"
echo ok
