-- shardroute privileges: the administration functions and internal helpers
-- are not executable by PUBLIC, so an ordinary role gets SQLSTATE 42501; the
-- hash functions, the catalog and the shards view stay usable by everyone,
-- and only superusers may change the catalog or shardroute.slot_count.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION shardroute CASCADE;
CREATE ROLE shardroute_tap_app NOLOGIN NOSUPERUSER;
CREATE TABLE public.tap_priv (user_id bigint PRIMARY KEY);
GRANT ALL ON public.tap_priv TO shardroute_tap_app;

SELECT plan(58);

-- ACLs: no EXECUTE for PUBLIC on the administration functions and helpers
SELECT function_privs_are('shardroute', f, a, 'public', ARRAY[]::text[],
                          format('PUBLIC cannot execute shardroute.%s(%s)', f, array_to_string(a, ', ')))
  FROM (VALUES ('add_shard', ARRAY['text']),
               ('add_shard_server', ARRAY['name']),
               ('distribute_table', ARRAY['regclass', 'name']),
               ('shard_execute', ARRAY['integer', 'text']),
               ('create_placement', ARRAY['regclass', 'integer']),
               ('table_ddl', ARRAY['regclass']),
               ('parse_conninfo', ARRAY['text']),
               ('run_on_shards', ARRAY['text']),
               ('distributed_name', ARRAY['regclass']),
               ('distribution', ARRAY['regclass']),
               ('verify_placement', ARRAY['regclass']),
               ('shard_health', ARRAY[]::text[]),
               ('health', ARRAY[]::text[]),
               ('register_shard', ARRAY['integer', 'text']),
               ('stat_shards_counters', ARRAY[]::text[]),
               ('stat_shards_reset', ARRAY[]::text[]),
               ('shards_for', ARRAY['text']),
               ('recover_prepared', ARRAY[]::text[]),
               ('log_topology', ARRAY[]::text[])) v(f, a);

-- the administration functions belong to shardroute_admin, the read-only
-- toolkit to shardroute_monitor too
SELECT function_privs_are('shardroute', f, a, 'shardroute_admin', ARRAY['EXECUTE'],
                          format('shardroute_admin can execute shardroute.%s', f))
  FROM (VALUES ('add_shard', ARRAY['text']),
               ('add_shard_server', ARRAY['name']),
               ('distribute_table', ARRAY['regclass', 'name']),
               ('shard_execute', ARRAY['integer', 'text']),
               ('run_on_shards', ARRAY['text']),
               ('register_shard', ARRAY['integer', 'text']),
               ('distribution', ARRAY['regclass']),
               ('verify_placement', ARRAY['regclass'])) v(f, a);
SELECT function_privs_are('shardroute', f, ARRAY['regclass'], 'shardroute_monitor', ARRAY['EXECUTE'],
                          format('shardroute_monitor can execute shardroute.%s', f))
  FROM unnest(ARRAY['distribution', 'verify_placement']) f;
SELECT function_privs_are('shardroute', 'health', ARRAY[]::text[], r, ARRAY['EXECUTE'],
                          format('%s can execute shardroute.health()', r))
  FROM unnest(ARRAY['shardroute_admin', 'shardroute_monitor']) r;
SELECT function_privs_are('shardroute', 'run_on_shards', ARRAY['text'], 'shardroute_monitor',
                          ARRAY[]::text[], 'shardroute_monitor cannot run commands on shards');

-- ... but EXECUTE for PUBLIC on the hash functions
SELECT function_privs_are('shardroute', f, ARRAY[t], 'public', ARRAY['EXECUTE'],
                          format('PUBLIC can execute shardroute.%s(%s)', f, t))
  FROM unnest(ARRAY['slot_of', 'shard_of']) f,
       unnest(ARRAY['smallint', 'integer', 'bigint', 'text', 'uuid']) t;

-- An ordinary role is refused the administration functions
SET LOCAL ROLE shardroute_tap_app;
SELECT throws_ok($$SELECT shardroute.add_shard('host=127.0.0.1 dbname=shardroute_tap')$$,
                 '42501', 'permission denied for function add_shard',
                 'an ordinary role cannot call add_shard');
SELECT throws_ok($$SELECT shardroute.add_shard_server('any_server')$$,
                 '42501', 'permission denied for function add_shard_server',
                 'an ordinary role cannot call add_shard_server');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_priv')$$,
                 '42501', 'permission denied for function distribute_table',
                 'an ordinary role cannot call distribute_table');
SELECT throws_ok($$SELECT shardroute.distribute_table('public.tap_priv', 'user_id')$$,
                 '42501', 'permission denied for function distribute_table',
                 'an ordinary role cannot call distribute_table with a key column');
SELECT throws_ok($$SELECT shardroute.shard_execute(0, 'SELECT 1')$$,
                 '42501', 'permission denied for function shard_execute',
                 'an ordinary role cannot call shard_execute');
SELECT throws_ok($$SELECT shardroute.create_placement('public.tap_priv', 0)$$,
                 '42501', 'permission denied for function create_placement',
                 'an ordinary role cannot call create_placement');
SELECT throws_ok($$SELECT shardroute.table_ddl('public.tap_priv')$$,
                 '42501', 'permission denied for function table_ddl',
                 'an ordinary role cannot call table_ddl');
SELECT throws_ok($$SELECT * FROM shardroute.parse_conninfo('host=x')$$,
                 '42501', 'permission denied for function parse_conninfo',
                 'an ordinary role cannot call parse_conninfo');

-- ... may hash keys and read the catalog
SELECT is(shardroute.slot_of(1::bigint), 2860, 'an ordinary role can call slot_of');
SELECT lives_ok('SELECT * FROM shardroute.shards', 'an ordinary role can read shardroute.shards');
SELECT lives_ok('SELECT * FROM shardroute.cluster, shardroute.shard, shardroute.slot,
                        shardroute.distributed_table, shardroute.placement',
                'an ordinary role can read the catalog tables');

-- ... but not change it
SELECT throws_ok($$INSERT INTO shardroute.shard VALUES (0, 'any_server')$$,
                 '42501', 'permission denied for table shard',
                 'an ordinary role cannot register a shard by hand');
SELECT throws_ok('DELETE FROM shardroute.slot',
                 '42501', 'permission denied for table slot',
                 'an ordinary role cannot change the slot map');
SELECT throws_ok('UPDATE shardroute.cluster SET slot_count = 8192',
                 '42501', 'permission denied for table cluster',
                 'an ordinary role cannot change the slot count');
SELECT throws_ok($$INSERT INTO shardroute.distributed_table VALUES ('public.tap_priv', 'user_id')$$,
                 '42501', 'permission denied for table distributed_table',
                 'an ordinary role cannot mark a table distributed by hand');
SELECT throws_ok('SET shardroute.slot_count = 8192',
                 '42501', 'permission denied to set parameter "shardroute.slot_count"',
                 'an ordinary role cannot set shardroute.slot_count');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
