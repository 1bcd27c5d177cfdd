-- The pinned hash: fixed vectors that must never change, and the same slot
-- for the same value whatever its integer type.
\set VERBOSITY terse
SELECT v, shardroute.slot_of(v) FROM unnest(ARRAY[0, 1, 2, 42, -1, 9223372036854775807, -9223372036854775808]::bigint[]) v;
SELECT count(*) AS disagreements FROM generate_series(-1000, 1000) g
 WHERE shardroute.slot_of(g::smallint) <> shardroute.slot_of(g)
    OR shardroute.slot_of(g) <> shardroute.slot_of(g::bigint);
SELECT v, shardroute.slot_of(v) FROM unnest(ARRAY['', 'a', 'alice', 'user-42', 'ünïcødé']) v;
SELECT shardroute.slot_of('alice'::varchar) = shardroute.slot_of('alice'::text) AS varchar_is_text;
SELECT v, shardroute.slot_of(v) FROM unnest(ARRAY['00000000-0000-0000-0000-000000000000', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[]) v;
SELECT shardroute.slot_of(NULL::bigint) IS NULL AS null_key_has_no_slot;
-- shard_of is the owner of slot_of
SELECT count(*) AS mismatches FROM generate_series(1, 5000) g
 WHERE shardroute.shard_of(g) <> (SELECT shard_id FROM shardroute.slot WHERE slot = shardroute.slot_of(g));
-- users spread evenly: each shard within 5% of the mean
SELECT shardroute.shard_of(g) AS shard, abs(count(*) - 100000 / 3.0) / (100000 / 3.0) < 0.05 AS within_5pct
  FROM generate_series(1, 100000) g GROUP BY 1 ORDER BY 1;
