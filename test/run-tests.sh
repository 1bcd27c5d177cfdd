#!/usr/bin/env bash
# run-tests.sh - the test command: install the packages, build and install
# shardroute, start a fresh local cluster (coordinator on port 55432, shards on
# 55433..55435) and run every suite against it:
#   regress  make installcheck (pg_regress, sql/ and expected/)
#   pgtap    pg_prove over test/pgtap/*.sql in database shardroute_tap
#   tap      multi-node TAP tests test/t/*.pl (PostgreSQL::Test::Cluster)
#   k8s      test/k8s/run.sh
# A failing suite does not stop the others. The last line reads "N passed,
# M failed" and the exit status is non-zero when anything failed.
#
# Usage: test/run-tests.sh [--keep] [DIR]
#   DIR     cluster directory, deleted first (default /tmp/shardroute-test)
#   --keep  leave the cluster running afterwards
# Meant to run as root on Debian 12; servers and TAP tests run as the postgres
# OS user. SHARDROUTE_TEST_PORT moves the cluster to other ports.

# The step functions are called through run_step.
# shellcheck disable=SC2317
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PORT=${SHARDROUTE_TEST_PORT:-55432}
export SHARDROUTE_SHARD_PASSWORD=${SHARDROUTE_SHARD_PASSWORD:-trading_password}

KEEP=0
DIR=/tmp/shardroute-test
while (($#)); do
	case $1 in
	--keep) KEEP=1 ;;
	-h | --help)
		sed -n '/^# Usage:/,/^# OS user/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	-*)
		echo "run-tests.sh: error: unknown option $1" >&2
		exit 2
		;;
	*) DIR=$1 ;;
	esac
	shift
done
DIR=$(realpath -m -- "$DIR")
CLUSTER=(bash "$REPO/test/scripts/cluster.sh")

# Runs a command as the postgres OS user when called as root.
as_postgres() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Copies the work tree to $1 and hands the copy to the postgres OS user.
stage_copy() {
	rm -rf "$1"
	mkdir -p "$1"
	cp -a "$REPO/." "$1/"
	chown -R postgres: "$1"
}

bash "$REPO/test/scripts/install-deps.sh"
PG_BINDIR=$("$PG_CONFIG" --bindir)

# The servers read test files and the TAP tests write next to them, so the work
# tree must be open to the postgres OS user; if it is not, run from a copy.
if [[ $EUID -eq 0 && -z ${SHARDROUTE_STAGED:-} ]] && ! as_postgres test -r "$REPO/test/run-tests.sh"; then
	echo "run-tests.sh: the postgres OS user cannot read $REPO; running from a copy in $DIR-src"
	stage_copy "$DIR-src"
	args=("$DIR")
	((KEEP)) && args+=(--keep)
	SHARDROUTE_STAGED=1 exec bash "$DIR-src/test/run-tests.sh" "${args[@]}"
fi

STEP_NAMES=()
STEP_RESULTS=()
STARTED=0

# Runs one step and records PASS, FAIL, or SKIP when the step returns 77.
# Steps run with errexit suspended, so each one checks its own commands.
run_step() {
	local name=$1 rc=0
	shift
	echo
	echo "==== $name ===="
	"$@" || rc=$?
	STEP_NAMES+=("$name")
	case $rc in
	0) STEP_RESULTS+=(PASS) ;;
	77) STEP_RESULTS+=(SKIP) ;;
	*) STEP_RESULTS+=(FAIL) ;;
	esac
	return 0
}

last_failed() {
	[[ ${STEP_RESULTS[-1]} == FAIL ]]
}

