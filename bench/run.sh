#!/usr/bin/env bash
# run.sh - throughput, latency and CPU benchmark of shardroute against a single
# PostgreSQL server and against native hash partitioning over postgres_fdw.
#
# Targets, each started fresh on 127.0.0.1, loaded, measured and stopped:
#   shardroute  test/scripts/cluster.sh: a coordinator preloading shardroute and
#               3 shards; the trading schema distributed by user_id
#   direct      one PostgreSQL instance with the same schema, not distributed
#   native-fdw  a coordinator whose tables are PARTITION BY HASH (user_id) with
#               3 postgres_fdw foreign partitions on 3 shard instances
# Every instance uses the settings of cluster.sh (fsync and synchronous_commit
# on). U users are loaded with one AAPL position each, then pgbench runs
# insert_order.sql, place_order.sql and user_orders.sql with N clients for S
# seconds each, and insert_order.sql with 1 client for min(S, 20) seconds.
# With --target all, the direct server also runs insert_order at the rate one
# shard saw under shardroute (pgbench -R), to show what an insert costs a
# server at that load.
#
# Per run it reports tps, average and p99 latency from pgbench's
# per-transaction log, failed transactions, aborted clients, and the CPU
# seconds per 1,000 transactions of the coordinator and of each shard (from
# /proc: the postmaster and its children, plus the children that exited,
# which the postmaster's cutime/cstime account for), and how much of it was
# spent in the kernel. With --target all it adds shardroute/direct ratios
# and a projection of orders/s for 1, 3, 6 and 10 shards on separate
# machines of this size. The summary is printed and written to
# DIR/results.txt.
#
# Usage: bench/run.sh [--target shardroute|direct|native-fdw|all] [--clients N]
#                     [--duration S] [--users U] [--dir D] [--port P] [--no-install]
#   --target    what to measure (default all)
#   --clients   pgbench clients (default 40)
#   --duration  seconds per pgbench run (default 60)
#   --users     users loaded, each with one position (default 100000)
#   --dir       working directory, recreated by each run (default /tmp/shardroute-bench)
#   --port      base port (default 26500; below the kernel's ephemeral ports, which the
#               benchmark's own connections use): shardroute P .. P+3, direct P+10,
#               native-fdw P+20 .. P+23
#   --no-install  skip test/scripts/install-deps.sh and make install
# Meant to run as root on Debian 12; the servers run as the postgres OS user.
# Exits non-zero when something could not run (a server, a load, a pgbench run
# with aborted clients); the numbers themselves never fail it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CLUSTER=(bash "$REPO/test/scripts/cluster.sh")
SHARD_PASSWORD=trading_password
SHARD_COUNT=3
SCRIPTS=(insert_order place_order user_orders)

CLIENTS=40
DURATION=60
TARGET=all
USERS=100000
DIR=/tmp/shardroute-bench
PORT=26500
INSTALL=1

# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"

while (($#)); do
	case $1 in
	--clients) need_value "$@"; CLIENTS=$2; shift 2 ;;
	--duration) need_value "$@"; DURATION=$2; shift 2 ;;
	--target) need_value "$@"; TARGET=$2; shift 2 ;;
	--users) need_value "$@"; USERS=$2; shift 2 ;;
	--dir) need_value "$@"; DIR=$2; shift 2 ;;
	--port) need_value "$@"; PORT=$2; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	-h | --help)
		sed -n '/^# Usage:/,/^# Meant/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed '$d'
		exit 0
		;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
for v in CLIENTS DURATION USERS PORT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer"
done
((PORT >= 1024 && PORT + 23 <= 65535)) || die "--port must leave P .. P+23 between 1024 and 65535"
((PORT > 5432 || PORT + 23 < 5432)) || die "--port must keep the ports clear of 5432"
case $TARGET in
shardroute | direct | native-fdw) TARGETS=("$TARGET") ;;
all) TARGETS=(shardroute direct native-fdw) ;;
*) die "--target must be shardroute, direct, native-fdw or all" ;;
esac
DIR=$(realpath -m -- "$DIR")
[[ $DIR != / && $DIR != *"'"* ]] || die "--dir must not be / or contain a single quote"

CORES=$(nproc)
THREADS=$((CLIENTS < CORES ? CLIENTS : CORES))
SOLO_DURATION=$((DURATION < 20 ? DURATION : 20))

