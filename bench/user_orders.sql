-- user_orders.sql - pgbench script of the shardroute benchmark (bench/run.sh):
-- the ten newest orders of a random user.
\set uid random(1, :users)
SELECT order_id, symbol, quantity, price, status FROM orders WHERE user_id = :uid ORDER BY order_id DESC LIMIT 10;
