-- A role granted shardroute_admin, not a superuser, registers shards,
-- distributes a table and reads the toolkit, in a database of its own.
\set VERBOSITY terse
\set SHOW_CONTEXT never
\i sql/shards.inc
CREATE DATABASE sr_admin_test;
CREATE ROLE sr_dba LOGIN IN ROLE shardroute_admin;
\c sr_admin_test
CREATE EXTENSION shardroute CASCADE;
GRANT CREATE ON SCHEMA public TO sr_dba;
SET ROLE sr_dba;
SELECT shardroute.add_shard(format('postgresql://trading_user:trading_password@127.0.0.1:%s/contrib_regression', :'p0'));
SELECT shardroute.add_shard(format('postgresql://trading_user:trading_password@127.0.0.1:%s/contrib_regression', :'p1'));
CREATE TABLE admin_t (user_id bigint PRIMARY KEY, v text);
INSERT INTO admin_t SELECT g, 'v' FROM generate_series(1, 100) g;
SELECT shardroute.distribute_table('admin_t');
SELECT shard_id, rows, slots FROM shardroute.distribution('admin_t');
SELECT shard_id, misplaced_rows FROM shardroute.verify_placement('admin_t');
SELECT shard_id, reachable FROM shardroute.health();
SELECT count(*) FROM admin_t WHERE user_id = 42;
-- the table stays on the shards; remove it there
SELECT shardroute.shard_execute(0, 'DROP TABLE public.admin_t');
SELECT shardroute.shard_execute(1, 'DROP TABLE public.admin_t');
RESET ROLE;
\c :"coord"
DROP DATABASE sr_admin_test;
DROP ROLE sr_dba;
