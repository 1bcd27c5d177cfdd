-- insert_order.sql - pgbench script of the shardroute benchmark (bench/run.sh):
-- one autocommit INSERT of an order for a random user.
\set uid random(1, :users)
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (:uid, 'AAPL', 'buy', 1, 100);
