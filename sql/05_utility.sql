-- Utility commands on distributed tables: TRUNCATE reaches the shards,
-- COPY is refused, DROP TABLE forgets the table.
\set VERBOSITY terse
CREATE TABLE scratch (user_id bigint PRIMARY KEY, note text);
SELECT shardroute.distribute_table('scratch');
INSERT INTO scratch SELECT g, 'n' FROM generate_series(1, 20) g;
SELECT count(*) FROM scratch;
TRUNCATE scratch;
SELECT count(*) FROM scratch;
COPY scratch FROM '/dev/null';
\echo :LAST_ERROR_SQLSTATE
COPY scratch TO STDOUT;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO scratch VALUES (1, 'kept');
COPY (SELECT * FROM scratch WHERE user_id = 1) TO STDOUT;
-- DROP TABLE of a table this session has used
PREPARE scratch_q AS SELECT count(*) FROM scratch WHERE user_id = 1;
EXECUTE scratch_q;
DROP TABLE scratch;
SELECT count(*) AS metadata_left FROM shardroute.distributed_table WHERE relid::text = 'scratch';
SELECT count(*) AS foreign_tables_left FROM pg_class WHERE relname LIKE 'public_scratch_%';
