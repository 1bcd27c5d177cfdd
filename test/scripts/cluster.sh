#!/usr/bin/env bash
# cluster.sh - start, stop and inspect a local shardroute cluster: one coordinator
# and N shards, each its own PostgreSQL 15 instance listening on 127.0.0.1 only.
#
# Layout of DIR:
#   DIR/cluster.env        shard count and base port, fixed at the first start
#   DIR/coordinator/       data directory of the coordinator (port P)
#   DIR/shard-I/           data directory of shard I (port P+1+I), I = 0 .. N-1
#   DIR/NAME/NAME.log      server log of each instance
#
# The coordinator preloads shardroute and trusts 127.0.0.1; every shard holds the
# database trading_db owned by trading_user, who logs in over TCP with a password.
# Run it as root (the servers then run as the postgres OS user) or as the OS user
# that owns DIR.
set -euo pipefail

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
SHARD_PASSWORD=${SHARDROUTE_SHARD_PASSWORD:-trading_password}
START_TIMEOUT=${SHARDROUTE_START_TIMEOUT:-60}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

DEFAULT_SHARDS=3
DEFAULT_PORT=55432
DEFAULT_USERS=10000

usage() {
	cat <<'EOF'
Usage: cluster.sh COMMAND DIR [options]

Commands:
  start DIR [--shards N] [--port P]
        Create the cluster on first use, then start whatever is not running:
        the coordinator on 127.0.0.1:P (default 55432) and N shards (default 3)
        on ports P+1 .. P+N. N and P are remembered in DIR/cluster.env.
  stop DIR              Stop every instance (fast shutdown).
  status DIR            One line per instance: name, port, running or stopped.
  destroy DIR           Stop the cluster and delete DIR.
  env DIR               Print an export line for eval: PGHOST, PGPORT,
                        SHARDROUTE_SHARDS and SHARDROUTE_SHARD<I>_PORT.
  psql DIR [coordinator|shard-I] [psql options...]
                        Open psql as superuser postgres on trading_db of one
                        instance (default: the coordinator).
  demo DIR [--users U]  Create the shardroute extension, register the shards,
                        load the trading schema and U demo users (default
                        10000), then print the distribution.
  distribution DIR      Count users and orders on each shard directly and
                        print each shard's share.

Environment:
  SHARDROUTE_SHARD_PASSWORD  password of trading_user on the shards
                             (default trading_password)
  SHARDROUTE_FAST_UNSAFE=1   at creation: fsync=off and synchronous_commit=off
                             (for throwaway test clusters only)
  SHARDROUTE_START_TIMEOUT   seconds to wait for each instance (default 60)
  PG_BINDIR                  PostgreSQL 15 binaries
                             (default /usr/lib/postgresql/15/bin)
EOF
}

die() {
	echo "cluster.sh: error: $*" >&2
	exit 1
}

# Runs a command as the OS user that owns the servers: postgres when called as
# root, the caller otherwise. The working directory is the cluster directory so
# that the server never inherits a directory it cannot read.
as_pg() {
	if [[ $EUID -eq 0 ]]; then
		(cd "$CLUSTER_DIR" && runuser -u postgres -- "$@")
	else
		(cd "$CLUSTER_DIR" && "$@")
	fi
}

is_uint() {
	[[ $1 =~ ^[0-9]+$ ]]
}

# Reads SHARDS and PORT from DIR/cluster.env; dies when DIR holds no cluster.
load_env() {
	local file=$CLUSTER_DIR/cluster.env
	[[ -f $file ]] || die "no cluster in $CLUSTER_DIR (create one with: cluster.sh start $CLUSTER_DIR)"
	SHARDS=$(sed -n 's/^SHARDS=//p' "$file")
	PORT=$(sed -n 's/^PORT=//p' "$file")
	{ is_uint "$SHARDS" && is_uint "$PORT"; } || die "$file is damaged; destroy the cluster and start again"
}

instance_names() {
	local i
	echo coordinator
	for ((i = 0; i < SHARDS; i++)); do
		echo "shard-$i"
	done
}

