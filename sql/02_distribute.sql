-- distribute_table: the trading schema, moving existing rows, and refusals.
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE TABLE users (user_id bigint PRIMARY KEY, username text NOT NULL, balance numeric(18,2) NOT NULL DEFAULT 0,
                    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (order_id bigserial, user_id bigint NOT NULL, symbol text NOT NULL,
                     side text NOT NULL CHECK (side IN ('buy', 'sell')), quantity numeric(18,4) NOT NULL CHECK (quantity > 0),
                     price numeric(18,4) NOT NULL, status text NOT NULL DEFAULT 'new',
                     created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, order_id));
CREATE INDEX orders_user_created ON orders (user_id, created_at);
CREATE TABLE positions (user_id bigint NOT NULL, symbol text NOT NULL, quantity numeric(18,4) NOT NULL DEFAULT 0,
                        updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, symbol));
CREATE TABLE trades (trade_id bigserial, user_id bigint NOT NULL, order_id bigint NOT NULL, symbol text NOT NULL,
                     quantity numeric(18,4) NOT NULL, PRIMARY KEY (user_id, trade_id));
CREATE TABLE audit_logs (log_id bigserial, user_id bigint NOT NULL, action text NOT NULL, details jsonb,
                         created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, log_id));
-- rows already on the coordinator move to their shards
INSERT INTO users (user_id, username) SELECT g, 'user' || g FROM generate_series(1, 30) g;
SELECT shardroute.distribute_table('users');
SELECT shardroute.distribute_table('orders');
SELECT shardroute.distribute_table('positions', 'user_id');
SELECT shardroute.distribute_table('trades');
SELECT shardroute.distribute_table('audit_logs');
SELECT relid, key_column FROM shardroute.distributed_table ORDER BY relid::text;
SELECT relid, shard_id, foreign_table FROM shardroute.placement WHERE relid = 'orders'::regclass ORDER BY shard_id;
SELECT count(*) AS users_via_router FROM users;
-- refusals
CREATE TABLE no_key (id bigint PRIMARY KEY, user_id bigint);
SELECT shardroute.distribute_table('no_key');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE uniq_no_key (user_id bigint, email text UNIQUE);
SELECT shardroute.distribute_table('uniq_no_key');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bad_type (user_id numeric PRIMARY KEY);
SELECT shardroute.distribute_table('bad_type');
\echo :LAST_ERROR_SQLSTATE
SELECT shardroute.distribute_table('bad_type', 'nope');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW v AS SELECT 1 AS user_id;
SELECT shardroute.distribute_table('v');
\echo :LAST_ERROR_SQLSTATE
SELECT shardroute.distribute_table('users');
\echo :LAST_ERROR_SQLSTATE
-- a table already on a shard is used only if it has the same columns
SELECT shardroute.shard_execute(1, 'CREATE TABLE public.leftover (user_id bigint PRIMARY KEY, v text)');
CREATE TABLE leftover (user_id bigint PRIMARY KEY, v integer);
INSERT INTO leftover VALUES (1, 1);
SELECT shardroute.distribute_table('leftover');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS shards_with_leftover FROM shardroute.run_on_shards(
  'SELECT pg_catalog.to_regclass(''public.leftover'') IS NOT NULL') WHERE value = 't';
ALTER TABLE leftover ALTER COLUMN v TYPE text;
SELECT shardroute.distribute_table('leftover');
SELECT user_id, v FROM leftover;
DROP TABLE leftover;
SELECT shard_id, value FROM shardroute.run_on_shards('DROP TABLE public.leftover') ORDER BY shard_id;
-- on each shard, the same table: columns, defaults, constraints, indexes
\i sql/shards.inc
\c :"shard1"
\d orders
SELECT count(*) AS users_on_shard1 FROM users;
\c :"coord"
-- every user sits on the shard shard_of names
SELECT count(*) FILTER (WHERE shardroute.shard_of(user_id) = 0) AS expected_0,
       count(*) FILTER (WHERE shardroute.shard_of(user_id) = 1) AS expected_1,
       count(*) FILTER (WHERE shardroute.shard_of(user_id) = 2) AS expected_2
  FROM users;
