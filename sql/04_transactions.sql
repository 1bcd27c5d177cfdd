-- Transactions: read-your-writes, rollback, savepoints, isolation level,
-- prepared statements on generic plans, privileges.
\set VERBOSITY terse
\set SHOW_CONTEXT never
-- place_order in one transaction, reading its own writes
BEGIN;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (7, 'AMD', 'buy', 3, 90);
INSERT INTO positions (user_id, symbol, quantity) VALUES (7, 'AMD', 3)
  ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = positions.quantity + EXCLUDED.quantity;
INSERT INTO audit_logs (user_id, action, details) VALUES (7, 'place_order', '{"symbol": "AMD"}');
SELECT count(*) FROM orders WHERE user_id = 7 AND symbol = 'AMD';
SELECT quantity FROM positions WHERE user_id = 7 AND symbol = 'AMD';
SELECT count(*) FROM orders WHERE symbol = 'AMD';
SELECT current_setting('transaction_isolation') AS shard_isolation FROM users WHERE user_id = 7;
COMMIT;
SELECT count(*) FROM audit_logs WHERE user_id = 7;
-- rollback undoes every shard's part
BEGIN;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (8, 'ROLL', 'buy', 1, 1), (9, 'ROLL', 'buy', 1, 1);
SELECT count(*) FROM orders WHERE symbol = 'ROLL';
ROLLBACK;
SELECT count(*) FROM orders WHERE symbol = 'ROLL';
-- an error aborts the whole transaction
BEGIN;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (8, 'ERR', 'buy', 1, 1);
INSERT INTO users (user_id, username) VALUES (8, 'dup');
COMMIT;
SELECT count(*) FROM orders WHERE symbol = 'ERR';
-- savepoints follow the local subtransactions
BEGIN;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (10, 'SP1', 'buy', 1, 1);
SAVEPOINT a;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (10, 'SP2', 'buy', 1, 1);
ROLLBACK TO SAVEPOINT a;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (10, 'SP3', 'buy', 1, 1);
COMMIT;
SELECT symbol FROM orders WHERE user_id = 10 AND symbol LIKE 'SP%' ORDER BY symbol;
-- PL/pgSQL exception blocks
DO $$
BEGIN
  BEGIN
    INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (11, 'EXC', 'buy', 1, 1);
    INSERT INTO users (user_id, username) VALUES (11, 'dup');
  EXCEPTION WHEN unique_violation THEN
    RAISE NOTICE 'caught %', SQLSTATE;
  END;
  INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (11, 'AFTER', 'buy', 1, 1);
