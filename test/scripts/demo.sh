#!/usr/bin/env bash
# demo.sh - one command that shows shardroute at work: installs the packages,
# builds and installs the extension, starts a local coordinator with three shards,
# loads the trading schema and demo users through the coordinator, sends a burst
# of order inserts through it with pgbench and shows how the rows spread over the
# shards. The cluster keeps running afterwards.
#
# Usage: test/scripts/demo.sh [DIR] [--users U] [--seconds S] [--port P] [--shards N]
#   DIR        cluster directory (default /tmp/shardroute-demo)
#   --users    demo users to load (default 10000)
#   --seconds  length of the pgbench run (default 10)
#   --port, --shards  passed to cluster.sh start when the cluster is created
# Meant to run as root on Debian 12; the servers run as the postgres OS user.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CLUSTER=(bash "$REPO/test/scripts/cluster.sh")

DIR=/tmp/shardroute-demo
USERS=10000
DURATION=10
START_OPTIONS=()
while (($#)); do
	case $1 in
	--users) USERS=${2:-}; shift 2 || { echo "demo.sh: error: --users needs a value" >&2; exit 2; } ;;
	--seconds) DURATION=${2:-}; shift 2 || { echo "demo.sh: error: --seconds needs a value" >&2; exit 2; } ;;
	--port | --shards)
		START_OPTIONS+=("$1" "${2:-}")
		shift 2 || { echo "demo.sh: error: $1 needs a value" >&2; exit 2; }
		;;
	-h | --help)
		sed -n '/^# Usage:/,/^# Meant/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	-*) echo "demo.sh: error: unknown option $1" >&2; exit 2 ;;
	*) DIR=$1; shift ;;
	esac
done
[[ $USERS =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: error: --users must be a positive integer" >&2; exit 2; }
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: error: --seconds must be a positive integer" >&2; exit 2; }
DIR=$(realpath -m -- "$DIR")

echo "==== installing packages ===="
bash "$REPO/test/scripts/install-deps.sh"
PG_BINDIR=$("$PG_CONFIG" --bindir)

echo "==== building and installing shardroute ===="
make -C "$REPO" clean PG_CONFIG="$PG_CONFIG"
make -C "$REPO" -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
make -C "$REPO" install PG_CONFIG="$PG_CONFIG"

echo "==== starting the cluster in $DIR ===="
"${CLUSTER[@]}" start "$DIR" "${START_OPTIONS[@]}"

echo "==== loading the trading schema and $USERS users through the coordinator ===="
"${CLUSTER[@]}" demo "$DIR" --users "$USERS"

eval "$("${CLUSTER[@]}" env "$DIR")"

echo
echo "==== inserting orders for random users through the coordinator for ${DURATION}s ===="
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
script=$workdir/new-orders.sql
cat >"$script" <<'EOF'
\set uid random(1, :users)
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (:uid, 'AAPL', 'buy', 1, 100);
EOF
"$PG_BINDIR/pgbench" -n -c 4 -j 4 -T "$DURATION" -h 127.0.0.1 -p "$PGPORT" -U postgres \
	-D users="$USERS" -f "$script" trading_db

"${CLUSTER[@]}" distribution "$DIR"

cat <<EOF

The cluster is running: coordinator on 127.0.0.1:$PGPORT, $SHARDROUTE_SHARDS shards behind it.
Connect to the coordinator:
  psql -h 127.0.0.1 -p $PGPORT -U postgres trading_db
  bash $REPO/test/scripts/cluster.sh psql $DIR
Look at one shard directly:
  bash $REPO/test/scripts/cluster.sh psql $DIR shard-0
Stop it, or stop it and delete its data:
  bash $REPO/test/scripts/cluster.sh stop $DIR
  bash $REPO/test/scripts/cluster.sh destroy $DIR
EOF
