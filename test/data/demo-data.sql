-- demo-data.sql - deterministic demo rows for the trading schema, written through
-- the coordinator: users 1 .. :users, one position and three orders per user, a
-- trade for every filled order, and two audit log entries per user.
--
-- psql script; set the number of users with -v users=N (default 10000). Run
-- trading-schema.sql first.

\if :{?users}
\else
\set users 10000
\endif

INSERT INTO users (user_id, username, email, balance)
SELECT g, 'user' || g, 'user' || g || '@example.com', 1000 + (g % 100) * 250
FROM generate_series(1, :users) AS g;

INSERT INTO positions (user_id, symbol, quantity, avg_price)
SELECT g,
       (ARRAY['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'META', 'TSLA', 'NFLX'])[1 + g % 8],
       1 + g % 50,
       50 + g % 200
FROM generate_series(1, :users) AS g;

-- Three orders per user; each user gets one filled, one new and one cancelled order.
INSERT INTO orders (user_id, symbol, side, quantity, price, status, created_at)
SELECT g,
       (ARRAY['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'META', 'TSLA', 'NFLX'])[1 + (g + n) % 8],
       CASE WHEN (g + n) % 2 = 0 THEN 'buy' ELSE 'sell' END,
       1 + (g * n) % 100,
       50 + (g * 7 + n * 13) % 450,
       (ARRAY['filled', 'new', 'cancelled'])[1 + (g + n) % 3],
       now() - (g % 720) * interval '1 minute' - n * interval '1 hour'
FROM generate_series(1, :users) AS g
CROSS JOIN generate_series(1, 3) AS n;

-- One trade per filled order, at the order's price.
INSERT INTO trades (user_id, order_id, symbol, quantity, price, executed_at)
SELECT user_id, order_id, symbol, quantity, price, created_at + interval '1 second'
FROM orders
WHERE status = 'filled';

INSERT INTO audit_logs (user_id, action, details, created_at)
SELECT g,
       (ARRAY['signup', 'login'])[n],
       jsonb_build_object('ip', '10.0.' || (g / 256) % 256 || '.' || g % 256,
                          'client', (ARRAY['web', 'ios', 'android'])[1 + g % 3]),
       now() - (3 - n) * interval '1 day'
FROM generate_series(1, :users) AS g
CROSS JOIN generate_series(1, 2) AS n;
