-- shardroute errors: the SQLSTATE and message of each bad input to
-- add_shard, add_shard_server and distribute_table.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION shardroute CASCADE;

CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER tap_dummy_server FOREIGN DATA WRAPPER dummy_fdw;

CREATE TABLE public.tap_ok (user_id bigint PRIMARY KEY, note text);
CREATE VIEW public.tap_view AS SELECT * FROM public.tap_ok;
CREATE MATERIALIZED VIEW public.tap_matview AS SELECT * FROM public.tap_ok;
CREATE SEQUENCE public.tap_seq;
CREATE TABLE public.tap_pk_without_key (id bigint PRIMARY KEY, user_id bigint NOT NULL);
CREATE TABLE public.tap_unique_without_key (user_id bigint, email text UNIQUE);
CREATE UNIQUE INDEX tap_unique_index ON public.tap_ok (note);
CREATE TABLE public.tap_no_key (id bigint PRIMARY KEY);
CREATE TABLE public.tap_numeric_key (user_id numeric PRIMARY KEY);
CREATE TABLE public.tap_timestamp_key (created timestamptz PRIMARY KEY);
CREATE TABLE public.tap_parent (user_id bigint);
CREATE TABLE public.tap_child () INHERITS (public.tap_parent);
CREATE TABLE public.tap_referenced (user_id bigint PRIMARY KEY);
CREATE TABLE public.tap_referencing (user_id bigint REFERENCES public.tap_referenced);
CREATE TABLE public.tap_varchar_key (account varchar(40) PRIMARY KEY);
CREATE TABLE public.tap_dropped_key (keep bigint, user_id bigint);
ALTER TABLE public.tap_dropped_key DROP COLUMN user_id;

SELECT plan(30);

-- add_shard
SELECT throws_ok('SELECT shardroute.add_shard(NULL)', '22004',
                 'shard connection string must not be null',
                 'add_shard(NULL) fails with 22004');
SELECT throws_ok($$SELECT shardroute.add_shard('not a url ===')$$, '22023',
                 'invalid shard connection string',
                 'add_shard of a malformed connection string fails with 22023');
SELECT throws_ok($$SELECT shardroute.add_shard('postgresql://[::1')$$, '22023',
                 'invalid shard connection string',
                 'add_shard of a malformed URL fails with 22023');
SELECT throws_ok($$SELECT shardroute.add_shard('host=127.0.0.1 no_such_option=1')$$, '22023',
                 'invalid shard connection string',
                 'add_shard of an unknown connection option fails with 22023');
SELECT is_empty('SELECT * FROM shardroute.shard', 'failed add_shard calls register nothing');
SELECT is_empty($$SELECT 1 FROM pg_foreign_server WHERE srvname LIKE 'shardroute_shard_%'$$,
                'failed add_shard calls create no server');

-- add_shard_server
SELECT throws_ok($$SELECT shardroute.add_shard_server('nosuch')$$, '42704',
                 'server "nosuch" does not exist',
                 'add_shard_server of a missing server fails with 42704');
SELECT throws_ok('SELECT shardroute.add_shard_server(NULL)', '42704', NULL,
                 'add_shard_server(NULL) fails with 42704');
SELECT throws_ok($$SELECT shardroute.add_shard_server('tap_dummy_server')$$, '42809',
                 'server "tap_dummy_server" does not use postgres_fdw',
                 'add_shard_server of a server of another wrapper fails with 42809');

-- distribute_table: what cannot be distributed at all
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_view')$$, '42809',
                 'cannot distribute "public.tap_view"',
                 'distribute_table of a view fails with 42809');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_matview')$$, '42809',
                 'cannot distribute "public.tap_matview"',
                 'distribute_table of a materialized view fails with 42809');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_seq')$$, '42809',
                 'cannot distribute "public.tap_seq"',
                 'distribute_table of a sequence fails with 42809');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.no_such_table')$$, '42P01',
                 'relation "public.no_such_table" does not exist',
                 'distribute_table of a missing table fails with 42P01');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_parent')$$, '0A000',
                 'cannot distribute table "public.tap_parent" because it takes part in inheritance',
                 'distribute_table of an inheritance parent fails with 0A000');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_child')$$, '0A000',
                 'cannot distribute table "public.tap_child" because it takes part in inheritance',
                 'distribute_table of an inheritance child fails with 0A000');

-- distribute_table: the key column
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_no_key')$$, '42703',
                 'column "user_id" of relation "public.tap_no_key" does not exist',
                 'distribute_table without the default key column fails with 42703');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_ok', 'account_id')$$, '42703',
                 'column "account_id" of relation "public.tap_ok" does not exist',
                 'distribute_table by a missing key column fails with 42703');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_dropped_key')$$, '42703',
                 'column "user_id" of relation "public.tap_dropped_key" does not exist',
                 'distribute_table by a dropped column fails with 42703');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_numeric_key')$$, '42804',
                 'column "user_id" of type numeric cannot be a distribution column',
                 'distribute_table by a numeric column fails with 42804');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_timestamp_key', 'created')$$, '42804',
                 'column "created" of type timestamp with time zone cannot be a distribution column',
                 'distribute_table by a timestamptz column fails with 42804');

-- distribute_table: constraints each shard could not enforce
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_pk_without_key')$$, '42P16',
                 'cannot distribute table "public.tap_pk_without_key" by "user_id"',
                 'distribute_table of a table whose primary key lacks the key fails with 42P16');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_unique_without_key')$$, '42P16',
                 'cannot distribute table "public.tap_unique_without_key" by "user_id"',
                 'distribute_table of a table whose unique constraint lacks the key fails with 42P16');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_ok')$$, '42P16',
                 'cannot distribute table "public.tap_ok" by "user_id"',
                 'distribute_table of a table whose unique index lacks the key fails with 42P16');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_referencing')$$, '0A000',
                 'cannot distribute table "public.tap_referencing" because it has foreign keys',
                 'distribute_table of a referencing table fails with 0A000');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_referenced')$$, '0A000',
                 'cannot distribute table "public.tap_referenced" because it has foreign keys',
                 'distribute_table of a referenced table fails with 0A000');

-- distribute_table: no shards
DROP INDEX public.tap_unique_index;
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_ok')$$, '55000',
                 'no shards are registered',
                 'distribute_table with no shards registered fails with 55000');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_varchar_key', 'account')$$, '55000',
                 'no shards are registered',
                 'a varchar key is accepted; with no shards registered it fails with 55000');

-- Nothing was recorded by the failures
SELECT is_empty('SELECT * FROM shardroute.distributed_table', 'failed calls distribute nothing');
SELECT is_empty('SELECT * FROM shardroute.placement', 'failed calls create no placement');
SELECT is_empty('SELECT * FROM shardroute.slot', 'failed calls assign no slot');

SELECT * FROM finish();
ROLLBACK;
