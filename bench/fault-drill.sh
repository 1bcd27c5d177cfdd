#!/usr/bin/env bash
# fault-drill.sh - kills one shard of a shardroute cluster under write load,
# brings it back, and checks that every acknowledged write is stored and that
# nothing else is.
#
# It starts a fresh cluster with test/scripts/cluster.sh (a coordinator on
# 127.0.0.1:P and 3 shards on P+1 .. P+3), loads the demo data
# (cluster.sh demo --users U), then runs W workers at once, each one psql
# session on the coordinator running a generated script: single-row INSERTs
# into orders (symbol 'DRILL', random user 1 .. U, RETURNING order_id, user_id),
# each followed by SELECT pg_sleep(0.01), for about S seconds (every 50
# statements the script checks the time and quits once S seconds are over).
# 8 s into the load shard 1 is stopped with pg_ctl stop -m immediate; 10 s later
# it is started again. Nothing else is restarted.
#
# Afterwards it prints:
#   - per worker: exit status, statements run, rows acknowledged, errors
#   - per shard: statements that succeeded (acknowledged rows, by the owner of
#     their user_id, asked of the coordinator with shardroute.shard_of) and
#     statements that failed (psql's ERROR lines, attributed to the shard the
#     message or its context names, "shard N"), failures naming no shard, and
#     each distinct error with its SQLSTATE and count
#   - when the failures happened, bounded by the created_at of each worker's
#     neighbouring acknowledged rows, against the time the shard was down
#   - reconcile: acknowledged orders present through the coordinator (by id),
#     DRILL orders through the coordinator, DRILL orders counted on each
#     shard directly and their sum; "reconcile: OK" when every acknowledged
#     order is stored once, and the stored orders beyond them are at most the
#     statements whose outcome is unknown (their shard connection was lost
#     after they were sent, 08006: the shard may have committed them);
#     "reconcile: FAILED" otherwise, with the orders that differ
#   - shardroute.health(), shardroute.stat_shards and the prepared
#     (in-doubt) transactions on each shard
#
# Usage: bench/fault-drill.sh [--workers W] [--duration S] [--users U] [--dir D]
#                             [--port P] [--keep] [--no-install]
#   --workers     concurrent psql sessions (default 4)
#   --duration    seconds of load, 23 .. 120 (default 30)
#   --users       demo users loaded; inserts pick user 1 .. U (default 10000)
#   --dir         working directory, recreated by each run (default /tmp/shardroute-drill);
#                 the cluster lives in DIR/cluster, scripts, outputs and server logs in DIR/work
#   --port        base port (default 26600; below the kernel's ephemeral ports, which the
#                 drill's own connections use): coordinator P, shards P+1 .. P+3
#   --keep        leave the cluster running at the end (default: destroy it)
#   --no-install  skip test/scripts/install-deps.sh and make install
# Meant to run as root on Debian 12; the servers run as the postgres OS user.
# Exits 0 when the reconcile is OK, 1 when it failed or the drill could not run.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CLUSTER=(bash "$REPO/test/scripts/cluster.sh")
SHARD_COUNT=3
VICTIM=1          # the shard that is stopped
DOWN_AFTER=8      # seconds into the load
DOWN_FOR=10       # seconds it stays down
CHECK_EVERY=50    # INSERTs between two looks at the clock in a worker script

WORKERS=4
DURATION=30
USERS=10000
DIR=/tmp/shardroute-drill
PORT=26600
KEEP=0
INSTALL=1

# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"

while (($#)); do
	case $1 in
	--workers) need_value "$@"; WORKERS=$2; shift 2 ;;
	--duration) need_value "$@"; DURATION=$2; shift 2 ;;
	--users) need_value "$@"; USERS=$2; shift 2 ;;
	--dir) need_value "$@"; DIR=$2; shift 2 ;;
	--port) need_value "$@"; PORT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--no-install) INSTALL=0; shift ;;
	-h | --help)
		sed -n '/^# Usage:/,/^# Meant/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed '$d'
		exit 0
		;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
