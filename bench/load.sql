-- load.sql - data of the shardroute benchmark (bench/run.sh): :users users,
-- ids 1 .. :users, each with one AAPL position. Run through psql with
-- -v users=U on the database the benchmark targets.
INSERT INTO users (user_id, username, email, balance)
SELECT g, 'user' || g, 'user' || g || '@example.com', 100000
  FROM generate_series(1, :users) AS g;
INSERT INTO positions (user_id, symbol, quantity, avg_price)
SELECT g, 'AAPL', 100, 100
  FROM generate_series(1, :users) AS g;
