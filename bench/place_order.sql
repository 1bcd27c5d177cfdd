-- place_order.sql - pgbench script of the shardroute benchmark (bench/run.sh):
-- one transaction per order for a random user: insert the order, update the
-- user's AAPL position and write an audit entry, all on the same key.
\set uid random(1, :users)
BEGIN;
INSERT INTO orders (user_id, symbol, side, quantity, price) VALUES (:uid, 'AAPL', 'buy', 1, 100);
UPDATE positions SET quantity = quantity + 1, updated_at = now() WHERE user_id = :uid AND symbol = 'AAPL';
INSERT INTO audit_logs (user_id, action, details) VALUES (:uid, 'place_order', '{}');
COMMIT;
