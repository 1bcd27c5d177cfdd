-- shardroute hash: slot_of() on a cluster of 4096 slots.  The fixed vectors
-- below are the pinned shardroute hash (fmix64 of the integer, fmix64 of
-- FNV-1a 64 over the text's bytes or the uuid's 16 bytes, modulo the slot
-- count).  Rows already stored on shards were placed by these values: they
-- must never change.  Also: integer types hash alike, varchar hashes as text,
-- NULL keys give NULL, slots stay in range, and an unassigned slot has no
-- shard.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;
SET LOCAL shardroute.slot_count = 4096;
CREATE EXTENSION shardroute CASCADE;

SELECT plan(38);

SELECT is((SELECT slot_count FROM shardroute.cluster), 4096,
          'the cluster was created with 4096 slots');

-- Pinned hash, bigint keys: these values must never change.
SELECT is(shardroute.slot_of(0::bigint), 0, 'pinned: slot_of(0::bigint) = 0');
SELECT is(shardroute.slot_of(1::bigint), 2860, 'pinned: slot_of(1::bigint) = 2860');
SELECT is(shardroute.slot_of((-1)::bigint), 3873, 'pinned: slot_of(-1::bigint) = 3873');
SELECT is(shardroute.slot_of(42::bigint), 2508, 'pinned: slot_of(42::bigint) = 2508');
SELECT is(shardroute.slot_of(9223372036854775807::bigint), 3562,
          'pinned: slot_of(9223372036854775807::bigint) = 3562');
SELECT is(shardroute.slot_of((-9223372036854775808)::bigint), 1171,
          'pinned: slot_of(-9223372036854775808::bigint) = 1171');

-- Pinned hash, text keys (ASCII, so the same bytes in every server
-- encoding): these values must never change.
SELECT is(shardroute.slot_of(''::text), 2342, $$pinned: slot_of(''::text) = 2342$$);
SELECT is(shardroute.slot_of('a'::text), 3675, $$pinned: slot_of('a'::text) = 3675$$);
SELECT is(shardroute.slot_of('42'::text), 3308, $$pinned: slot_of('42'::text) = 3308$$);
SELECT is(shardroute.slot_of('user_1'::text), 2907, $$pinned: slot_of('user_1'::text) = 2907$$);
SELECT is(shardroute.slot_of('hello world'::text), 1493, $$pinned: slot_of('hello world'::text) = 1493$$);
SELECT is(shardroute.slot_of('Alice@example.com'::text), 1336,
          $$pinned: slot_of('Alice@example.com'::text) = 1336$$);

-- Pinned hash, uuid keys: these values must never change.
SELECT is(shardroute.slot_of('00000000-0000-0000-0000-000000000000'::uuid), 2058,
          'pinned: slot_of(00000000-0000-0000-0000-000000000000) = 2058');
SELECT is(shardroute.slot_of('00000000-0000-0000-0000-000000000001'::uuid), 136,
          'pinned: slot_of(00000000-0000-0000-0000-000000000001) = 136');
SELECT is(shardroute.slot_of('ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid), 2415,
          'pinned: slot_of(ffffffff-ffff-ffff-ffff-ffffffffffff) = 2415');
SELECT is(shardroute.slot_of('123e4567-e89b-12d3-a456-426614174000'::uuid), 1264,
          'pinned: slot_of(123e4567-e89b-12d3-a456-426614174000) = 1264');
SELECT is(shardroute.slot_of('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid), 159,
          'pinned: slot_of(a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11) = 159');
SELECT is(shardroute.slot_of('f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid), 2695,
          'pinned: slot_of(f47ac10b-58cc-4372-a567-0e02b2c3d479) = 2695');

-- Pinned hash at the limits of the narrower integer types.
SELECT is(shardroute.slot_of(32767::smallint), 2548, 'pinned: slot_of(32767::smallint) = 2548');
SELECT is(shardroute.slot_of((-32768)::smallint), 3173, 'pinned: slot_of(-32768::smallint) = 3173');
SELECT is(shardroute.slot_of(2147483647::integer), 2961, 'pinned: slot_of(2147483647::integer) = 2961');

-- smallint, integer and bigint keys of equal value share a slot.
SELECT is(shardroute.slot_of(1::integer), shardroute.slot_of(1::bigint),
          'slot_of(1::integer) = slot_of(1::bigint)');
SELECT is(shardroute.slot_of(1::smallint), shardroute.slot_of(1::bigint),
          'slot_of(1::smallint) = slot_of(1::bigint)');
SELECT is_empty(
    $$SELECT k FROM generate_series(-32768, 32767) k
       WHERE shardroute.slot_of(k::smallint) <> shardroute.slot_of(k::bigint)
          OR shardroute.slot_of(k::integer) <> shardroute.slot_of(k::bigint)$$,
    'every smallint value hashes alike as smallint, integer and bigint');
SELECT is_empty(
    $$SELECT k FROM unnest(ARRAY[-2147483648, -2147483647, -65536, 65536, 123456789, 2147483647]) k
       WHERE shardroute.slot_of(k::integer) <> shardroute.slot_of(k::bigint)$$,
    'integer values beyond smallint hash alike as integer and bigint');

-- varchar keys hash as text; text and integer keys are different families.
SELECT is_empty(
    $$SELECT s FROM unnest(ARRAY['', 'a', '42', 'user_1', 'hello world', 'Alice@example.com']) s
       WHERE shardroute.slot_of(s::varchar) <> shardroute.slot_of(s::text)$$,
    'varchar keys hash as text');
SELECT isnt(shardroute.slot_of('42'::text), shardroute.slot_of(42::bigint),
            'the text 42 and the number 42 are hashed differently');

-- STRICT: a NULL key has no slot and no shard.
SELECT is(shardroute.slot_of(NULL::smallint), NULL, 'slot_of(NULL::smallint) is NULL');
SELECT is(shardroute.slot_of(NULL::integer), NULL, 'slot_of(NULL::integer) is NULL');
SELECT is(shardroute.slot_of(NULL::bigint), NULL, 'slot_of(NULL::bigint) is NULL');
SELECT is(shardroute.slot_of(NULL::text), NULL, 'slot_of(NULL::text) is NULL');
SELECT is(shardroute.slot_of(NULL::uuid), NULL, 'slot_of(NULL::uuid) is NULL');
SELECT is(shardroute.shard_of(NULL::bigint), NULL, 'shard_of(NULL::bigint) is NULL');

-- Slots are always in 0 .. slot_count - 1, and the hash spreads keys over
-- all of them.
SELECT is_empty(
    $$SELECT k FROM generate_series(-50000, 50000) k
       WHERE shardroute.slot_of(k::bigint) NOT BETWEEN 0 AND 4095
          OR shardroute.slot_of(k::text) NOT BETWEEN 0 AND 4095$$,
    'slot_of stays within 0 .. 4095');
SELECT is((SELECT count(DISTINCT shardroute.slot_of(k::bigint))::integer
             FROM generate_series(1, 100000) k), 4096,
          '100000 consecutive bigint keys reach all 4096 slots');

-- Without shards no slot is assigned.
SELECT throws_ok('SELECT shardroute.shard_of(1::bigint)', '55000',
                 'slot 2860 is not assigned to any shard',
                 'shard_of() without shards fails with 55000');
SELECT throws_ok($$SELECT shardroute.shard_of('user_1'::text)$$, '55000',
                 'slot 2907 is not assigned to any shard',
                 'shard_of(text) without shards fails with 55000');

SELECT * FROM finish();
ROLLBACK;