END
$$;
SELECT symbol FROM orders WHERE user_id = 11 AND symbol IN ('EXC', 'AFTER');
-- the shard runs at the coordinator's isolation level
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT current_setting('transaction_isolation') AS shard_isolation FROM users WHERE user_id = 12;
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY;
SELECT current_setting('transaction_isolation') AS shard_isolation, current_setting('transaction_read_only') AS ro FROM users WHERE user_id = 12;
COMMIT;
BEGIN READ ONLY;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (12, 'RO', 'buy', 1, 1);
ROLLBACK;
-- the session's time zone reaches the shard
SET TimeZone = 'Asia/Tokyo';
SELECT current_setting('TimeZone') AS shard_timezone FROM users WHERE user_id = 12;
RESET TimeZone;
-- prepared statements: generic plans route each execution by its own key
PREPARE user_orders(bigint) AS SELECT count(*) FROM orders WHERE user_id = $1;
PREPARE add_order(bigint, text) AS INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES ($1, $2, 'buy', 1, 1);
PREPARE bump(bigint) AS UPDATE users SET balance = balance + 1 WHERE user_id = $1;
SELECT 'EXECUTE add_order(' || g || ', ''PREP'')' FROM generate_series(13, 24) g \gexec
SELECT 'EXECUTE bump(' || g || ')' FROM generate_series(13, 24) g \gexec
SELECT 'EXECUTE user_orders(' || g || ')' FROM generate_series(13, 24) g \gexec
SELECT generic_plans > 0 AS went_generic FROM pg_prepared_statements WHERE name = 'user_orders';
SELECT user_id, balance FROM users WHERE user_id BETWEEN 13 AND 24 ORDER BY user_id;
SELECT shardroute.shard_of(13::bigint) AS shard_of_13, shardroute.shard_of(14::bigint) AS shard_of_14;
EXPLAIN (COSTS OFF) EXECUTE user_orders(13);
EXPLAIN (COSTS OFF) EXECUTE user_orders(14);
SET plan_cache_mode = force_generic_plan;
PREPARE by_user(bigint) AS SELECT username FROM users WHERE user_id = $1;
EXECUTE by_user(15);
EXECUTE by_user(16);
RESET plan_cache_mode;
-- plans freed and made again (DEALLOCATE, PREPARE) each read their own columns
PREPARE shape AS SELECT username FROM users WHERE user_id = 15;
EXECUTE shape;
DEALLOCATE shape;
PREPARE shape AS SELECT balance, user_id FROM users WHERE user_id = 15;
EXECUTE shape;
DEALLOCATE shape;
PREPARE shape(bigint) AS SELECT user_id, username FROM users WHERE user_id = $1;
EXECUTE shape(16);
DEALLOCATE shape;
-- privileges are the coordinator's
CREATE ROLE sr_reader;
GRANT SELECT ON orders TO sr_reader;
CREATE USER MAPPING FOR sr_reader SERVER shardroute_shard_0 OPTIONS (user 'trading_user', password 'trading_password');
CREATE USER MAPPING FOR sr_reader SERVER shardroute_shard_1 OPTIONS (user 'trading_user', password 'trading_password');
CREATE USER MAPPING FOR sr_reader SERVER shardroute_shard_2 OPTIONS (user 'trading_user', password 'trading_password');
SET ROLE sr_reader;
SELECT count(*) FROM orders WHERE user_id = 1;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (1, 'NOPE', 'buy', 1, 1);
\echo :LAST_ERROR_SQLSTATE
UPDATE orders SET status = 'x' WHERE user_id = 1;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM users WHERE user_id = 1;
\echo :LAST_ERROR_SQLSTATE
SELECT shardroute.distribute_table('orders');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- routing metadata changes are seen by the next statement (plans invalidated)
PREPARE count_all AS SELECT count(*) FROM users WHERE user_id = 1;
EXECUTE count_all;
CREATE TABLE late (user_id bigint PRIMARY KEY, note text);
PREPARE late_q AS SELECT count(*) FROM late WHERE user_id = 1;
INSERT INTO late VALUES (1, 'before');
EXECUTE late_q;
SELECT shardroute.distribute_table('late');
EXECUTE late_q;
EXPLAIN (COSTS OFF) EXECUTE late_q;
-- clean up the role (roles are cluster-wide)
DROP USER MAPPING FOR sr_reader SERVER shardroute_shard_0;
DROP USER MAPPING FOR sr_reader SERVER shardroute_shard_1;
DROP USER MAPPING FOR sr_reader SERVER shardroute_shard_2;
REVOKE SELECT ON orders FROM sr_reader;
DROP ROLE sr_reader;
-- a parameter used both in the row and in ON CONFLICT DO UPDATE
PREPARE up(bigint, numeric) AS
  INSERT INTO positions (user_id, symbol, quantity) VALUES ($1, 'UPX', $2)
  ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = positions.quantity + $2 RETURNING quantity;
SELECT 'EXECUTE up(5, ' || g || ')' FROM generate_series(1, 7) g \gexec
-- PL/pgSQL variables are parameters too
CREATE FUNCTION place(uid bigint, sym text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (uid, sym, 'buy', 1, 1);
  UPDATE positions SET quantity = quantity + 1 WHERE user_id = uid AND symbol = 'UPX';
  SELECT count(*) AS c INTO r FROM orders WHERE user_id = uid AND symbol = sym;
  RETURN r.c;
END
$$;
SELECT 'SELECT place(' || (5 + g % 2) || ', ''FN'')' FROM generate_series(1, 8) g \gexec
SELECT user_id, quantity FROM positions WHERE symbol = 'UPX' ORDER BY user_id;
-- connection options of the server reach the shard (shard 1 was added with application_name)
SELECT min(user_id) AS user_on_shard1 FROM users WHERE shardroute.shard_of(user_id) = 1 \gset
SELECT current_setting('application_name') AS shard_application_name FROM users WHERE user_id = :user_on_shard1;
-- statement_timeout cancels the statement on the shard too; the session goes on
SET statement_timeout = '1s';
SELECT pg_sleep(30) FROM users WHERE user_id = 1;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (1, 'TIMEOUT', 'buy', 1, 1);
SELECT pg_sleep(30) FROM users WHERE user_id = 1;
ROLLBACK;
RESET statement_timeout;
SELECT count(*) AS timeout_orders FROM orders WHERE symbol = 'TIMEOUT';
SELECT count(*) FROM users WHERE user_id = 1;
