-- shardroute hash with another slot count: shardroute.slot_count is read once
-- by CREATE EXTENSION, must lie in 1024 .. 65536, and slot_of() is the same
-- pinned 64-bit hash taken modulo the cluster's slot count.  The fixed vectors
-- below are the pinned hash for a cluster of 65536 slots: they must never
-- change.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL client_min_messages = warning;

SELECT plan(17);

SELECT throws_ok('SET LOCAL shardroute.slot_count = 1023', '22023',
                 '1023 is outside the valid range for parameter "shardroute.slot_count" (1024 .. 65536)',
                 'shardroute.slot_count below 1024 is refused');
SELECT throws_ok('SET LOCAL shardroute.slot_count = 65537', '22023',
                 '65537 is outside the valid range for parameter "shardroute.slot_count" (1024 .. 65536)',
                 'shardroute.slot_count above 65536 is refused');

SET LOCAL shardroute.slot_count = 65536;
CREATE EXTENSION shardroute CASCADE;
-- Changing the setting afterwards does not change the cluster.
SET LOCAL shardroute.slot_count = 1024;

SELECT is((SELECT slot_count FROM shardroute.cluster), 65536,
          'the cluster keeps the slot count it was created with');

-- Pinned hash, 65536 slots: these values must never change.
SELECT is(shardroute.slot_of(1::bigint), 52012, 'pinned: slot_of(1::bigint) = 52012');
SELECT is(shardroute.slot_of((-1)::bigint), 24353, 'pinned: slot_of(-1::bigint) = 24353');
SELECT is(shardroute.slot_of(42::bigint), 22988, 'pinned: slot_of(42::bigint) = 22988');
SELECT is(shardroute.slot_of(123456789::bigint), 63622, 'pinned: slot_of(123456789::bigint) = 63622');
SELECT is(shardroute.slot_of(''::text), 10534, $$pinned: slot_of(''::text) = 10534$$);
SELECT is(shardroute.slot_of('a'::text), 52827, $$pinned: slot_of('a'::text) = 52827$$);
SELECT is(shardroute.slot_of('user_1'::text), 52059, $$pinned: slot_of('user_1'::text) = 52059$$);
SELECT is(shardroute.slot_of('00000000-0000-0000-0000-000000000000'::uuid), 22538,
          'pinned: slot_of(00000000-0000-0000-0000-000000000000) = 22538');
SELECT is(shardroute.slot_of('123e4567-e89b-12d3-a456-426614174000'::uuid), 13552,
          'pinned: slot_of(123e4567-e89b-12d3-a456-426614174000) = 13552');
SELECT is(shardroute.slot_of('ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid), 55663,
          'pinned: slot_of(ffffffff-ffff-ffff-ffff-ffffffffffff) = 55663');

-- 4096 divides 65536, so these slots reduce to the 4096-slot vectors.
SELECT results_eq(
    $$SELECT shardroute.slot_of(k) % 4096 FROM unnest(ARRAY[0, 1, -1, 42,
          9223372036854775807, -9223372036854775808]::bigint[]) WITH ORDINALITY u(k, n) ORDER BY n$$,
    $$VALUES (0), (2860), (3873), (2508), (3562), (1171)$$,
    'bigint slots modulo 4096 are the pinned 4096-slot values');
SELECT results_eq(
    $$SELECT shardroute.slot_of(k) % 4096 FROM unnest(ARRAY['', 'a', '42', 'user_1',
          'hello world', 'Alice@example.com']::text[]) WITH ORDINALITY u(k, n) ORDER BY n$$,
    $$VALUES (2342), (3675), (3308), (2907), (1493), (1336)$$,
    'text slots modulo 4096 are the pinned 4096-slot values');
SELECT results_eq(
    $$SELECT shardroute.slot_of(k) % 4096 FROM unnest(ARRAY[
          '00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000001',
          'ffffffff-ffff-ffff-ffff-ffffffffffff', '123e4567-e89b-12d3-a456-426614174000',
          'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'f47ac10b-58cc-4372-a567-0e02b2c3d479']::uuid[])
          WITH ORDINALITY u(k, n) ORDER BY n$$,
    $$VALUES (2058), (136), (2415), (1264), (159), (2695)$$,
    'uuid slots modulo 4096 are the pinned 4096-slot values');

SELECT is((SELECT max(shardroute.slot_of(k::bigint)) FROM generate_series(1, 200000) k) < 65536, true,
          'slot_of stays below 65536');

SELECT * FROM finish();
ROLLBACK;
