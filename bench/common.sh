# shellcheck shell=bash
# common.sh - shell helpers shared by bench/run.sh and bench/fault-drill.sh,
# sourced after they set REPO, PG_CONFIG, DIR and INSTALL.

# die MESSAGE: prints MESSAGE as the calling script's error and exits 1.
die() {
	echo "$(basename "$0"): error: $*" >&2
	exit 1
}

# need_value OPTION [VALUE]: dies unless the option was given a value.
need_value() {
	[[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
}

# install_shardroute: unless INSTALL is 0, installs the packages and builds
# and installs shardroute; then sets PG_BINDIR, or dies without PostgreSQL.
install_shardroute() {
	if ((INSTALL)); then
		echo "==== installing packages and shardroute ===="
		bash "$REPO/test/scripts/install-deps.sh"
		make -C "$REPO" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
		make -C "$REPO" install PG_CONFIG="$PG_CONFIG" >/dev/null
	fi
	[[ -x $PG_CONFIG ]] || die "no $PG_CONFIG; install postgresql-server-dev-15 or drop --no-install"
	# shellcheck disable=SC2034 # used by the scripts that source this file
	PG_BINDIR=$("$PG_CONFIG" --bindir)
}

# as_pg COMMAND...: runs a command as the OS user that owns the servers.
as_pg() {
	if [[ $EUID -eq 0 ]]; then
		(cd "$DIR" && runuser -u postgres -- "$@")
	else
		(cd "$DIR" && "$@")
	fi
}
