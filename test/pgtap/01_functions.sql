-- shardroute functions: every function of the extension exists with its exact
-- signature, argument names and defaults, return type, language, volatility,
-- strictness, parallel safety and settings.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION shardroute CASCADE;

SELECT plan(83);

SELECT functions_are('shardroute', ARRAY[
    'slot_of', 'shard_of', 'add_shard', 'add_shard_server', 'distribute_table',
    'parse_conninfo', 'shard_execute', 'table_ddl', 'create_placement',
    'metadata_changed', 'forget_dropped_tables', 'run_on_shards', 'distributed_name',
    'distribution', 'verify_placement', 'shard_health', 'health', 'register_shard',
    'topology_line', 'options_change', 'stat_shards_counters', 'stat_shards_reset',
    'shards_for', 'recover_prepared', 'log_topology'],
    'shardroute has exactly its functions');

-- slot_of and shard_of: one overload per key type, integer result, C,
-- STABLE (they read the cluster's slot count and slot map), STRICT
SELECT has_function('shardroute', f, ARRAY[t], format('shardroute.%s(%s) exists', f, t))
  FROM unnest(ARRAY['slot_of', 'shard_of']) f,
       unnest(ARRAY['smallint', 'integer', 'bigint', 'text', 'uuid']) t;
SELECT function_returns('shardroute', f, ARRAY[t], 'integer',
                        format('shardroute.%s(%s) returns integer', f, t))
  FROM unnest(ARRAY['slot_of', 'shard_of']) f,
       unnest(ARRAY['smallint', 'integer', 'bigint', 'text', 'uuid']) t;
SELECT volatility_is('shardroute', f, ARRAY[t], 'stable',
                     format('shardroute.%s(%s) is STABLE', f, t))
  FROM unnest(ARRAY['slot_of', 'shard_of']) f,
       unnest(ARRAY['smallint', 'integer', 'bigint', 'text', 'uuid']) t;
SELECT is_strict('shardroute', f, ARRAY[t], format('shardroute.%s(%s) is STRICT', f, t))
  FROM unnest(ARRAY['slot_of', 'shard_of']) f,
       unnest(ARRAY['smallint', 'integer', 'bigint', 'text', 'uuid']) t;
SELECT results_eq(
    $$SELECT p.oid::regprocedure::text, l.lanname = 'c', p.proparallel = 's'
        FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
       WHERE p.pronamespace = 'shardroute'::regnamespace AND p.proname IN ('slot_of', 'shard_of')
       ORDER BY 1$$,
    $$VALUES ('shardroute.shard_of(bigint)', true, true), ('shardroute.shard_of(integer)', true, true),
             ('shardroute.shard_of(smallint)', true, true), ('shardroute.shard_of(text)', true, true),
             ('shardroute.shard_of(uuid)', true, true),
             ('shardroute.slot_of(bigint)', true, true), ('shardroute.slot_of(integer)', true, true),
             ('shardroute.slot_of(smallint)', true, true), ('shardroute.slot_of(text)', true, true),
             ('shardroute.slot_of(uuid)', true, true)$$,
    'slot_of and shard_of have exactly these overloads, all in C and PARALLEL SAFE');
SELECT hasnt_function('shardroute', 'slot_of', ARRAY['numeric'], 'there is no slot_of(numeric)');
SELECT hasnt_function('shardroute', 'slot_of', ARRAY['character varying'],
                      'varchar keys go through slot_of(text)');

-- The SQL API
SELECT has_function('shardroute', 'add_shard', ARRAY['text']);
SELECT function_returns('shardroute', 'add_shard', ARRAY['text'], 'integer');
SELECT volatility_is('shardroute', 'add_shard', ARRAY['text'], 'volatile');
SELECT function_lang_is('shardroute', 'add_shard', ARRAY['text'], 'plpgsql');
SELECT isnt_definer('shardroute', 'add_shard', ARRAY['text']);
SELECT is(pg_get_function_arguments('shardroute.add_shard(text)'::regprocedure),
          'conninfo text', 'add_shard takes conninfo text');

SELECT has_function('shardroute', 'add_shard_server', ARRAY['name']);
SELECT function_returns('shardroute', 'add_shard_server', ARRAY['name'], 'integer');
SELECT volatility_is('shardroute', 'add_shard_server', ARRAY['name'], 'volatile');
SELECT function_lang_is('shardroute', 'add_shard_server', ARRAY['name'], 'plpgsql');
SELECT isnt_definer('shardroute', 'add_shard_server', ARRAY['name']);
SELECT is(pg_get_function_arguments('shardroute.add_shard_server(name)'::regprocedure),
          'server name', 'add_shard_server takes server name');

SELECT has_function('shardroute', 'distribute_table', ARRAY['regclass', 'name']);
SELECT function_returns('shardroute', 'distribute_table', ARRAY['regclass', 'name'], 'void');
SELECT volatility_is('shardroute', 'distribute_table', ARRAY['regclass', 'name'], 'volatile');
SELECT function_lang_is('shardroute', 'distribute_table', ARRAY['regclass', 'name'], 'plpgsql');
SELECT isnt_definer('shardroute', 'distribute_table', ARRAY['regclass', 'name']);
SELECT is(pg_get_function_arguments('shardroute.distribute_table(regclass, name)'::regprocedure),
          $$rel regclass, key_column name DEFAULT 'user_id'::name$$,
          'distribute_table takes rel regclass, key_column name DEFAULT user_id');
SELECT hasnt_function('shardroute', 'distribute_table', ARRAY['regclass'],
                      'the one-argument form is the default, not an overload');

-- Internal helpers
SELECT has_function('shardroute', 'parse_conninfo', ARRAY['text']);
SELECT function_returns('shardroute', 'parse_conninfo', ARRAY['text'], 'setof record');
SELECT is_strict('shardroute', 'parse_conninfo', ARRAY['text']);
SELECT is(pg_get_function_arguments('shardroute.parse_conninfo(text)'::regprocedure),
          'conninfo text, OUT keyword text, OUT value text',
          'parse_conninfo returns (keyword, value) rows');

SELECT has_function('shardroute', 'shard_execute', ARRAY['integer', 'text']);
SELECT function_returns('shardroute', 'shard_execute', ARRAY['integer', 'text'], 'text');
SELECT volatility_is('shardroute', 'shard_execute', ARRAY['integer', 'text'], 'volatile');
SELECT is_strict('shardroute', 'shard_execute', ARRAY['integer', 'text']);
SELECT function_lang_is('shardroute', 'shard_execute', ARRAY['integer', 'text'], 'c');

SELECT has_function('shardroute', 'table_ddl', ARRAY['regclass']);
SELECT function_returns('shardroute', 'table_ddl', ARRAY['regclass'], 'text[]');
SELECT volatility_is('shardroute', 'table_ddl', ARRAY['regclass'], 'stable');

SELECT has_function('shardroute', 'create_placement', ARRAY['regclass', 'integer']);
SELECT function_returns('shardroute', 'create_placement', ARRAY['regclass', 'integer'], 'void');
SELECT volatility_is('shardroute', 'create_placement', ARRAY['regclass', 'integer'], 'volatile');

SELECT function_returns('shardroute', 'metadata_changed', ARRAY[]::name[], 'trigger');
SELECT function_returns('shardroute', 'forget_dropped_tables', ARRAY[]::name[], 'event_trigger');

-- PL/pgSQL functions pin search_path (but shards_for, which resolves the
-- caller's statement as the caller would); only the read-only toolkit functions,
-- which a monitoring role calls without the right to run commands on
-- shards, are SECURITY DEFINER
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
       WHERE p.pronamespace = 'shardroute'::regnamespace AND l.lanname = 'plpgsql'
         AND p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog']
         AND p.proname <> 'shards_for'$$,
    'every PL/pgSQL function runs with search_path = pg_catalog');
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
       WHERE p.pronamespace = 'shardroute'::regnamespace AND p.prosecdef
         AND p.proname NOT IN ('distribution', 'verify_placement', 'health')$$,
    'no other shardroute function is SECURITY DEFINER');
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
       WHERE p.pronamespace = 'shardroute'::regnamespace
         AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                            AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                            AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'shardroute'))$$,
    'every function in schema shardroute belongs to the extension');

SELECT * FROM finish();
ROLLBACK;