# Normalises an instance name (coordinator, shard-I or shardI) to coordinator or
# shard-I; dies when the cluster has no such instance.
canonical_name() {
	local i
	case $1 in
	coordinator) echo coordinator; return ;;
	shard-[0-9]*) i=${1#shard-} ;;
	shard[0-9]*) i=${1#shard} ;;
	*) i=x ;;
	esac
	{ is_uint "$i" && ((10#$i < SHARDS)); } ||
		die "unknown instance \"$1\"; use coordinator or shard-0 .. shard-$((SHARDS - 1))"
	echo "shard-$((10#$i))"
}

# Prints the port of an instance: P for the coordinator, P+1+I for shard-I.
port_of() {
	local name
	name=$(canonical_name "$1")
	if [[ $name == coordinator ]]; then
		echo "$PORT"
	else
		echo $((PORT + 1 + ${name#shard-}))
	fi
}

is_running() {
	as_pg "$PG_BINDIR/pg_ctl" status -D "$CLUSTER_DIR/$1" >/dev/null 2>&1
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

show_log_tail() {
	local log=$CLUSTER_DIR/$1/$1.log
	if [[ -f $log ]]; then
		echo "---- last lines of $log ----" >&2
		tail -n 40 "$log" >&2
		echo "----" >&2
	fi
}

# Writes the server settings and pg_hba.conf of a freshly initialised instance.
write_config() {
	local name=$1 port=$2 datadir=$3 final=$4
	{
		echo
		echo "# Local shardroute cluster settings (written by cluster.sh)"
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $port"
		echo "unix_socket_directories = '$final'"
		echo "max_connections = 200"
		echo "max_prepared_transactions = 200"
		echo "logging_collector = off"
		if [[ ${SHARDROUTE_FAST_UNSAFE:-} == 1 ]]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
		fi
		if [[ $name == coordinator ]]; then
			echo "shared_preload_libraries = 'shardroute'"
		fi
	} >>"$datadir/postgresql.conf"

	local method=scram-sha-256
	[[ $name == coordinator ]] && method=trust
	cat >"$datadir/pg_hba.conf" <<EOF
# Client authentication for the $name of a local shardroute cluster.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  trust
local   replication  all                  trust
host    all          all   127.0.0.1/32   $method
host    replication  all   127.0.0.1/32   $method
EOF
}

# Initialises the data directory of an instance unless it exists. The instance
# is built in a scratch directory and renamed when complete, so an interrupted
# run never leaves a half-configured instance behind.
init_instance() {
	local name=$1 port=$2
	local datadir=$CLUSTER_DIR/$name scratch=$CLUSTER_DIR/.$name.init
	local socket=$datadir/.s.PGSQL.$port

	[[ -f $datadir/PG_VERSION ]] && return 0
	[[ -e $datadir ]] && die "$datadir exists but is not a data directory; destroy the cluster and start again"
	((${#socket} <= 107)) || die "socket path $socket is too long; use a shorter DIR"

	echo "initialising $name"
	rm -rf "$scratch"
	if ! as_pg "$PG_BINDIR/initdb" -D "$scratch" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >"$CLUSTER_DIR/.$name.initdb.log" 2>&1; then
		cat "$CLUSTER_DIR/.$name.initdb.log" >&2
		die "initdb failed for $name"
	fi
	rm -f "$CLUSTER_DIR/.$name.initdb.log"
	write_config "$name" "$port" "$scratch" "$datadir"
	mv "$scratch" "$datadir"
}

# Waits until an instance accepts TCP connections; dies with its log tail after
# SHARDROUTE_START_TIMEOUT seconds.
wait_ready() {
	local name=$1 port=$2
	local deadline=$((SECONDS + START_TIMEOUT))
	until "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 1; do
		if ((SECONDS >= deadline)); then
			show_log_tail "$name"
			die "$name did not accept connections on 127.0.0.1:$port within ${START_TIMEOUT}s"
		fi
		sleep 0.2
	done
}

start_instance() {
	local name=$1 port=$2 datadir=$CLUSTER_DIR/$1
	if is_running "$name"; then
		echo "$name is already running on 127.0.0.1:$port"
	else
		port_in_use "$port" && die "port $port is taken by another process; stop it, or destroy $CLUSTER_DIR and start with another --port"
		echo "starting $name on 127.0.0.1:$port"
		if ! as_pg "$PG_BINDIR/pg_ctl" start -D "$datadir" -l "$datadir/$name.log" \
			-w -t "$START_TIMEOUT" >/dev/null; then
			show_log_tail "$name"
			die "could not start $name"
		fi
	fi
	wait_ready "$name" "$port"
}

# Runs SQL from stdin as superuser on an instance, through its Unix socket.
admin_sql() {
	local name=$1 port
	shift
	port=$(port_of "$name")
	as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER_DIR/$name" -p "$port" \
		-U postgres -d postgres "$@"
}

# Makes sure trading_user (with the current password) and trading_db exist on a shard.
setup_shard() {
	admin_sql "$1" -v pw="$SHARD_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE trading_user'
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'trading_user') \gexec
ALTER ROLE trading_user WITH LOGIN PASSWORD :'pw';
SELECT 'CREATE DATABASE trading_db OWNER trading_user'
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'trading_db') \gexec
SQL
}

# Makes sure trading_db exists on the coordinator and that its background
# worker (topology log, recovery of in-doubt transactions) serves it; the
# setting names a database that must exist, so it is added, with one
# restart, once the database does.
setup_coordinator() {
	local datadir=$CLUSTER_DIR/coordinator
	admin_sql coordinator <<'SQL'
SELECT 'CREATE DATABASE trading_db'
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'trading_db') \gexec
SQL
	if ! grep -q "^shardroute.database" "$datadir/postgresql.conf"; then
		echo "shardroute.database = 'trading_db'" | as_pg tee -a "$datadir/postgresql.conf" >/dev/null
		as_pg "$PG_BINDIR/pg_ctl" restart -D "$datadir" -l "$datadir/coordinator.log" -m fast -w \
			-t "$START_TIMEOUT" >/dev/null || die "could not restart the coordinator"
	fi
}

cmd_start() {
	local shards="" port=""
	while (($#)); do
		case $1 in
		--shards) shards=${2:-}; shift 2 || die "--shards needs a value" ;;
		--port) port=${2:-}; shift 2 || die "--port needs a value" ;;
		*) die "unknown option for start: $1" ;;
		esac
	done
	[[ -z $shards ]] || { is_uint "$shards" && ((shards >= 1)); } || die "--shards must be a positive integer"
	[[ -z $port ]] || { is_uint "$port" && ((port >= 1024 && port <= 65535)); } || die "--port must be between 1024 and 65535"
	[[ $CLUSTER_DIR != *"'"* ]] || die "DIR must not contain a single quote"

	mkdir -p "$CLUSTER_DIR"
	if [[ -f $CLUSTER_DIR/cluster.env ]]; then
		load_env
		[[ -z $shards || $shards == "$SHARDS" ]] || die "$CLUSTER_DIR was created with --shards $SHARDS; destroy it to change that"
		[[ -z $port || $port == "$PORT" ]] || die "$CLUSTER_DIR was created with --port $PORT; destroy it to change that"
	else
		[[ -z $(ls -A "$CLUSTER_DIR") ]] || die "$CLUSTER_DIR is not empty and holds no cluster; choose another directory"
		SHARDS=${shards:-$DEFAULT_SHARDS}
		PORT=${port:-$DEFAULT_PORT}
		((PORT + SHARDS <= 65535)) || die "ports $PORT .. $((PORT + SHARDS)) do not fit below 65536"
		printf '# Local shardroute cluster, read by cluster.sh\nSHARDS=%s\nPORT=%s\n' "$SHARDS" "$PORT" \
			>"$CLUSTER_DIR/cluster.env"
	fi

	if [[ $EUID -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "there is no postgres OS user; install postgresql-15 first"
		chown postgres: "$CLUSTER_DIR"
	fi
	as_pg test -w "$CLUSTER_DIR" || die "the postgres OS user cannot write $CLUSTER_DIR; pick a DIR whose parent directories it can enter, such as one under /tmp"
	[[ -x $PG_BINDIR/postgres ]] || die "no PostgreSQL binaries in $PG_BINDIR; install postgresql-15 or set PG_BINDIR"

	local libdir
	if [[ ! -f $CLUSTER_DIR/coordinator/PG_VERSION && -x $PG_BINDIR/pg_config ]]; then
		libdir=$("$PG_BINDIR/pg_config" --pkglibdir)
		[[ -f $libdir/shardroute.so ]] || echo "warning: $libdir/shardroute.so is missing; the coordinator preloads it, so run make install first" >&2
	fi

	local name
	for name in $(instance_names); do
		init_instance "$name" "$(port_of "$name")"
	done
	for name in $(instance_names); do
		start_instance "$name" "$(port_of "$name")"
	done
	setup_coordinator
	for name in $(instance_names); do
		[[ $name == coordinator ]] || setup_shard "$name"
	done
	if ((SHARDS == 1)); then
		echo "cluster in $CLUSTER_DIR is up: coordinator on 127.0.0.1:$PORT, 1 shard on port $((PORT + 1))"
	else
		echo "cluster in $CLUSTER_DIR is up: coordinator on 127.0.0.1:$PORT, $SHARDS shards on ports $((PORT + 1)) .. $((PORT + SHARDS))"
	fi
}

cmd_stop() {
	[[ -f $CLUSTER_DIR/cluster.env ]] || return 0
	load_env
	local name failed=0
	for name in $(instance_names); do
		[[ -f $CLUSTER_DIR/$name/PG_VERSION ]] || continue
		is_running "$name" || continue
		echo "stopping $name"
		as_pg "$PG_BINDIR/pg_ctl" stop -D "$CLUSTER_DIR/$name" -m fast -w -t "$START_TIMEOUT" >/dev/null || {
			echo "cluster.sh: could not stop $name" >&2
			failed=1
		}
	done
	return $failed
}

cmd_status() {
	load_env
	local name port state pid
	for name in $(instance_names); do
		port=$(port_of "$name")
		if [[ ! -f $CLUSTER_DIR/$name/PG_VERSION ]]; then
			state="not initialised"
		elif is_running "$name"; then
			pid=$(head -n 1 "$CLUSTER_DIR/$name/postmaster.pid" 2>/dev/null || true)
			state="running (pid ${pid:-?})"
		else
			state=stopped
		fi
		printf '%-12s 127.0.0.1:%-6s %s\n' "$name" "$port" "$state"
	done
}

cmd_destroy() {
	[[ -e $CLUSTER_DIR ]] || return 0
	if [[ ! -f $CLUSTER_DIR/cluster.env && -n $(ls -A "$CLUSTER_DIR") ]]; then
		die "$CLUSTER_DIR holds no cluster.env; refusing to delete it"
	fi
	cmd_stop
	rm -rf "$CLUSTER_DIR"
	echo "removed $CLUSTER_DIR"
}

cmd_env() {
	load_env
	local i line="export PGHOST=127.0.0.1 PGPORT=$PORT SHARDROUTE_SHARDS=$SHARDS"
	for ((i = 0; i < SHARDS; i++)); do
		line+=" SHARDROUTE_SHARD${i}_PORT=$((PORT + 1 + i))"
	done
	echo "$line"
}

cmd_psql() {
	load_env
	local name=coordinator port
	if (($#)) && [[ $1 == coordinator || $1 == shard* ]]; then
		name=$(canonical_name "$1")
		shift
	fi
	port=$(port_of "$name")
	# The coordinator trusts TCP from 127.0.0.1; shards ask for a password over
	# TCP, so the superuser comes in through the shard's Unix socket instead.
	local host=127.0.0.1
	[[ $name == coordinator ]] || host=$CLUSTER_DIR/$name
	PGHOST=$host PGPORT=$port PGUSER=postgres PGDATABASE=trading_db exec "$PG_BINDIR/psql" "$@"
}

# Runs SQL on the coordinator's trading_db as superuser; extra arguments go to psql.
coordinator_sql() {
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d trading_db "$@"
}

# Runs SQL on a shard's trading_db as trading_user over TCP, the way the
# coordinator itself connects.
shard_sql() {
	PGPASSWORD=$SHARD_PASSWORD "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" \
		-U trading_user -d trading_db "${@:2}"
}

# Percent-encodes a string for use inside a connection URI.
uri_encode() {
	local LC_ALL=C s=$1 out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) printf -v c '%%%02X' "'$c"; out+=$c ;;
		esac
	done
	printf '%s' "$out"
}

require_running() {
	"$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -t 2 ||
		die "the coordinator is not running; start it with: cluster.sh start $CLUSTER_DIR"
}

cmd_distribution() {
	load_env
	require_running
	local i port counts users orders total_users=0 total_orders=0
	local -a shard_users shard_orders
	for ((i = 0; i < SHARDS; i++)); do
		port=$((PORT + 1 + i))
		counts=$(shard_sql "$port" -At -F ' ' \
			-c 'SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM orders)') ||
			die "could not count rows on shard-$i (127.0.0.1:$port)"
		read -r users orders <<<"$counts"
		shard_users[i]=$users
		shard_orders[i]=$orders
		total_users=$((total_users + users))
		total_orders=$((total_orders + orders))
	done

	echo
	echo "Rows per shard, counted on each shard directly:"
	printf '  %-9s %-6s %10s %10s %7s\n' shard port users orders share
	for ((i = 0; i < SHARDS; i++)); do
		printf '  %-9s %-6s %10s %10s %7s\n' "shard-$i" $((PORT + 1 + i)) \
			"${shard_users[i]}" "${shard_orders[i]}" \
			"$(awk -v u="${shard_users[i]}" -v t="$total_users" \
				'BEGIN { if (t > 0) printf "%.1f%%", 100 * u / t; else printf "-" }')"
	done
	printf '  %-9s %-6s %10s %10s %7s\n' total "" "$total_users" "$total_orders" \
		"$( ((total_users > 0)) && echo 100.0% || echo -)"

	counts=$(coordinator_sql -At -F ' ' \
		-c 'SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM orders)') ||
		die "could not count rows through the coordinator"
	read -r users orders <<<"$counts"
	echo "Through the coordinator (127.0.0.1:$PORT): $users users, $orders orders"
}

cmd_demo() {
	local users=$DEFAULT_USERS
	while (($#)); do
		case $1 in
		--users) users=${2:-}; shift 2 || die "--users needs a value" ;;
		*) die "unknown option for demo: $1" ;;
		esac
	done
	{ is_uint "$users" && ((users >= 1)); } || die "--users must be a positive integer"
	load_env
	require_running

	local schema=$REPO_ROOT/test/data/trading-schema.sql data=$REPO_ROOT/test/data/demo-data.sql
	[[ -f $schema && -f $data ]] || die "cannot find $schema and $data"

	echo "creating extension shardroute in trading_db"
	coordinator_sql -c 'CREATE EXTENSION IF NOT EXISTS shardroute CASCADE' ||
		die "could not create extension shardroute; is it installed (make install)?"

	# the same registration the Kubernetes image runs: shardroute-register-env
	local i
	local -a vars=("DATABASE_SHARD_MODE=${SHARDS}way")
	for ((i = 0; i < SHARDS; i++)); do
		vars+=("DATABASE_SHARD_${i}_URL=postgresql://trading_user:$(uri_encode "$SHARD_PASSWORD")@127.0.0.1:$((PORT + 1 + i))/trading_db")
	done
	echo "registering the shards with shardroute-register-env"
	env "${vars[@]}" PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres PGDATABASE=trading_db \
		"$PG_BINDIR/shardroute-register-env" ||
		die "could not register the shards; is shardroute installed (make install), and was this cluster made with the same build? (cluster.sh destroy $CLUSTER_DIR starts over)"

	if [[ $(coordinator_sql -At -c "SELECT to_regclass('users') IS NOT NULL") == t ]]; then
		echo "table users already exists; keeping the data that is there (destroy the cluster to start over)"
	else
		echo "loading the trading schema"
		coordinator_sql -f "$schema" >/dev/null
		echo "loading $users demo users"
		coordinator_sql -v users="$users" -f "$data" >/dev/null
	fi
	cmd_distribution
}

main() {
	(($#)) || { usage >&2; exit 2; }
	local cmd=$1
	shift
	case $cmd in
	-h | --help | help) usage; exit 0 ;;
	start | stop | status | destroy | env | psql | demo | distribution) ;;
	*) die "unknown command \"$cmd\"; see cluster.sh --help" ;;
	esac
	{ (($#)) && [[ -n $1 && $1 != -* ]]; } || die "$cmd needs a cluster directory; see cluster.sh --help"
	CLUSTER_DIR=$(realpath -m -- "$1")
	shift
	"cmd_$cmd" "$@"
}

main "$@"