stop_cluster() {
	if ((STARTED && !KEEP)); then
		"${CLUSTER[@]}" stop "$DIR" >/dev/null || true
	fi
	STARTED=0
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

# Stops the cluster, shows server logs after a failure, prints the summary and
# exits.
finish() {
	local i passed=0 failed=0 log
	for i in "${!STEP_RESULTS[@]}"; do
		case ${STEP_RESULTS[i]} in
		PASS) passed=$((passed + 1)) ;;
		FAIL) failed=$((failed + 1)) ;;
		esac
	done
	if ((failed > 0)); then
		for log in "$DIR"/*/*.log; do
			[[ -f $log ]] || continue
			echo
			echo "---- last lines of $log ----"
			tail -n 30 "$log"
		done
	fi
	if ((KEEP && STARTED)) && "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres; then
		echo
		echo "The cluster is still running. Connect with:"
		echo "  eval \"\$(bash $REPO/test/scripts/cluster.sh env $DIR)\"; psql -U postgres trading_db"
		echo "Stop it with: bash $REPO/test/scripts/cluster.sh stop $DIR"
	fi
	stop_cluster
	echo
	echo "==== summary ===="
	for i in "${!STEP_NAMES[@]}"; do
		printf '  %-10s %s\n' "${STEP_NAMES[i]}" "${STEP_RESULTS[i]}"
	done
	echo "$passed passed, $failed failed"
	((failed == 0)) && exit 0
	exit 1
}

step_build() {
	make -C "$REPO" clean PG_CONFIG="$PG_CONFIG" &&
		make -C "$REPO" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" &&
		make -C "$REPO" install PG_CONFIG="$PG_CONFIG"
}

step_cluster() {
	local i
	"${CLUSTER[@]}" destroy "$DIR" || return 1
	STARTED=1
	SHARDROUTE_FAST_UNSAFE=1 "${CLUSTER[@]}" start "$DIR" --port "$PORT" || return 1
	eval "$("${CLUSTER[@]}" env "$DIR")" || return 1
	export PGUSER=postgres
	# Shard-side databases for the suites: pg_regress uses contrib_regression on
	# the coordinator, pgTAP uses shardroute_tap.
	for ((i = 0; i < SHARDROUTE_SHARDS; i++)); do
		"${CLUSTER[@]}" psql "$DIR" "shard-$i" -X -q -v ON_ERROR_STOP=1 -d postgres \
			-c 'SET client_min_messages = warning' \
			-c 'DROP DATABASE IF EXISTS contrib_regression WITH (FORCE)' \
			-c 'CREATE DATABASE contrib_regression OWNER trading_user' \
			-c 'DROP DATABASE IF EXISTS shardroute_tap WITH (FORCE)' \
			-c 'CREATE DATABASE shardroute_tap OWNER trading_user' || return 1
	done
	echo "environment: $("${CLUSTER[@]}" env "$DIR") PGUSER=postgres"
}

step_regress() {
	# TAP_TESTS is cleared so that installcheck runs pg_regress only; the TAP
	# tests get their own step, run as the postgres OS user.
	if make -C "$REPO" installcheck PG_CONFIG="$PG_CONFIG" TAP_TESTS=; then
		return 0
	fi
	if [[ -f $REPO/regression.diffs ]]; then
		echo "---- $REPO/regression.diffs ----"
		cat "$REPO/regression.diffs"
	fi
	return 1
}

step_pgtap() {
	local files
	files=$(cd "$REPO" && compgen -G 'test/pgtap/*.sql' | sort) || true
	if [[ -z $files ]]; then
		echo "no pgTAP tests in test/pgtap; skipped"
		return 77
	fi
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c 'SET client_min_messages = warning' \
		-c 'DROP DATABASE IF EXISTS shardroute_tap WITH (FORCE)' \
		-c 'CREATE DATABASE shardroute_tap' || return 1
	# shellcheck disable=SC2086 # one file name per line, none with spaces
	(cd "$REPO" && pg_prove --psql-bin "$PG_BINDIR/psql" -h 127.0.0.1 -p "$PGPORT" \
		-U postgres -d shardroute_tap $files)
}

step_tap() {
	local src=$REPO log
	local -a target
	if ! grep -Eq '^[[:space:]]*TAP_TESTS[[:space:]]*[:?+]?=' "$REPO/Makefile" 2>/dev/null ||
		! compgen -G "$REPO/test/t/*.pl" >/dev/null; then
		echo "no TAP_TESTS in the Makefile or no test/t/*.pl; skipped"
		return 77
	fi
	# PostgreSQL::Test::Cluster runs initdb, which refuses root, and writes
	# tmp_check next to the Makefile.
	if [[ $EUID -eq 0 ]] && ! as_postgres test -w "$REPO"; then
		src=$DIR-tap
		echo "copying the work tree to $src, where the postgres OS user can write"
		stage_copy "$src" || return 1
	fi
	if grep -Eq '^prove_installcheck[[:space:]]*:' "$src/Makefile"; then
		target=(prove_installcheck)
	else
		target=(installcheck REGRESS= ISOLATION=)
	fi
	if as_postgres make -C "$src" PG_CONFIG="$PG_CONFIG" "${target[@]}"; then
		return 0
	fi
	for log in "$src"/tmp_check/log/regress_log_*; do
		[[ -f $log ]] || continue
		echo "---- last lines of $log ----"
		tail -n 60 "$log"
	done
	return 1
}

step_k8s() {
	if [[ ! -f $REPO/test/k8s/run.sh ]]; then
		echo "no test/k8s/run.sh; skipped"
		return 77
	fi
	(cd "$REPO" && bash test/k8s/run.sh)
}

run_step build step_build
last_failed && finish
run_step cluster step_cluster
last_failed && finish
run_step regress step_regress
run_step pgtap step_pgtap
run_step tap step_tap
run_step k8s step_k8s
finish
