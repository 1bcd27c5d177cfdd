-- DBA toolkit: distribution counted on the shards, placement verification
-- with rows misplaced on purpose, and who may call what.
\set VERBOSITY terse
\set SHOW_CONTEXT never
\i sql/shards.inc
CREATE TABLE accounts (user_id bigint PRIMARY KEY, name text);
SELECT shardroute.distribute_table('accounts');
INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 3000) g;
SELECT * FROM shardroute.distribution('accounts');
SELECT sum(rows) AS total, bool_and(abs(deviation_percent) < 5) AS within_5pct
  FROM shardroute.distribution('accounts');
SELECT * FROM shardroute.verify_placement('accounts');
-- misplace rows on purpose, directly on shard 0: keys that belong to shards 1 and 2
SELECT string_agg(g::text, ',' ORDER BY g) AS wrong_keys
  FROM (SELECT g FROM generate_series(100001, 100100) g WHERE shardroute.shard_of(g) <> 0 ORDER BY g LIMIT 4) s \gset
\c :"shard0"
INSERT INTO accounts SELECT unnest(string_to_array(:'wrong_keys', ','))::bigint, 'misplaced';
\c :"coord"
SELECT * FROM shardroute.verify_placement('accounts');
SELECT shard_id, rows FROM shardroute.distribution('accounts');
-- errors and privileges
SELECT * FROM shardroute.distribution('pg_class');
\echo :LAST_ERROR_SQLSTATE
CREATE ROLE sr_monitor_user IN ROLE shardroute_monitor;
CREATE ROLE sr_nobody;
SET ROLE sr_monitor_user;
SELECT shard_id, rows FROM shardroute.distribution('accounts');
SELECT shardroute.distribute_table('accounts');
\echo :LAST_ERROR_SQLSTATE
SET ROLE sr_nobody;
SELECT * FROM shardroute.distribution('accounts');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE sr_monitor_user;
DROP ROLE sr_nobody;
-- health: every shard reachable, with its version and two-phase commit capacity
SELECT shard_id, server, host, port - :coordport::int AS port_offset, reachable, latency_ms >= 0 AS timed,
       server_version LIKE '15.%' AS pg15, max_prepared_transactions > 0 AS can_prepare,
       in_doubt_transactions, error
  FROM shardroute.health();
-- statistics per shard since the last reset
SELECT shardroute.stat_shards_reset();
SELECT min(user_id) AS u0 FROM accounts WHERE shardroute.shard_of(user_id) = 0 \gset
SELECT min(user_id) AS u2 FROM accounts WHERE shardroute.shard_of(user_id) = 2 \gset
SELECT shardroute.stat_shards_reset();
SELECT name FROM accounts WHERE user_id = :u0;
UPDATE accounts SET name = 'renamed' WHERE user_id = :u2;
INSERT INTO accounts VALUES (:u0 + 1000000, 'x'), (:u2 + 1000000, 'y');
SELECT count(*) FROM accounts;
INSERT INTO accounts VALUES (:u0, 'duplicate');
SELECT shard_id, statements, rows, errors, fanouts, two_phase_commits, stats_reset <= now() AS reset_known
  FROM shardroute.stat_shards ORDER BY shard_id;
-- which shards a statement would run on, without running it
SELECT shardroute.shards_for(format('SELECT * FROM accounts WHERE user_id = %s', :u2));
SELECT shardroute.shards_for('SELECT count(*) FROM accounts');
SELECT shardroute.shards_for(format('SELECT * FROM accounts WHERE user_id = %s', :u0));
SELECT shardroute.shards_for('INSERT INTO accounts VALUES (1, ''z'')');
SELECT count(*) FROM accounts WHERE name = 'z';
