-- shardroute catalog: the extension's schemas, its catalog tables (columns,
-- keys, foreign keys, triggers, privileges), the shardroute.shards view and
-- the state of a freshly created extension.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION shardroute CASCADE;

SELECT plan(59);

-- Extension and schemas
SELECT has_extension('shardroute', 'shardroute is installed');
SELECT has_extension('postgres_fdw', 'postgres_fdw is installed with it');
SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'shardroute'),
          'shardroute', 'shardroute lives in schema shardroute');
SELECT has_schema('shardroute');
SELECT has_schema('shardroute_shards');

-- Catalog tables
SELECT tables_are('shardroute', ARRAY['cluster', 'shard', 'slot', 'distributed_table', 'placement', 'transaction'],
                  'shardroute has exactly its catalog tables');
SELECT views_are('shardroute', ARRAY['shards', 'stat_shards'], 'shardroute has exactly the views shards and stat_shards');

SELECT columns_are('shardroute', 'cluster', ARRAY['singleton', 'slot_count']);
SELECT columns_are('shardroute', 'shard', ARRAY['shard_id', 'server_name']);
SELECT columns_are('shardroute', 'slot', ARRAY['slot', 'shard_id']);
SELECT columns_are('shardroute', 'distributed_table', ARRAY['relid', 'key_column']);
SELECT columns_are('shardroute', 'placement', ARRAY['relid', 'shard_id', 'foreign_table']);

SELECT col_type_is('shardroute', 'cluster', 'singleton', 'boolean', 'shardroute.cluster.singleton is boolean');
SELECT col_type_is('shardroute', 'cluster', 'slot_count', 'integer', 'shardroute.cluster.slot_count is integer');
SELECT col_type_is('shardroute', 'shard', 'shard_id', 'integer', 'shardroute.shard.shard_id is integer');
SELECT col_type_is('shardroute', 'shard', 'server_name', 'name', 'shardroute.shard.server_name is name');
SELECT col_type_is('shardroute', 'slot', 'slot', 'integer', 'shardroute.slot.slot is integer');
SELECT col_type_is('shardroute', 'slot', 'shard_id', 'integer', 'shardroute.slot.shard_id is integer');
SELECT col_type_is('shardroute', 'distributed_table', 'relid', 'regclass', 'shardroute.distributed_table.relid is regclass');
SELECT col_type_is('shardroute', 'distributed_table', 'key_column', 'name', 'shardroute.distributed_table.key_column is name');
SELECT col_type_is('shardroute', 'placement', 'relid', 'regclass', 'shardroute.placement.relid is regclass');
SELECT col_type_is('shardroute', 'placement', 'shard_id', 'integer', 'shardroute.placement.shard_id is integer');
SELECT col_type_is('shardroute', 'placement', 'foreign_table', 'regclass', 'shardroute.placement.foreign_table is regclass');

SELECT col_is_pk('shardroute', 'cluster', 'singleton', 'cluster is a singleton row');
SELECT col_is_pk('shardroute', 'shard', 'shard_id', 'shards are keyed by shard_id');
SELECT col_is_pk('shardroute', 'slot', 'slot', 'slots are keyed by slot');
SELECT col_is_pk('shardroute', 'distributed_table', 'relid', 'distributed tables are keyed by relid');
SELECT col_is_pk('shardroute', 'placement', ARRAY['relid', 'shard_id'],
                 'placements are keyed by (relid, shard_id)');
SELECT col_is_unique('shardroute', 'shard', ARRAY['server_name'], 'a server is at most one shard');

SELECT fk_ok('shardroute', 'slot', 'shard_id', 'shardroute', 'shard', 'shard_id');
SELECT fk_ok('shardroute', 'placement', 'relid', 'shardroute', 'distributed_table', 'relid');
SELECT fk_ok('shardroute', 'placement', 'shard_id', 'shardroute', 'shard', 'shard_id');

-- Every catalog change invalidates routing
SELECT has_trigger('shardroute', 'cluster', 'metadata_changed', 'shardroute.cluster has trigger metadata_changed');
SELECT has_trigger('shardroute', 'shard', 'metadata_changed', 'shardroute.shard has trigger metadata_changed');
SELECT has_trigger('shardroute', 'slot', 'metadata_changed', 'shardroute.slot has trigger metadata_changed');
SELECT has_trigger('shardroute', 'distributed_table', 'metadata_changed', 'shardroute.distributed_table has trigger metadata_changed');
SELECT ok(EXISTS (SELECT 1 FROM pg_event_trigger
                   WHERE evtname = 'shardroute_forget_dropped_tables'
                     AND evtevent = 'sql_drop' AND evtenabled <> 'D'),
          'event trigger shardroute_forget_dropped_tables fires on sql_drop');

-- Everyone may read the catalog, nobody but superusers may change it
SELECT schema_privs_are('shardroute', 'public', ARRAY['USAGE'], 'PUBLIC may use schema shardroute');
SELECT table_privs_are('shardroute', 'cluster', 'public', ARRAY['SELECT']);
SELECT table_privs_are('shardroute', 'shard', 'public', ARRAY['SELECT']);
SELECT table_privs_are('shardroute', 'slot', 'public', ARRAY['SELECT']);
SELECT table_privs_are('shardroute', 'distributed_table', 'public', ARRAY['SELECT']);
SELECT table_privs_are('shardroute', 'placement', 'public', ARRAY['SELECT']);
SELECT table_privs_are('shardroute', 'shards', 'public', ARRAY['SELECT']);

-- The shardroute.shards view
SELECT has_view('shardroute', 'shards', 'view shardroute.shards exists');
SELECT columns_are('shardroute', 'shards', ARRAY['shard_id', 'server', 'host', 'port', 'dbname', 'slots']);
SELECT col_type_is('shardroute', 'shards', 'shard_id', 'integer', 'shardroute.shards.shard_id is integer');
SELECT col_type_is('shardroute', 'shards', 'server', 'name', 'shardroute.shards.server is name');
SELECT col_type_is('shardroute', 'shards', 'host', 'text', 'shardroute.shards.host is text');
SELECT col_type_is('shardroute', 'shards', 'port', 'integer', 'shardroute.shards.port is integer');
SELECT col_type_is('shardroute', 'shards', 'dbname', 'text', 'shardroute.shards.dbname is text');
SELECT col_type_is('shardroute', 'shards', 'slots', 'integer', 'shardroute.shards.slots is integer');

-- A new cluster: one cluster row with the configured slot count, nothing else
SELECT results_eq('SELECT singleton, slot_count FROM shardroute.cluster',
                  $$SELECT true, current_setting('shardroute.slot_count')::integer$$,
                  'cluster holds one row with the slot count of shardroute.slot_count');
SELECT is_empty('SELECT * FROM shardroute.shard', 'no shards are registered yet');
SELECT is_empty('SELECT * FROM shardroute.slot', 'no slots are assigned yet');
SELECT is_empty('SELECT * FROM shardroute.distributed_table', 'no table is distributed yet');
SELECT is_empty('SELECT * FROM shardroute.placement', 'no placements exist yet');
SELECT is_empty('SELECT * FROM shardroute.shards', 'shardroute.shards is empty');
SELECT is_empty($$SELECT 1 FROM pg_class WHERE relnamespace = 'shardroute_shards'::regnamespace$$,
                'shardroute_shards holds no foreign tables yet');

SELECT * FROM finish();
ROLLBACK;
