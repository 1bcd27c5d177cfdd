-- Other key types (text, uuid, integer), large INSERT ... SELECT in several
-- batches per shard, and rows checked on each shard.
\set VERBOSITY terse
\set SHOW_CONTEXT never
\i sql/shards.inc
CREATE TABLE accounts_by_name (name text PRIMARY KEY, balance int NOT NULL DEFAULT 0);
SELECT shardroute.distribute_table('accounts_by_name', 'name');
CREATE TABLE devices (device uuid PRIMARY KEY, label text);
SELECT shardroute.distribute_table('devices', 'device');
CREATE TABLE small_keys (k integer PRIMARY KEY, v text);
SELECT shardroute.distribute_table('small_keys', 'k');
INSERT INTO accounts_by_name (name) SELECT 'user-' || g FROM generate_series(1, 300) g;
INSERT INTO devices SELECT md5(g::text)::uuid, 'd' || g FROM generate_series(1, 300) g;
UPDATE accounts_by_name SET balance = 10 WHERE name = 'user-42' RETURNING name, balance;
SELECT label FROM devices WHERE device = md5('7')::uuid;
EXPLAIN (COSTS OFF) SELECT * FROM accounts_by_name WHERE name = 'user-42';
SELECT shardroute.shard_of('user-42'::text) AS shard_of_name, shardroute.shard_of(md5('7')::uuid) AS shard_of_device;
-- more rows per shard than one batch holds: several batches, committed as one
INSERT INTO small_keys SELECT g, 'v' FROM generate_series(1, 5000) g;
SELECT count(*), min(k), max(k) FROM small_keys;
SELECT * FROM shardroute.verify_placement('accounts_by_name');
SELECT * FROM shardroute.verify_placement('devices');
SELECT shard_id, rows FROM shardroute.distribution('small_keys');
SELECT shardroute.shard_of(g) AS shard, count(*) FROM generate_series(1, 5000) g GROUP BY 1 ORDER BY 1;
-- a failing row rolls back every batch of the statement, on every shard
INSERT INTO small_keys SELECT g, 'w' FROM generate_series(5001, 9000) g
UNION ALL SELECT 1, 'duplicate';
SELECT count(*) FROM small_keys;
\c :"shard0"
SELECT count(*) AS small_keys_on_shard0 FROM small_keys;
\c :"coord"