# ---------------------------------------------------------------- setup ----

install_shardroute
CLK_TCK=$(getconf CLK_TCK)


# The working directory belongs to the benchmark: a marker file says so, and
# a directory without it is never deleted.
if [[ -e $DIR ]]; then
	[[ -f $DIR/.shardroute-bench || -z $(ls -A "$DIR") ]] ||
		die "$DIR is not empty and was not made by run.sh; choose another --dir"
	[[ -f $DIR/shardroute/cluster.env ]] && "${CLUSTER[@]}" destroy "$DIR/shardroute" >/dev/null
	for datadir in "$DIR"/*/*/; do
		[[ -f $datadir/postmaster.pid ]] &&
			{ as_pg "$PG_BINDIR/pg_ctl" stop -D "$datadir" -m fast -w >/dev/null 2>&1 || true; }
	done
	rm -rf "$DIR"
fi
mkdir -p "$DIR/logs"
touch "$DIR/.shardroute-bench"
if [[ $EUID -eq 0 ]]; then
	id postgres >/dev/null 2>&1 || die "there is no postgres OS user; install postgresql-15 first"
	chown postgres: "$DIR"
fi

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Runs SQL as superuser postgres over TCP on an instance that trusts it.
sql_tcp() {
	local port=$1
	shift
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d trading_db "$@"
}

# Runs SQL as superuser postgres through an instance's Unix socket
# (its socket directory is its data directory).
sql_socket() {
	local datadir=$1 port=$2 db=$3
	shift 3
	as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$datadir" -p "$port" -U postgres -d "$db" "$@"
}

# Runs SQL on a shard's trading_db as trading_user over TCP.
sql_shard() {
	local port=$1
	shift
	PGPASSWORD=$SHARD_PASSWORD "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
		-U trading_user -d trading_db "$@"
}

# The trading schema without the distribute_table calls.
plain_schema() {
	grep -v 'shardroute\.distribute_table' "$REPO/test/data/trading-schema.sql"
}

# Instances started by this script, stopped on exit: data directories of the
# ones it initialised itself, and the cluster.sh cluster.
OWN_INSTANCES=()
CLUSTER_DIR=""
BACKGROUND_PIDS=()

