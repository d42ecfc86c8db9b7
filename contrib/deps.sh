# shellcheck shell=bash
#
# The Debian 12 packages p11agent needs to build and test, and a function
# that installs the missing ones.  Sourced by contrib/test.sh,
# contrib/demo.sh and .ci/run.

P11A_PACKAGES=(
	cmake gcc clang pkg-config # build
	libssl-dev libp11-kit-dev  # OpenSSL 3, p11-kit
	p11-kit softhsm2           # PKCS#11 modules and tools
	libcmocka-dev              # unit tests
	opensc gnutls-bin          # pkcs11-tool, p11tool, gnutls-serv
	python3                    # integration tests
	libclang-rt-14-dev         # sanitizer runtimes for clang
	scdoc                      # man pages (docs/man/*.scd)
	systemd                    # systemd-analyze verify of contrib/systemd
	openssh-server openssh-client # tests/ssh: forwarding over a real sshd
	zsh fish                   # tests/shell: the contrib/shell snippets
	libinih-dev                # the configuration file (agent/config.c)
	# tests/tpm: a TPM 2.0 (swtpm) with tpm2-pkcs11 (tests/tools/p11a-tpm)
	swtpm swtpm-tools libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-tools
	tpm2-abrmd libtss2-tcti-tabrmd0
	opencryptoki               # tests/opencryptoki: its soft token
	pinentry-curses            # tests/config: a real pinentry on a pty
	curl                       # tests/tls: a plain client through p11agent tunnel
	stunnel4 nginx             # tests/tls: programs that take keys only as files
	libp11-dev libengine-pkcs11-openssl libnss3-tools openvpn # tests/pkcs11: consumers of the module
	strace                     # tests/integration: the client never polls while it waits
	openjdk-17-jdk-headless    # tests/pkcs11: Java (SunPKCS11, keytool, JSSE)
	dpkg-dev debhelper fakeroot lintian # tests/package: the Debian packages
)

# Print the packages of P11A_PACKAGES that are not installed.
p11a_missing_packages() {
	local p
	for p in "${P11A_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || echo "$p"
	done
}

# Install what is missing (as root, or through sudo); nothing when all is
# there already.
p11a_install_deps() {
	local missing sudo=()
	command -v dpkg-query >/dev/null 2>&1 || {
		echo "not a Debian system: install the equivalents of" \
			"${P11A_PACKAGES[*]} by hand" >&2
		return 1
	}
	mapfile -t missing < <(p11a_missing_packages)
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "all needed packages are installed"
		return 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || {
			echo "missing packages ${missing[*]}: run as root or install sudo" >&2
			return 1
		}
		sudo=(sudo)
	fi
	echo "installing ${missing[*]}"
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y "${missing[@]}"
}
