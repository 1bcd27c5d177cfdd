-- Two-phase commit: a transaction that writes to two shards prepares both
-- and leaves a commit record; a shard that fails at PREPARE rolls every
-- shard back; one-shard transactions stay one-phase; recovery cleans up.
\set VERBOSITY terse
\set SHOW_CONTEXT never
\i sql/shards.inc
CREATE TABLE ledger (user_id bigint NOT NULL, entry int NOT NULL,
                     CONSTRAINT ledger_once UNIQUE (user_id, entry) DEFERRABLE INITIALLY DEFERRED);
SELECT shardroute.distribute_table('ledger');
SELECT min(g) AS u0 FROM generate_series(1, 100) g WHERE shardroute.shard_of(g) = 0 \gset
SELECT min(g) AS u1 FROM generate_series(1, 100) g WHERE shardroute.shard_of(g) = 1 \gset
SELECT shardroute.stat_shards_reset();
-- earlier tests' commit records are cleaned by recovery, which resolves nothing
SELECT * FROM shardroute.recover_prepared();
SELECT count(*) AS commit_records FROM shardroute.transaction;
-- one shard written: one phase
BEGIN;
INSERT INTO ledger VALUES (:u0, 1);
INSERT INTO ledger VALUES (:u0, 2);
COMMIT;
SELECT shard_id, two_phase_commits FROM shardroute.stat_shards ORDER BY shard_id;
-- two shards written: two phases, a commit record per shard
BEGIN;
INSERT INTO ledger VALUES (:u0, 3);
INSERT INTO ledger VALUES (:u1, 3);
COMMIT;
SELECT shard_id, two_phase_commits FROM shardroute.stat_shards ORDER BY shard_id;
SELECT count(*) AS commit_records FROM shardroute.transaction;
-- a multi-row INSERT for two shards in autocommit is atomic too
INSERT INTO ledger VALUES (:u0, 4), (:u1, 4);
SELECT shard_id, two_phase_commits FROM shardroute.stat_shards ORDER BY shard_id;
-- shard 1 fails at PREPARE (its deferred constraint): nothing commits anywhere
BEGIN;
INSERT INTO ledger VALUES (:u0, 5);
INSERT INTO ledger VALUES (:u1, 5), (:u1, 5);
COMMIT;
SELECT user_id = :u0 AS on_shard0, entry FROM ledger WHERE entry = 5;
SELECT count(*) AS rows_of_entry_5 FROM ledger WHERE entry = 5;
-- nothing is left prepared on any shard; recovery finds nothing to resolve
SELECT shard_id, in_doubt_transactions FROM shardroute.health();
SELECT * FROM shardroute.recover_prepared();
SELECT count(*) AS commit_records FROM shardroute.transaction;
SELECT user_id = :u0 AS on_shard0, entry FROM ledger ORDER BY entry, 1;
-- PREPARE TRANSACTION on the coordinator is refused once shards are used
BEGIN;
INSERT INTO ledger VALUES (:u0, 6);
PREPARE TRANSACTION 'local';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ledger WHERE entry = 6;
-- a SELECT whose WITH query writes counts as a write: two shards, two phases
SELECT shardroute.stat_shards_reset();
BEGIN;
INSERT INTO ledger VALUES (:u0, 7);
WITH moved AS (UPDATE ledger SET entry = 8 WHERE user_id = :u1 AND entry = 4 RETURNING 1)
SELECT count(*) AS moved FROM moved;
COMMIT;
SELECT shard_id, two_phase_commits FROM shardroute.stat_shards ORDER BY shard_id;
SELECT user_id = :u0 AS on_shard0, entry FROM ledger WHERE entry IN (7, 8) ORDER BY entry;