stop_all() {
	local pid datadir
	for pid in "${BACKGROUND_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	BACKGROUND_PIDS=()
	for datadir in "${OWN_INSTANCES[@]}"; do
		if [[ -f $datadir/postmaster.pid ]]; then
			as_pg "$PG_BINDIR/pg_ctl" stop -D "$datadir" -m fast -w >/dev/null 2>&1 ||
				echo "run.sh: could not stop the instance in $datadir" >&2
		fi
	done
	OWN_INSTANCES=()
	if [[ -n $CLUSTER_DIR ]]; then
		"${CLUSTER[@]}" stop "$CLUSTER_DIR" >/dev/null || echo "run.sh: could not stop $CLUSTER_DIR" >&2
		CLUSTER_DIR=""
	fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Initialises and starts an instance with the settings cluster.sh gives its
# instances. KIND "server" trusts postgres over TCP and has trading_db;
# KIND "shard" has trading_db owned by trading_user, who logs in with a password.
start_instance() {
	local name=$1 datadir=$2 port=$3 kind=$4
	port_in_use "$port" && die "port $port is taken by another process; use another --port"
	echo "initialising and starting $name on 127.0.0.1:$port"
	as_pg mkdir -p "$(dirname "$datadir")"
	as_pg "$PG_BINDIR/initdb" -D "$datadir" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
		-E UTF8 --locale=C --no-sync >"$DIR/logs/$name.initdb.log" 2>&1 ||
		{ cat "$DIR/logs/$name.initdb.log" >&2; die "initdb failed for $name"; }
	local method=scram-sha-256
	[[ $kind == server ]] && method=trust
	as_pg tee -a "$datadir/postgresql.conf" >/dev/null <<EOF

# Settings of the shardroute benchmark (bench/run.sh), as cluster.sh sets them
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$datadir'
max_connections = 200
max_prepared_transactions = 200
logging_collector = off
EOF
	as_pg tee "$datadir/pg_hba.conf" >/dev/null <<EOF
# Client authentication of the $name instance of the shardroute benchmark.
local   all          all                  trust
host    all          all   127.0.0.1/32   $method
EOF
	OWN_INSTANCES+=("$datadir")
	as_pg "$PG_BINDIR/pg_ctl" start -D "$datadir" -l "$datadir/$name.log" -w -t 60 >/dev/null ||
		{ tail -n 20 "$datadir/$name.log" >&2; die "could not start $name"; }
	if [[ $kind == shard ]]; then
		sql_socket "$datadir" "$port" postgres -v pw="$SHARD_PASSWORD" <<'SQL'
CREATE ROLE trading_user LOGIN PASSWORD :'pw';
CREATE DATABASE trading_db OWNER trading_user;
SQL
	else
		sql_socket "$datadir" "$port" postgres -c 'CREATE DATABASE trading_db'
	fi
}

# ------------------------------------------------------------ targets ----
# Each set_up_* function starts a target, loads it and sets:
#   COORD_PORT   port pgbench connects to
#   COORD_DIR    data directory of the instance pgbench talks to
#   SHARD_DIRS   data directories of the shards (empty for direct)
#   SHARD_PORTS  their ports

set_up_shardroute() {
	CLUSTER_DIR=$DIR/shardroute
	"${CLUSTER[@]}" start "$CLUSTER_DIR" --shards "$SHARD_COUNT" --port "$PORT"
	COORD_PORT=$PORT
	COORD_DIR=$CLUSTER_DIR/coordinator
	SHARD_DIRS=() SHARD_PORTS=()
	local i
	for ((i = 0; i < SHARD_COUNT; i++)); do
		SHARD_DIRS+=("$CLUSTER_DIR/shard-$i")
		SHARD_PORTS+=($((PORT + 1 + i)))
	done
	echo "creating shardroute, registering $SHARD_COUNT shards, loading the trading schema"
	sql_tcp "$COORD_PORT" -c 'CREATE EXTENSION shardroute CASCADE'
	for i in "${!SHARD_PORTS[@]}"; do
		sql_tcp "$COORD_PORT" -At \
			-c "SELECT shardroute.add_shard('postgresql://trading_user:$SHARD_PASSWORD@127.0.0.1:${SHARD_PORTS[i]}/trading_db')" \
			>/dev/null
	done
	sql_tcp "$COORD_PORT" -f "$REPO/test/data/trading-schema.sql" >/dev/null
	echo "loading $USERS users and their positions through the coordinator"
	sql_tcp "$COORD_PORT" -v users="$USERS" -f "$BENCH/load.sql"
}

set_up_direct() {
	COORD_PORT=$((PORT + 10))
	COORD_DIR=$DIR/direct/server
	SHARD_DIRS=() SHARD_PORTS=()
	start_instance direct "$COORD_DIR" "$COORD_PORT" server
	echo "loading the trading schema and $USERS users with their positions"
	plain_schema | sql_tcp "$COORD_PORT" >/dev/null
	sql_tcp "$COORD_PORT" -v users="$USERS" -f "$BENCH/load.sql"
}

set_up_native_fdw() {
	COORD_PORT=$((PORT + 20))
	COORD_DIR=$DIR/native-fdw/coordinator
	SHARD_DIRS=() SHARD_PORTS=()
	start_instance native-fdw-coordinator "$COORD_DIR" "$COORD_PORT" server
	local i
	for ((i = 0; i < SHARD_COUNT; i++)); do
		SHARD_DIRS+=("$DIR/native-fdw/shard-$i")
		SHARD_PORTS+=($((PORT + 21 + i)))
		start_instance "native-fdw-shard-$i" "${SHARD_DIRS[i]}" "${SHARD_PORTS[i]}" shard
		plain_schema | sql_shard "${SHARD_PORTS[i]}" >/dev/null
	done
	echo "creating the partitioned tables with postgres_fdw partitions"
	sql_tcp "$COORD_PORT" -v password="$SHARD_PASSWORD" -v port0="${SHARD_PORTS[0]}" \
		-v port1="${SHARD_PORTS[1]}" -v port2="${SHARD_PORTS[2]}" \
		-f "$BENCH/native-fdw-coordinator.sql" >/dev/null
	echo "loading $USERS users and their positions through the coordinator"
	# batch_size only for the load; the measured runs use postgres_fdw's defaults
	for ((i = 0; i < SHARD_COUNT; i++)); do
		sql_tcp "$COORD_PORT" -c "ALTER SERVER shard_$i OPTIONS (ADD batch_size '1000')"
	done
	sql_tcp "$COORD_PORT" -v users="$USERS" -f "$BENCH/load.sql"
	for ((i = 0; i < SHARD_COUNT; i++)); do
		sql_tcp "$COORD_PORT" -c "ALTER SERVER shard_$i OPTIONS (DROP batch_size)"
	done
}

# Analyses the loaded tables where they are stored (the shards, or the single
# server), so that the planners know their sizes.
settle() {
	local i
	if ((${#SHARD_DIRS[@]})); then
		for i in "${!SHARD_DIRS[@]}"; do
			sql_socket "${SHARD_DIRS[i]}" "${SHARD_PORTS[i]}" trading_db -c 'VACUUM ANALYZE'
		done
	else
		sql_tcp "$COORD_PORT" -c 'VACUUM ANALYZE'
	fi
}

# Checkpoints every instance of the target, so that no run pays for the
# dirty buffers of the one before.
checkpoint_all() {
	local i
	sql_tcp "$COORD_PORT" -c CHECKPOINT
	for i in "${!SHARD_DIRS[@]}"; do
		sql_socket "${SHARD_DIRS[i]}" "${SHARD_PORTS[i]}" trading_db -c CHECKPOINT
	done
}

# ---------------------------------------------------------- measuring ----

postmaster_pid() {
	head -n 1 "$1/postmaster.pid"
}

# Prints one line per postmaster pid given: "pid user system", the CPU clock
# ticks in user and in system mode of the postmaster, of its live children and
# of its children that exited (the postmaster's cutime and cstime, since it
# waits for each).
cpu_ticks() {
	local -A user=() system=()
	local pm f line rest
	local -a fields
	for pm in "$@"; do
		user[$pm]=0 system[$pm]=0
	done
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		rest=${line##*) }
		read -ra fields <<<"$rest"
		# fields[0] is field 3 of proc(5): ppid = [1], utime = [11], stime = [12],
		# cutime = [13], cstime = [14]
		pm=${f#/proc/}
		pm=${pm%/stat}
		if [[ -n ${user[$pm]+x} ]]; then
			user[$pm]=$((user[$pm] + fields[11] + fields[13]))
			system[$pm]=$((system[$pm] + fields[12] + fields[14]))
		elif [[ -n ${user[${fields[1]}]+x} ]]; then
			user[${fields[1]}]=$((user[${fields[1]}] + fields[11]))
			system[${fields[1]}]=$((system[${fields[1]}] + fields[12]))
		fi
	done
	for pm in "$@"; do
		echo "$pm ${user[$pm]} ${system[$pm]}"
	done
}

# Counts the sessions in trading_db on each shard, as "n0/n1/n2".
shard_connections() {
	local i n out=""
	for i in "${!SHARD_DIRS[@]}"; do
		n=$(sql_socket "${SHARD_DIRS[i]}" "${SHARD_PORTS[i]}" postgres -At \
			-c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'trading_db'" 2>/dev/null || echo '?')
		out+=${out:+/}$n
	done
	echo "$out"
}

# Results, keyed "target:run".
declare -A TPS AVG P99 FAILED ABORTED NTX COORD_CPU COORD_SYS SHARD_CPU SHARD_CPU_SUM SHARD_SYS_SUM \
	CONNECTIONS STORED
RUN_ERRORS=0

# Runs one pgbench measurement: run_bench TARGET RUN SCRIPT CLIENTS SECONDS [RATE],
# RATE being a fixed rate of transactions per second (pgbench -R).
run_bench() {
	local target=$1 run=$2 script=$3 clients=$4 seconds=$5 rate=${6:-}
	local key=$target:$run prefix=$DIR/logs/$target.$run
	local threads=$((clients < CORES ? clients : CORES))
	local -a pms before after
	local i rc=0 sampler=""

	pms=("$(postmaster_pid "$COORD_DIR")")
	for i in "${!SHARD_DIRS[@]}"; do
		pms+=("$(postmaster_pid "${SHARD_DIRS[i]}")")
	done
	rm -f "$prefix".log.*
	checkpoint_all

	if [[ $run == insert_order && ${#SHARD_DIRS[@]} -gt 0 ]]; then
		(sleep $(((seconds + 1) / 2)) && shard_connections >"$prefix.connections") &
		sampler=$!
		BACKGROUND_PIDS+=("$sampler")
	fi

	echo "running $target $run for $seconds s ($clients clients, $threads threads${rate:+, $rate tx/s})"
	mapfile -t before < <(cpu_ticks "${pms[@]}")
	"$PG_BINDIR/pgbench" -n -M prepared -c "$clients" -j "$threads" -T "$seconds" -P 5 ${rate:+-R "$rate"} \
		-l --log-prefix="$prefix.log" -D users="$USERS" -f "$BENCH/$script.sql" \
		-h 127.0.0.1 -p "$COORD_PORT" -U postgres trading_db \
		>"$prefix.out" 2> >(tee "$prefix.err" | grep --line-buffered "^progress" >&2) || rc=$?
	wait $! 2>/dev/null || true
	# let the backends of pgbench's sessions (and the shard sessions they
	# held) exit and be reaped, so the postmasters account for them
	sleep 1
	mapfile -t after < <(cpu_ticks "${pms[@]}")

	if [[ -n $sampler ]]; then
		wait "$sampler" 2>/dev/null || true
		BACKGROUND_PIDS=()
		CONNECTIONS[$target]=$(cat "$prefix.connections" 2>/dev/null || echo '?')
	fi

	ABORTED[$key]=$(grep -cE 'client [0-9]+ (script [0-9]+ )?aborted' "$prefix.err" || true)
	if ((rc != 0)); then
		RUN_ERRORS=$((RUN_ERRORS + 1))
		echo "run.sh: pgbench exited with status $rc for $target $run; first errors:" >&2
		grep -vE '^progress|^pgbench \(' "$prefix.err" | head -n 5 >&2 || true
	fi
	NTX[$key]=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$prefix.out")
	NTX[$key]=${NTX[$key]:-0}
	TPS[$key]=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$prefix.out")
	TPS[$key]=${TPS[$key]:-0}
	FAILED[$key]=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$prefix.out")
	FAILED[$key]=${FAILED[$key]:-0}

	# latency in µs is column 3 of the per-transaction log; "failed" marks a failure
	local stats
	stats=$(cat "$prefix".log.* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n |
		awk '{ v[NR] = $1; s += $1 }
		     END { if (NR == 0) { print "- -"; exit }
		           k = int(NR * 0.99); if (k < NR * 0.99) k++; if (k < 1) k = 1
		           printf "%.3f %.3f\n", s / NR / 1000, v[k] / 1000 }')
	AVG[$key]=${stats% *}
	P99[$key]=${stats#* }

	# CPU seconds per 1,000 transactions, per instance: in all, and in system mode
	local ntx=${NTX[$key]} per=() sys=() pid bu bs au as
	for i in "${!pms[@]}"; do
		read -r pid bu bs <<<"${before[i]}"
		read -r pid au as <<<"${after[i]}"
		per+=("$(per_thousand $((au + as - bu - bs)) "$ntx")")
		sys+=("$(per_thousand $((as - bs)) "$ntx")")
	done
	COORD_CPU[$key]=${per[0]}
	COORD_SYS[$key]=${sys[0]}
	SHARD_CPU[$key]=""
	for ((i = 0; i < SHARD_COUNT; i++)); do
		SHARD_CPU[$key]+=$(printf ' %8s' "${per[i + 1]:--}")
	done
	SHARD_CPU_SUM[$key]=$(sum_values "${per[@]:1}")
	SHARD_SYS_SUM[$key]=$(sum_values "${sys[@]:1}")

	printf '  %s %s: %s tps, avg %s ms, p99 %s ms, %s failed, %s aborted clients\n' \
		"$target" "$run" "${TPS[$key]}" "${AVG[$key]}" "${P99[$key]}" "${FAILED[$key]}" "${ABORTED[$key]}"
}

# per_thousand TICKS N: CPU seconds per 1,000 transactions of TICKS clock ticks
# over N transactions.
per_thousand() {
	awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.4f", t / hz / n * 1000; else print "-" }'
}

# sum_values V...: the sum of the values that are not "-", or "-" if none is.
sum_values() {
	printf '%s\n' "$@" | awk '$1 != "-" { s += $1; n++ } END { if (n) printf "%.4f", s; else print "-" }'
}

# Compares what the runs committed with what is stored where the rows live
# (the shards, or the single server): orders inserted, and the AAPL quantity
# added to positions by place_order (each position was loaded with 100).
count_stored() {
	local target=$1 i orders=0 added=0 row o a
	local committed=$((${NTX[$target:insert_order]} + ${NTX[$target:place_order]} + ${NTX[$target:insert_1client]} +
		${NTX[$target:insert_shard_rate]:-0}))
	local query="SELECT (SELECT count(*) FROM orders), (SELECT coalesce(sum(quantity - 100), 0)::bigint FROM positions)"
	if ((${#SHARD_DIRS[@]})); then
		for i in "${!SHARD_DIRS[@]}"; do
			row=$(sql_socket "${SHARD_DIRS[i]}" "${SHARD_PORTS[i]}" trading_db -At -F ' ' -c "$query")
			read -r o a <<<"$row"
			orders=$((orders + o)) added=$((added + a))
		done
	else
		row=$(sql_tcp "$COORD_PORT" -At -F ' ' -c "$query")
		read -r orders added <<<"$row"
	fi
	STORED[$target]="orders stored $orders of $committed committed; positions +$added of ${NTX[$target:place_order]} place_order commits"
	echo "  $target: ${STORED[$target]}"
}

# ------------------------------------------------------------- report ----

PG_VERSION=$("$PG_BINDIR/postgres" --version)
MACHINE="machine: $(uname -m), $CORES CPUs, $PG_VERSION, CLK_TCK $CLK_TCK"
echo "$MACHINE"
echo "clients $CLIENTS ($THREADS pgbench threads), $DURATION s per run, 1-client runs $SOLO_DURATION s, $USERS users"

for target in "${TARGETS[@]}"; do
	echo
	echo "==== $target ===="
	"set_up_${target//-/_}"
	settle
	for script in "${SCRIPTS[@]}"; do
		run_bench "$target" "$script" "$script" "$CLIENTS" "$DURATION"
	done
	run_bench "$target" insert_1client insert_order 1 "$SOLO_DURATION"
	# a single server at the rate one shard sees under shardroute: what an
	# insert costs a server at that load, whoever sends it
	if [[ $target == direct && -n ${TPS[shardroute:insert_order]+x} ]]; then
		SHARD_RATE=$(awk -v t="${TPS[shardroute:insert_order]}" -v n="$SHARD_COUNT" 'BEGIN { printf "%d", t / n }')
		if ((SHARD_RATE > 0)); then
			run_bench direct insert_shard_rate insert_order "$CLIENTS" "$SOLO_DURATION" "$SHARD_RATE"
		fi
	fi
	count_stored "$target"
	stop_all
done

fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "" || x == "-") print "-"; else printf f, x }'; }
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

report() {
	echo "$MACHINE"
	echo "clients $CLIENTS, pgbench -M prepared -j $THREADS, $DURATION s per run; 1-client insert runs $SOLO_DURATION s; $USERS users"
	echo
	echo "tps counts transactions; insert_order and place_order insert one order each, so tps = orders/s."
	echo "coordinator, shard N: CPU seconds per 1,000 transactions (= CPU ms per transaction) of that"
	echo "instance's postmaster and children; for direct, coordinator is the single server. pgbench's"
	echo "own CPU is not counted. failed: pgbench's failed transactions; aborted: clients that gave up."
	echo
	local shard_header="" i
	for ((i = 0; i < SHARD_COUNT; i++)); do
		shard_header+=$(printf ' %8s' "shard $i")
	done
	printf '%-11s %-17s %7s %10s %9s %9s %7s %8s %10s%s\n' \
		target run clients tps "avg ms" "p99 ms" failed aborted coordinator "$shard_header"
	local target run key clients
	for target in "${TARGETS[@]}"; do
		for run in "${SCRIPTS[@]}" insert_1client insert_shard_rate; do
			key=$target:$run
			[[ -n ${NTX[$key]+x} ]] || continue
			clients=$CLIENTS
			[[ $run == insert_1client ]] && clients=1
			printf '%-11s %-17s %7s %10s %9s %9s %7s %8s %10s%s\n' \
				"$target" "$run" "$clients" "$(fmt "${TPS[$key]}" %.1f)" "${AVG[$key]}" "${P99[$key]}" \
				"${FAILED[$key]}" "${ABORTED[$key]}" "${COORD_CPU[$key]}" "${SHARD_CPU[$key]}"
		done
	done
	echo
	for target in "${TARGETS[@]}"; do
		printf '%-11s %s\n' "$target" "${STORED[$target]}"
	done

	local t
	for t in shardroute native-fdw; do
		[[ -n ${CONNECTIONS[$t]+x} ]] &&
			printf 'connections per shard (%s, trading_db sessions on shard 0/1/2 midway through insert_order, %s clients): %s\n' \
				"$t" "$CLIENTS" "${CONNECTIONS[$t]}"
	done

	if [[ $TARGET == all ]]; then
		echo
		echo "shardroute / direct:"
		for run in "${SCRIPTS[@]}"; do
			printf '  %-32s %s\n' "$run tps ratio" "$(ratio "${TPS[shardroute:$run]}" "${TPS[direct:$run]}")"
		done
		printf '  %-32s %s\n' "1-client insert latency diff" \
			"$(awk -v a="${AVG[shardroute:insert_1client]}" -v b="${AVG[direct:insert_1client]}" \
				'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+.3f ms (%.3f vs %.3f)", a - b, a, b }')"
		echo
		echo "insert_order, coordinator CPU / shard CPU per statement (shard CPU summed over shards; each statement runs on one shard):"
		for t in shardroute native-fdw; do
			printf '  %-11s %s (coordinator %s ms, of which %s in the kernel; shards %s ms, of which %s in the kernel)\n' "$t" \
				"$(ratio "${COORD_CPU[$t:insert_order]}" "${SHARD_CPU_SUM[$t:insert_order]}")" \
				"${COORD_CPU[$t:insert_order]}" "${COORD_SYS[$t:insert_order]}" \
				"${SHARD_CPU_SUM[$t:insert_order]}" "${SHARD_SYS_SUM[$t:insert_order]}"
		done
		if [[ -n ${NTX[direct:insert_shard_rate]+x} ]]; then
			printf '  %-11s %s ms per order at %s orders/s (one shard'"'"'s rate under shardroute), %s ms at full load\n' \
				"direct" "${COORD_CPU[direct:insert_shard_rate]}" "$SHARD_RATE" "${COORD_CPU[direct:insert_order]}"
		fi
		echo

		echo "projection, insert_order orders/s with the coordinator and each shard on its own $CORES-core machine:"
		echo "  min(coordinator cores / coordinator CPU s per order, N x shard cores / shard CPU s per order)"
		local direct_rate n
		direct_rate=$(awk -v c="${COORD_CPU[direct:insert_order]}" -v k="$CORES" \
			'BEGIN { if (c == "" || c == "-" || c + 0 == 0) print "-"; else printf "%.0f", k / (c / 1000) }')
		printf '  %-7s %12s %-8s %9s %12s %-8s %9s\n' shards "shardroute" limit "x direct" "native-fdw" limit "x direct"
		for n in 1 3 6 10; do
			printf '  %-7s' "$n"
			for t in shardroute native-fdw; do
				awk -v c="${COORD_CPU[$t:insert_order]}" -v s="${SHARD_CPU_SUM[$t:insert_order]}" \
					-v n="$n" -v k="$CORES" -v d="$direct_rate" 'BEGIN {
						if (c == "-" || s == "-" || c + 0 == 0 || s + 0 == 0) { printf " %12s %-8s %9s", "-", "", "-"; exit }
						a = k / (c / 1000); b = n * k / (s / 1000); r = (a < b ? a : b)
						printf " %12.0f %-8s %9s", r, (a < b ? "coord" : "shards"), (d == "-" ? "-" : sprintf("%.2f", r / d)) }'
			done
			echo
		done
		echo "  direct, one server of $CORES cores: $direct_rate orders/s ($CORES cores / its CPU s per order)"
	fi
}

echo
echo "==== results ===="
report | tee "$DIR/results.txt"
if ((RUN_ERRORS)); then
	echo "run.sh: $RUN_ERRORS pgbench run(s) did not complete cleanly; see $DIR/logs" >&2
	exit 1
fi