for v in WORKERS DURATION USERS PORT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer"
done
((WORKERS <= 50)) || die "--workers must be at most 50"
((DURATION >= DOWN_AFTER + DOWN_FOR + 5 && DURATION <= 120)) ||
	die "--duration must be between $((DOWN_AFTER + DOWN_FOR + 5)) and 120"
((PORT >= 1024 && PORT + SHARD_COUNT <= 65535)) || die "--port must leave P .. P+$SHARD_COUNT between 1024 and 65535"
((PORT > 5432 || PORT + SHARD_COUNT < 5432)) || die "--port must keep the ports clear of 5432"
DIR=$(realpath -m -- "$DIR")
[[ $DIR != / && $DIR != *"'"* ]] || die "--dir must not be / or contain a single quote"
CLUSTER_DIR=$DIR/cluster
WORK=$DIR/work
VICTIM_DIR=$CLUSTER_DIR/shard-$VICTIM

# ---------------------------------------------------------------- setup ----

install_shardroute


# The working directory belongs to the drill: a marker file says so, and a
# directory without it is never deleted.
if [[ -e $DIR ]]; then
	[[ -f $DIR/.shardroute-drill || -z $(ls -A "$DIR") ]] ||
		die "$DIR is not empty and was not made by fault-drill.sh; choose another --dir"
	if [[ -f $CLUSTER_DIR/cluster.env ]]; then
		"${CLUSTER[@]}" destroy "$CLUSTER_DIR" >/dev/null ||
			die "could not destroy the cluster left in $CLUSTER_DIR"
	fi
	rm -rf "$DIR"
fi
mkdir -p "$WORK"
touch "$DIR/.shardroute-drill"
if [[ $EUID -eq 0 ]]; then
	id postgres >/dev/null 2>&1 || die "there is no postgres OS user; install postgresql-15 first"
	chown postgres: "$DIR"
fi

BACKGROUND_PIDS=()
CLUSTER_STARTED=0

