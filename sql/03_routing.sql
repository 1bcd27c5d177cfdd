-- Routing through the coordinator: inserts, pinned reads and writes, joins,
-- EXPLAIN, fan-out reads, and the statements that are refused.
\set VERBOSITY terse
\set SHOW_CONTEXT never
\i sql/shards.inc
-- one row, with defaults evaluated on the coordinator (order ids unique across shards)
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (1, 'AAPL', 'buy', 10, 150) RETURNING order_id, user_id, status;
-- several rows for several shards, split by shard
INSERT INTO orders (user_id, symbol, side, quantity, price)
VALUES (2, 'MSFT', 'sell', 5, 300), (3, 'TSLA', 'buy', 1, 200), (4, 'AAPL', 'buy', 2, 151), (1, 'NVDA', 'buy', 3, 400)
RETURNING order_id, user_id;
-- INSERT ... SELECT from a non-distributed source
INSERT INTO orders (user_id, symbol, side, quantity, price)
SELECT g, 'IBM', 'buy', g, 100 + g FROM generate_series(5, 30) g;
SELECT count(*), count(DISTINCT order_id), min(order_id), max(order_id) FROM orders;
-- ON CONFLICT: DO NOTHING and the position upsert
INSERT INTO users (user_id, username) VALUES (1, 'dup') ON CONFLICT DO NOTHING;
INSERT INTO users (user_id, username) VALUES (1, 'dup') ON CONFLICT (user_id) DO NOTHING RETURNING *;
INSERT INTO positions (user_id, symbol, quantity) VALUES (1, 'AAPL', 10)
ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = positions.quantity + EXCLUDED.quantity RETURNING user_id, symbol, quantity;
INSERT INTO positions (user_id, symbol, quantity) VALUES (1, 'AAPL', 5)
ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = positions.quantity + EXCLUDED.quantity RETURNING user_id, symbol, quantity;
-- a plain duplicate is the shard's unique violation
INSERT INTO users (user_id, username) VALUES (1, 'dup');
\echo :LAST_ERROR_SQLSTATE
-- pinned reads
SELECT order_id, symbol, quantity FROM orders WHERE user_id = 1 ORDER BY order_id DESC LIMIT 10;
SELECT count(*), sum(quantity * price) FROM orders WHERE user_id = 1;
SELECT u.username, o.symbol FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = 2;
SELECT u.username, p.symbol, p.quantity FROM users u LEFT JOIN positions p ON p.user_id = u.user_id WHERE u.user_id = 1;
SELECT username FROM users u WHERE user_id = 3 AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.symbol = 'TSLA');
WITH mine AS (SELECT * FROM orders WHERE user_id = 4) SELECT symbol, quantity FROM mine;
SELECT symbol FROM (SELECT * FROM orders) o WHERE o.user_id = 2;
SELECT count(*) FROM orders WHERE user_id = 999;
SELECT count(*) FROM orders WHERE user_id = NULL;
-- the router runs these on the shard, at the coordinator's isolation level
EXPLAIN (COSTS OFF) SELECT order_id FROM orders WHERE user_id = 1 ORDER BY order_id DESC LIMIT 10;
EXPLAIN (COSTS OFF) SELECT u.username, o.symbol FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = 2;
EXPLAIN (COSTS OFF) UPDATE orders SET status = 'filled' WHERE user_id = 3;
EXPLAIN (COSTS OFF) INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (1, 'X', 'buy', 1, 1);
EXPLAIN (VERBOSE, COSTS OFF) SELECT order_id, quantity * price AS value FROM orders WHERE user_id = 1 ORDER BY order_id DESC LIMIT 3;
-- pinned writes
UPDATE orders SET status = 'filled' WHERE user_id = 3 RETURNING symbol, status;
UPDATE positions SET quantity = quantity - 1 WHERE user_id = 1 AND symbol = 'AAPL';
DELETE FROM orders WHERE user_id = 4 AND symbol = 'AAPL';
SELECT user_id, symbol, status FROM orders WHERE user_id IN (3, 4) ORDER BY user_id, order_id;
-- reads with no key fan out, correctly
SELECT count(*) FROM orders;
SELECT user_id, count(*) FROM orders WHERE symbol = 'IBM' AND user_id < 8 GROUP BY user_id ORDER BY user_id;
EXPLAIN (COSTS OFF) SELECT count(*) FROM orders WHERE symbol = 'IBM';
SELECT o.user_id, u.username FROM orders o JOIN users u USING (user_id) WHERE o.symbol = 'MSFT';
-- refused: never a wrong result, never a row on the wrong shard
UPDATE orders SET status = 'x';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM orders WHERE symbol = 'IBM';
\echo :LAST_ERROR_SQLSTATE
UPDATE orders SET user_id = 5 WHERE user_id = 1;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO orders (symbol, side, quantity, price) VALUES ('X', 'buy', 1, 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (NULL, 'X', 'buy', 1, 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (1, 'X', 'hold', 1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM orders FOR UPDATE;
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE local_t (user_id bigint);
UPDATE orders SET status = 'y' WHERE user_id = 1 AND user_id IN (SELECT user_id FROM local_t);
\echo :LAST_ERROR_SQLSTATE
-- rows sit where shard_of says: count on each shard directly
SELECT shardroute.shard_of(user_id) AS shard, count(*) FROM orders GROUP BY 1 ORDER BY 1;
\c :"shard0"
SELECT count(*) AS orders_on_shard0 FROM orders;
\c :"shard1"
SELECT count(*) AS orders_on_shard1 FROM orders;
\c :"shard2"
SELECT count(*) AS orders_on_shard2 FROM orders;
\c :"coord"
-- a modifying WITH query on a distributed table must be pinned, or is refused
WITH u AS (UPDATE orders SET status = 'cte' WHERE user_id = 2 RETURNING order_id) SELECT count(*) FROM u;
WITH u AS (UPDATE orders SET status = 'cte' WHERE symbol = 'IBM' RETURNING order_id) SELECT count(*) FROM u;
\echo :LAST_ERROR_SQLSTATE
WITH d AS (DELETE FROM orders WHERE symbol = 'nothing' RETURNING 1) SELECT count(*) FROM d;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FILTER (WHERE status = 'cte') AS cte_updated FROM orders;
WITH u AS (UPDATE orders SET user_id = 5 WHERE user_id = 2 RETURNING 1) SELECT count(*) FROM u;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM (SELECT * FROM orders FOR SHARE) s;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM orders TABLESAMPLE SYSTEM (50);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM orders TABLESAMPLE SYSTEM (100) WHERE user_id = 1;
