# shellcheck shell=bash
# Shared by the tests/systemd scripts: copies of contrib/systemd's units
# whose ExecStart names the p11agentd under test instead of the install
# path, written to $P11A_TMP/units; with P11A_UNITS_INSTALLED, copies of
# the installed units from those directories.

# p11a_units_generate: fill $P11A_TMP/units.
p11a_units_generate() {
	local src=${P11A_UNIT_SRC:-} out=$P11A_TMP/units f
	mkdir -p "$out"
	# the installed units as they are (tests/package: "DIR DIR")
	if [[ -n ${P11A_UNITS_INSTALLED:-} ]]; then
		for f in $P11A_UNITS_INSTALLED; do
			cp "$f"/p11agent*.socket "$f"/p11agent*.service "$out/"
		done
		return 0
	fi
	[[ -n $src ]] || p11a_fail "P11A_UNIT_SRC is not set"
	cp "$src"/*.socket "$out/"
	for f in "$src"/*.service.in; do
		f=${f##*/}
		sed -e "s|@P11A_BINDIR@|$(dirname "$P11AGENTD")|g" \
			-e "s|@P11A_SYSCONFDIR@|/etc|g" "$src/$f" \
			>"$out/${f%.in}"
	done
	# the build names the binary p11agentd too; say so if that changes
	[[ $(basename "$P11AGENTD") == p11agentd ]] ||
		p11a_fail "P11AGENTD is not named p11agentd: $P11AGENTD"
}

# p11a_unit_value FILE KEY: the value of KEY= in a unit file.
p11a_unit_value() {
	sed -n "s/^$2=//p" "$1"
}
