-- shardroute routing metadata after add_shard inside a larger statement: when
-- add_shard is the argument of a PL/pgSQL function that runs further queries,
-- shard_of must still see the new slot map for the rest of the transaction.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;
SET LOCAL shardroute.slot_count = 4096;
CREATE EXTENSION shardroute CASCADE;

SELECT plan(3);

SELECT is(shardroute.add_shard(format('host=127.0.0.1 port=%s dbname=shardroute_tap',
                                      current_setting('port')::integer + 1)),
          0, 'add_shard as the argument of is() registers shard 0');
SELECT is((SELECT count(*)::integer FROM shardroute.slot WHERE shard_id = 0), 4096,
          'shard 0 owns every slot');
SELECT lives_ok('SELECT shardroute.shard_of(1::bigint)',
                'shard_of sees the new slot map in the same transaction');

SELECT * FROM finish();
ROLLBACK;
