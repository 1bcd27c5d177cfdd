-- shardroute shards: registering shards with add_shard (connection string and
-- URL with a +driver scheme) and add_shard_server, the shards view, the slot
-- map and shard_of, shard_execute, and distribute_table moving rows to the
-- shards that own their keys.  Talks to the cluster's shards: database
-- shardroute_tap as trading_user; shard I listens on the coordinator's port
-- + 1 + I.  Everything, on the shards too, is rolled back at the end.
\getenv shard_password SHARDROUTE_SHARD_PASSWORD
\if :{?shard_password}
\else
\set shard_password trading_password
\endif

BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;
SET LOCAL shardroute.slot_count = 4096;
CREATE EXTENSION shardroute CASCADE;

CREATE TEMPORARY TABLE tap_conf ON COMMIT DROP AS
SELECT current_setting('port')::integer AS coordinator_port,
       :'shard_password'::text AS password;
GRANT SELECT ON tap_conf TO PUBLIC;

SELECT plan(33);

-- Shard 0: a libpq connection string.  (add_shard runs in a statement of its
-- own, not as an argument of is(); see 07_cache_in_function.sql.)
SELECT shardroute.add_shard(format(
           'host=127.0.0.1 port=%s dbname=shardroute_tap user=trading_user password=''%s''',
           coordinator_port + 1,
           replace(replace(password, '\', '\\'), '''', '\'''))) AS shard_a
  FROM tap_conf \gset
SELECT is(:shard_a, 0, 'add_shard of a connection string registers shard 0');
SELECT results_eq('SELECT shard_id, server, host, port, dbname, slots FROM shardroute.shards',
                  $$SELECT 0, 'shardroute_shard_0'::name, '127.0.0.1'::text, coordinator_port + 1,
                           'shardroute_tap'::text, 4096 FROM tap_conf$$,
                  'shardroute.shards shows shard 0 with every slot');
SELECT results_eq(
    $$SELECT w.fdwname = 'postgres_fdw',
             (SELECT string_agg(o, ' ' ORDER BY o) FROM unnest(s.srvoptions) o) COLLATE "default"
        FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
       WHERE s.srvname = 'shardroute_shard_0'$$,
    $$SELECT true, format('dbname=shardroute_tap host=127.0.0.1 port=%s', coordinator_port + 1)
        FROM tap_conf$$,
    'add_shard creates a postgres_fdw server with the connection options');
SELECT results_eq(
    $$SELECT m.umuser = current_user::regrole::oid,
             (SELECT array_agg(o.option_name::text ORDER BY o.option_name) FROM pg_options_to_table(m.umoptions) o)
        FROM pg_user_mappings m WHERE m.srvname = 'shardroute_shard_0'$$,
    $$VALUES (true, ARRAY['password', 'user'])$$,
    'add_shard keeps user and password in a user mapping for the current user');
SELECT is(shardroute.shard_of(1::bigint), 0, 'with one shard every key belongs to shard 0');

-- Shard 1: a URL with a +driver scheme, every byte of the password escaped
SELECT shardroute.add_shard(format(
           'postgresql+asyncpg://trading_user:%s@127.0.0.1:%s/shardroute_tap',
           (SELECT string_agg('%' || substr(h, i, 2), '' ORDER BY i)
              FROM (SELECT encode(convert_to(password, 'UTF8'), 'hex') AS h) x,
                   generate_series(1, length(h), 2) i),
           coordinator_port + 2)) AS shard_b
  FROM tap_conf \gset
SELECT is(:shard_b, 1, 'add_shard of a postgresql+asyncpg:// URL registers shard 1');
SELECT results_eq('SELECT shard_id, slots FROM shardroute.shards ORDER BY shard_id',
                  'VALUES (0, 2048), (1, 2048)',
                  'two shards share the slots evenly');

-- Shard 2: an existing postgres_fdw server
SELECT lives_ok(format($$CREATE SERVER tap_shard_2 FOREIGN DATA WRAPPER postgres_fdw
                         OPTIONS (host '127.0.0.1', port '%s', dbname 'shardroute_tap')$$,
                       coordinator_port + 3), 'create a postgres_fdw server for shard 2')
  FROM tap_conf;
SELECT lives_ok(format($$CREATE USER MAPPING FOR CURRENT_USER SERVER tap_shard_2
                         OPTIONS (user 'trading_user', password %L)$$, password),
                'create its user mapping')
  FROM tap_conf;
SELECT shardroute.add_shard_server('tap_shard_2') AS shard_c \gset
SELECT is(:shard_c, 2, 'add_shard_server registers shard 2');
SELECT throws_ok($$SELECT shardroute.add_shard_server('tap_shard_2')$$, '42710',
                 'server "tap_shard_2" is already a shard',
                 'add_shard_server of a registered server fails with 42710');
SELECT results_eq(
    $$SELECT shard_id, server, port, slots FROM shardroute.shards ORDER BY shard_id$$,
    $$SELECT 0, 'shardroute_shard_0'::name, coordinator_port + 1, 1366 FROM tap_conf
      UNION ALL SELECT 1, 'shardroute_shard_1'::name, coordinator_port + 2, 1365 FROM tap_conf
      UNION ALL SELECT 2, 'tap_shard_2'::name, coordinator_port + 3, 1365 FROM tap_conf$$,
    'three shards own contiguous thirds of the slots');
SELECT results_eq(
    'SELECT shard_id, min(slot), max(slot) FROM shardroute.slot GROUP BY shard_id ORDER BY shard_id',
    'VALUES (0, 0, 1365), (1, 1366, 2730), (2, 2731, 4095)',
    'the slot map assigns ranges of slots in shard order');

-- shard_of follows the slot map
SELECT is(shardroute.shard_of(1::bigint), 2, 'shard_of(1::bigint) = 2 (slot 2860)');
SELECT is(shardroute.shard_of('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid), 0,
          'shard_of(a0eebc99-...) = 0 (slot 159)');
SELECT is(shardroute.shard_of('hello world'::text), 1, $$shard_of('hello world') = 1 (slot 1493)$$);
SELECT is_empty(
    $$SELECT k FROM generate_series(-1000, 1000) k
       WHERE shardroute.shard_of(k::bigint) IS DISTINCT FROM
             (SELECT shard_id FROM shardroute.slot WHERE slot = shardroute.slot_of(k::bigint))
          OR shardroute.shard_of(k::integer) <> shardroute.shard_of(k::bigint)
          OR shardroute.shard_of(k::text) IS DISTINCT FROM
             (SELECT shard_id FROM shardroute.slot WHERE slot = shardroute.slot_of(k::text))$$,
    'shard_of is the owner of slot_of in the slot map');

-- shard_execute
SELECT is(shardroute.shard_execute(s, 'SELECT current_database()'), 'shardroute_tap',
          format('shard_execute reaches database shardroute_tap on shard %s', s))
  FROM generate_series(0, 2) s;
SELECT is(shardroute.shard_execute(1, 'SHOW port'), (coordinator_port + 2)::text,
          'shard_execute(1, ...) runs on the server of shard 1')
  FROM tap_conf;
SELECT is(shardroute.shard_execute(0, 'CREATE TEMPORARY TABLE tap_tmp (a integer)'), 'CREATE TABLE',
          'shard_execute returns the command tag of a command without rows');
SELECT throws_ok($$SELECT shardroute.shard_execute(7, 'SELECT 1')$$, '42704',
                 'shard 7 does not exist', 'shard_execute on an unknown shard fails with 42704');

-- distribute_table moves the rows to the shards that own their keys
CREATE TABLE public.tap_orders (
    user_id bigint NOT NULL,
    order_id bigint NOT NULL,
    qty integer NOT NULL CHECK (qty > 0),
    PRIMARY KEY (user_id, order_id)
);
INSERT INTO public.tap_orders SELECT u, o, u + o FROM generate_series(1, 60) u, generate_series(1, 3) o;
SELECT lives_ok($$SELECT shardroute.distribute_table('public.tap_orders')$$,
                'distribute_table by the default key column user_id');
SELECT results_eq($$SELECT relid, key_column FROM shardroute.distributed_table$$,
                  $$VALUES ('public.tap_orders'::regclass, 'user_id'::name)$$,
                  'tap_orders is recorded as distributed by user_id');
SELECT results_eq(
    'SELECT shard_id, foreign_table::text FROM shardroute.placement ORDER BY shard_id',
    $$VALUES (0, 'shardroute_shards.public_tap_orders_0'), (1, 'shardroute_shards.public_tap_orders_1'),
             (2, 'shardroute_shards.public_tap_orders_2')$$,
    'one placement per shard, each a foreign table in shardroute_shards');
-- the rows that were in the coordinator's table moved to their shards
SELECT results_eq(
    $$SELECT s, shardroute.shard_execute(s, 'SELECT count(*) FROM public.tap_orders')::bigint
        FROM generate_series(0, 2) s ORDER BY s$$,
    $$SELECT s, (SELECT count(*) * 3 FROM generate_series(1, 60) u WHERE shardroute.shard_of(u::bigint) = s)
        FROM generate_series(0, 2) s ORDER BY s$$,
    'each shard holds exactly the rows of the users it owns');
SELECT is((SELECT count(*)::integer FROM public.tap_orders), 180,
          'every row is still read through the coordinator');
-- Rows written after distribution are routed to the shards that own them
INSERT INTO public.tap_orders SELECT u, o, u + o FROM generate_series(61, 90) u, generate_series(1, 2) o;
SELECT results_eq(
    $$SELECT s, shardroute.shard_execute(s, 'SELECT count(*) FROM public.tap_orders WHERE user_id > 60')::bigint
        FROM generate_series(0, 2) s ORDER BY s$$,
    $$SELECT s, (SELECT count(*) * 2 FROM generate_series(61, 90) u WHERE shardroute.shard_of(u::bigint) = s)
        FROM generate_series(0, 2) s ORDER BY s$$,
    'rows inserted after distribution land on the shards that own their users');
SELECT is((SELECT count(*)::integer FROM public.tap_orders WHERE user_id > 60), 60,
          'rows inserted after distribution are read back through the coordinator');
SELECT results_eq(
    $$SELECT order_id, qty FROM public.tap_orders WHERE user_id = 77 ORDER BY order_id$$,
    $$VALUES (1::bigint, 78), (2::bigint, 79)$$,
    'a single user''s rows are read back from its shard');
SELECT is(shardroute.shard_execute(shardroute.shard_of(77::bigint),
                                   'SELECT count(*) FROM public.tap_orders WHERE user_id = 77'), '2',
          'user 77''s rows are stored on shard_of(77)');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_orders')$$, '42710',
                 'table "public.tap_orders" is already distributed',
                 'distribute_table of a distributed table fails with 42710');

SELECT * FROM finish();
ROLLBACK;