cleanup() {
	local pid name
	for pid in "${BACKGROUND_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	BACKGROUND_PIDS=()
	((CLUSTER_STARTED)) || return 0
	CLUSTER_STARTED=0
	# keep the server logs next to the workers' outputs
	for name in coordinator $(seq -f 'shard-%g' 0 $((SHARD_COUNT - 1))); do
		cp "$CLUSTER_DIR/$name/$name.log" "$WORK/" 2>/dev/null || true
	done
	if ((KEEP)); then
		echo "leaving the cluster in $CLUSTER_DIR running (--keep); stop it with: bash test/scripts/cluster.sh destroy $CLUSTER_DIR"
	else
		"${CLUSTER[@]}" destroy "$CLUSTER_DIR" >/dev/null ||
			echo "fault-drill.sh: could not destroy $CLUSTER_DIR" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs SQL on the coordinator's trading_db as superuser postgres over TCP.
sql_coord() {
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d trading_db "$@"
}

# Runs SQL on shard I's trading_db as superuser postgres through its Unix socket.
sql_shard() {
	local i=$1
	shift
	as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER_DIR/shard-$i" -p $((PORT + 1 + i)) \
		-U postgres -d trading_db "$@"
}

LOAD_START=""
# Prints a progress line: wall clock and seconds since the load started.
event() {
	local now=$EPOCHREALTIME
	if [[ -n $LOAD_START ]]; then
		printf '%s  t=%6.2fs  %s\n' "$(date -d "@$now" '+%H:%M:%S.%3N')" \
			"$(awk -v a="$now" -v b="$LOAD_START" 'BEGIN { print a - b }')" "$*"
	else
		printf '%s  %s\n' "$(date -d "@$now" '+%H:%M:%S.%3N')" "$*"
	fi
}

# Sleeps until OFFSET seconds after the start of the load.
sleep_until() {
	local left
	left=$(awk -v s="$LOAD_START" -v o="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = s + o - n; printf "%.3f", (d > 0 ? d : 0) }')
	sleep "$left"
}

echo "==== cluster ===="
CLUSTER_STARTED=1
"${CLUSTER[@]}" start "$CLUSTER_DIR" --shards "$SHARD_COUNT" --port "$PORT"
"${CLUSTER[@]}" demo "$CLUSTER_DIR" --users "$USERS"
[[ $(sql_coord -At -c "SELECT count(*) FROM orders WHERE symbol = 'DRILL'") == 0 ]] ||
	die "the demo data already holds DRILL orders"

# ------------------------------------------------------------ workers ----

# Each worker script: one INSERT or one sleep per line, so that the line psql
# names in an error is the statement that failed. DIR/work/wK.uids lists the
# line and user_id of every INSERT.
STATEMENTS=$((DURATION * 100 + 100)) # more than a worker can run: each sleeps 10 ms
for ((k = 1; k <= WORKERS; k++)); do
	awk -v n="$STATEMENTS" -v users="$USERS" -v seed="$((RANDOM * 32768 + RANDOM + k))" \
		-v every="$CHECK_EVERY" -v uids="$WORK/w$k.uids" '
		function out(s) { print s; line++ }
		BEGIN {
			srand(seed)
			line = 0
			out("-- fault-drill.sh worker script; run with psql -v deadline=EPOCH")
			out("\\set VERBOSITY verbose")
			for (i = 0; i < n; i++) {
				if (i % every == 0) {
					out("SELECT clock_timestamp() >= to_timestamp(:deadline) AS drill_done \\gset")
					out("\\if :drill_done")
					out("\\quit")
					out("\\endif")
				}
				uid = int(rand() * users) + 1
				out("INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (" uid ", '\''DRILL'\'', '\''buy'\'', 1, 1) RETURNING order_id, user_id;")
				print line, uid > uids
				out("SELECT pg_sleep(0.01) \\g /dev/null")
			}
		}' >"$WORK/w$k.sql"
done

echo
echo "==== load: $WORKERS workers for ${DURATION}s; shard $VICTIM down from t=${DOWN_AFTER}s for ${DOWN_FOR}s ===="
LOAD_START=$EPOCHREALTIME
DEADLINE=$(awk -v s="$LOAD_START" -v d="$DURATION" 'BEGIN { printf "%.3f", s + d }')
WORKER_PIDS=()
for ((k = 1; k <= WORKERS; k++)); do
	timeout -k 5 $((DURATION + 45)) "$PG_BINDIR/psql" -X -At -v ON_ERROR_STOP=0 -v deadline="$DEADLINE" \
		-h 127.0.0.1 -p "$PORT" -U postgres trading_db -f "$WORK/w$k.sql" \
		>"$WORK/w$k.out" 2>"$WORK/w$k.err" &
	WORKER_PIDS+=("$!")
	BACKGROUND_PIDS+=("$!")
done
event "$WORKERS workers started"

sleep_until "$DOWN_AFTER"
event "stopping shard $VICTIM (pg_ctl stop -m immediate)"
STOP_AT=$EPOCHREALTIME
as_pg "$PG_BINDIR/pg_ctl" stop -D "$VICTIM_DIR" -m immediate -w >/dev/null ||
	die "could not stop shard $VICTIM"
DOWN_AT=$EPOCHREALTIME
event "shard $VICTIM is down"

sleep_until $((DOWN_AFTER + DOWN_FOR))
event "starting shard $VICTIM"
START_AT=$EPOCHREALTIME
as_pg "$PG_BINDIR/pg_ctl" start -D "$VICTIM_DIR" -l "$VICTIM_DIR/shard-$VICTIM.log" -w -t 60 >/dev/null ||
	die "could not start shard $VICTIM"
UP_AT=$EPOCHREALTIME
event "shard $VICTIM is up again (accepting connections)"

declare -A RC
for ((k = 1; k <= WORKERS; k++)); do
	rc=0
	wait "${WORKER_PIDS[k - 1]}" || rc=$?
	RC[$k]=$rc
	echo "$rc" >"$WORK/w$k.rc"
	if ((rc == 124 || rc == 137)); then
		event "worker $k was KILLED: it did not finish within $((DURATION + 45))s"
	else
		event "worker $k finished (exit status $rc)"
	fi
done
BACKGROUND_PIDS=()

# ------------------------------------------------------------ results ----

# One row per statement a worker ran, as tab-separated values:
#   worker, line, user_id (empty when the line is no INSERT), ok (t/f),
#   order_id, returned user_id, named shard, sqlstate, message
# Acknowledged rows are matched, in order, with the INSERT lines that did
# not fail.
STATEMENT_ROWS=$WORK/statements.tsv
: >"$STATEMENT_ROWS"
ANOMALIES=()
for ((k = 1; k <= WORKERS; k++)); do
	awk -v k="$k" -v uidfile="$WORK/w$k.uids" -v outfile="$WORK/w$k.out" -v errfile="$WORK/w$k.err" \
		-v oddfile="$WORK/w$k.odd" '
		# a row for COPY text format: empty fields are NULL
		function row(w, l, u, ok, id, ru, sh, st, m,   r) {
			gsub(/\\/, "\\\\\\\\", m); gsub(/\t/, "\\\\t", m)
			r = w "\t" l "\t" nul(u) "\t" ok "\t" nul(id) "\t" nul(ru) "\t" nul(sh) "\t" nul(st) "\t" nul(m)
			print r
		}
		function nul(v) { return v == "" ? "\\N" : v }
		function flush() {
			if (cur != "") {
				fail[cur] = 1; nfail++
				if (shard[cur] == "" && ctxshard != "") shard[cur] = ctxshard
			}
			cur = ""; ctxshard = ""
		}
		BEGIN {
			while ((getline l < errfile) > 0) {
				if (match(l, /^psql:[^:]*:[0-9]+: /)) {
					flush()
					head = substr(l, 1, RLENGTH - 2); rest = substr(l, RLENGTH + 1)
					sub(/^.*:/, "", head)
					if (rest ~ /^(ERROR|FATAL|PANIC):/) {
						cur = head
						sev = rest; sub(/:.*/, "", sev)
						msg = rest; sub(/^[A-Z]+: +/, "", msg)
						state = ""
						if (match(msg, /^[0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]: /)) {
							state = substr(msg, 1, 5); msg = substr(msg, RLENGTH + 1)
						}
						sqlstate[cur] = state; message[cur] = (sev == "ERROR" ? "" : sev ": ") msg
						shard[cur] = ""
						if (match(msg, /(^|[^_a-z])shard [0-9]+/)) {
							s = substr(msg, RSTART, RLENGTH); sub(/.*shard /, "", s); shard[cur] = s
						}
						if (cur in seenline) { print "error line " cur " reported twice" > oddfile }
						seenline[cur] = 1
					} else {
						print "stderr: " l > oddfile
					}
				} else if (cur != "" && l ~ /^CONTEXT: /) {
					if (ctxshard == "" && match(l, /(^|[^_a-z])shard [0-9]+/)) {
						s = substr(l, RSTART, RLENGTH); sub(/.*shard /, "", s); ctxshard = s
					}
				} else if (cur == "" || l !~ /^(DETAIL|HINT|LOCATION|CONTEXT|QUERY|STATEMENT): /) {
					if (l !~ /^[ \t]/ || cur == "") print "stderr: " l > oddfile
				}
			}
			flush()
			# psql prints the rows of each INSERT, then its command tag
			nack = 0; ntag = 0
			while ((getline l < outfile) > 0) {
				if (l ~ /^[0-9]+\|[0-9]+$/) { split(l, a, "|"); nack++; ackid[nack] = a[1]; ackuid[nack] = a[2] }
				else if (l == "INSERT 0 1") ntag++
				else print "stdout: " l > oddfile
			}
			if (ntag != nack) print nack " rows returned but " ntag " INSERT command tags" > oddfile
			used = 0; failed_inserts = 0
			while ((getline l < uidfile) > 0) {
				split(l, a, " ")
				if (a[1] in fail) {
					row(k, a[1], a[2], "f", "", "", shard[a[1]], sqlstate[a[1]], message[a[1]])
					failed_inserts++; delete fail[a[1]]
				} else if (used < nack) {
					used++
					row(k, a[1], a[2], "t", ackid[used], ackuid[used], "", "", "")
					if (ackuid[used] != a[2]) print "line " a[1] ": user " a[2] " inserted, RETURNING gave user " ackuid[used] > oddfile
				} else if (failed_inserts + used >= nack + nfail) {
					break
				}
			}
			if (used < nack) print (nack - used) " acknowledged rows could not be matched with a statement" > oddfile
			for (l in fail) row(k, l, "", "f", "", "", shard[l], sqlstate[l], message[l])
		}' >>"$STATEMENT_ROWS"
	if [[ -s $WORK/w$k.odd ]]; then
		ANOMALIES+=("worker $k: unexpected output (first lines below, all in $WORK/w$k.odd)")
		while IFS= read -r line; do
			ANOMALIES+=("    $line")
		done < <(head -n 5 "$WORK/w$k.odd")
	fi
	if ((RC[$k] != 0)); then
		ANOMALIES+=("worker $k: psql exit status ${RC[$k]}$( ((RC[$k] == 124 || RC[$k] == 137)) && echo ' (killed by timeout: it hung)')")
	fi
done

# One psql session on the coordinator does the accounting, in temp tables.
cat >"$WORK/report.sql" <<'SQL'
\set ON_ERROR_STOP 1
\pset footer off
CREATE TEMP TABLE drill (worker int, line int, user_id bigint, ok boolean, order_id bigint,
                         returned_user_id bigint, named_shard int, sqlstate text, message text);
\copy drill FROM pstdin WITH (FORMAT text)
ALTER TABLE drill ADD COLUMN owner_shard int;
UPDATE drill SET owner_shard = shardroute.shard_of(user_id) WHERE user_id IS NOT NULL;

\echo
\echo ==== per worker ====
SELECT worker, count(*) AS statements, count(*) FILTER (WHERE ok) AS acknowledged,
       count(*) FILTER (WHERE NOT ok) AS failed,
       count(*) FILTER (WHERE message LIKE 'lost connection%') AS lost_connection,
       count(*) FILTER (WHERE sqlstate = '08001' AND message LIKE 'could not connect%') AS could_not_connect
  FROM drill GROUP BY worker ORDER BY worker;

\echo ==== per shard: succeeded = acknowledged rows by shard_of(user_id); failed = ERRORs by the shard they name ====
WITH s AS (SELECT shard_id FROM shardroute.shards
           UNION ALL SELECT NULL)
SELECT coalesce(s.shard_id::text, 'none named') AS shard,
       (SELECT count(*) FROM drill d WHERE d.ok AND d.owner_shard = s.shard_id) AS succeeded,
       (SELECT count(*) FROM drill d WHERE NOT d.ok AND d.named_shard IS NOT DISTINCT FROM s.shard_id) AS failed,
       (SELECT count(*) FROM drill d WHERE NOT d.ok AND d.owner_shard IS NOT DISTINCT FROM s.shard_id
                                       AND d.user_id IS NOT NULL) AS failed_by_user_shard
  FROM s ORDER BY s.shard_id NULLS LAST;
\echo (failed_by_user_shard: the same failures, by the shard that owns the user_id of the statement)

\echo ==== distinct errors ====
SELECT named_shard AS shard, sqlstate, message, count(*) AS n,
       count(*) FILTER (WHERE owner_shard IS DISTINCT FROM named_shard) AS user_on_other_shard
  FROM drill WHERE NOT ok GROUP BY 1, 2, 3 ORDER BY 1 NULLS LAST, 4 DESC;

-- When the failures happened: each failure lies between the created_at of
-- its worker's acknowledged rows just before and just after it.
CREATE TEMP TABLE stored AS
    SELECT order_id, user_id, created_at FROM orders WHERE symbol = 'DRILL';
CREATE TEMP TABLE timed AS
    SELECT d.*, s.created_at FROM drill d LEFT JOIN stored s ON d.ok AND s.order_id = d.order_id;
CREATE TEMP TABLE failure_window AS
    SELECT f.worker, f.line, f.owner_shard, f.named_shard, f.message,
           (SELECT max(t.created_at) FROM timed t WHERE t.worker = f.worker AND t.ok AND t.line < f.line) AS lo,
           (SELECT min(t.created_at) FROM timed t WHERE t.worker = f.worker AND t.ok AND t.line > f.line) AS hi
      FROM drill f WHERE NOT f.ok;
\echo ==== timing (t = seconds since the load started) ====
SELECT :'stop_at'::numeric - :'load_start'::numeric AS shard_stop_t,
       :'down_at'::numeric - :'load_start'::numeric AS shard_down_t,
       :'start_at'::numeric - :'load_start'::numeric AS shard_start_t,
       :'up_at'::numeric - :'load_start'::numeric AS shard_up_t \gx
SELECT worker,
       round(extract(epoch FROM min(lo))::numeric - :'load_start', 2) AS first_failure_after_t,
       round(extract(epoch FROM max(hi))::numeric - :'load_start', 2) AS last_failure_before_t,
       count(*) FILTER (WHERE hi < to_timestamp(:'stop_at')) AS failed_before_stop,
       count(*) FILTER (WHERE lo > to_timestamp(:'up_at')) AS failed_after_restart,
       (SELECT count(*) FROM timed t WHERE t.worker = w.worker AND t.ok AND t.owner_shard = :victim
                                      AND t.created_at > to_timestamp(:'up_at')) AS shard_victim_ok_after_restart
  FROM failure_window w GROUP BY worker
UNION ALL
SELECT d.worker, NULL, NULL, 0, 0,
       count(*) FILTER (WHERE t.ok AND t.owner_shard = :victim AND t.created_at > to_timestamp(:'up_at'))
  FROM drill d JOIN timed t USING (worker, line)
 WHERE NOT EXISTS (SELECT 1 FROM failure_window w WHERE w.worker = d.worker)
 GROUP BY d.worker
 ORDER BY 1;
\echo (failed_before_stop: failures followed, in their worker, by an acknowledged row created before the
\echo  shard was stopped; failed_after_restart: failures preceded by one created after it was up again;
\echo  shard_victim_ok_after_restart: acknowledged rows of users of the stopped shard created after it was up again)

\echo
\echo ==== reconcile ====
SELECT count(*) AS acknowledged, count(DISTINCT order_id) AS distinct_ids,
       coalesce(array_agg(order_id ORDER BY order_id), '{}') AS ids
  FROM drill WHERE ok \gset
SELECT count(*) AS present FROM orders WHERE symbol = 'DRILL' AND order_id = ANY (:'ids'::bigint[]) \gset
SELECT count(*) AS drill_total FROM orders WHERE symbol = 'DRILL' \gset
SELECT :acknowledged AS acknowledged, :distinct_ids AS distinct_ids,
       :present AS acknowledged_present, :drill_total AS drill_orders_via_coordinator \gx
SELECT 'acknowledged but missing:' AS "check", count(*) AS n FROM drill d
 WHERE d.ok AND NOT EXISTS (SELECT 1 FROM stored s WHERE s.order_id = d.order_id)
UNION ALL
SELECT 'stored but not acknowledged:', count(*) FROM stored s
 WHERE NOT EXISTS (SELECT 1 FROM drill d WHERE d.ok AND d.order_id = s.order_id);
SELECT 'missing' AS kind, d.worker, d.line, d.order_id, d.user_id, d.owner_shard AS shard, NULL::timestamptz AS created_at
  FROM drill d
 WHERE d.ok AND NOT EXISTS (SELECT 1 FROM stored s WHERE s.order_id = d.order_id)
UNION ALL
SELECT 'not acknowledged', NULL, NULL, s.order_id, s.user_id, shardroute.shard_of(s.user_id), s.created_at
  FROM stored s
 WHERE NOT EXISTS (SELECT 1 FROM drill d WHERE d.ok AND d.order_id = s.order_id)
 ORDER BY 4 LIMIT 20;
\echo (up to 20 of the orders that differ are listed above)
-- for the shell: the counts above, and acknowledged rows per shard
\pset format unaligned
\pset tuples_only on
\pset fieldsep ' '
\o :summary
SELECT :acknowledged, :distinct_ids, :present, :drill_total,
       (SELECT count(*) FROM drill WHERE NOT ok AND sqlstate = '08006');
\o :per_shard
SELECT owner_shard, count(*) FROM drill WHERE ok GROUP BY 1 ORDER BY 1;
\o
SQL

REPORT_FILES=(summary per_shard)
sql_coord -v victim="$VICTIM" \
	-v load_start="$LOAD_START" -v stop_at="$STOP_AT" -v down_at="$DOWN_AT" \
	-v start_at="$START_AT" -v up_at="$UP_AT" \
	-v summary="$WORK/${REPORT_FILES[0]}.txt" -v per_shard="$WORK/${REPORT_FILES[1]}.txt" \
	-f "$WORK/report.sql" <"$STATEMENT_ROWS" ||
	die "the accounting on the coordinator failed"

read -r ACKED DISTINCT PRESENT TOTAL AMBIGUOUS <"$WORK/summary.txt"
declare -A ACK_ON
while read -r s n; do
	ACK_ON[$s]=$n
done <"$WORK/per_shard.txt"

echo "DRILL orders counted on each shard directly (trading_db, as postgres):"
SUM=0
for ((i = 0; i < SHARD_COUNT; i++)); do
	n=$(sql_shard "$i" -At -c "SELECT count(*) FROM orders WHERE symbol = 'DRILL'")
	printf '  shard %d: %6d stored, %6d acknowledged\n' "$i" "$n" "${ACK_ON[$i]:-0}"
	SUM=$((SUM + n))
done
printf '  sum:     %6d stored, %6d acknowledged\n' "$SUM" "$ACKED"

# A statement that lost its shard connection after it was sent (08006) has
# an unknown outcome, as a COMMIT has for any client whose server dies while
# answering: the shard may have committed it.  So up to that many stored
# orders may lack an acknowledgement; none may lack its row.
RECONCILE=OK
((ACKED == DISTINCT && PRESENT == ACKED && TOTAL == SUM && TOTAL >= ACKED &&
	TOTAL - ACKED <= AMBIGUOUS)) || RECONCILE=FAILED
echo "reconcile: $RECONCILE (acknowledged $ACKED, distinct ids $DISTINCT, acknowledged present via coordinator $PRESENT, DRILL orders via coordinator $TOTAL, DRILL orders summed over shards $SUM; stored but not acknowledged $((TOTAL - ACKED)), at most $AMBIGUOUS possible: statements whose shard connection was lost after they were sent, 08006)"

echo
echo "==== health ===="
sql_coord -c 'SELECT * FROM shardroute.health()'
sql_coord -c 'SELECT * FROM shardroute.stat_shards ORDER BY shard_id'
echo "in-doubt (prepared) transactions on each shard (pg_prepared_xacts):"
for ((i = 0; i < SHARD_COUNT; i++)); do
	rows=$(sql_shard "$i" -At -F ' ' -c 'SELECT gid, prepared, owner, database FROM pg_prepared_xacts ORDER BY prepared')
	printf '  shard %d: %s\n' "$i" "${rows:-none}"
	[[ -z $rows ]] || ANOMALIES+=("shard $i holds prepared transactions: $rows")
done

echo
echo "==== observations ===="
if ((${#ANOMALIES[@]})); then
	printf '%s\n' "${ANOMALIES[@]}"
else
	echo "no unexpected psql output, every worker exited with status 0"
fi
echo "worker scripts, outputs and server logs: $WORK"
[[ $RECONCILE == OK ]]
