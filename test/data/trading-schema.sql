-- trading-schema.sql - the trading schema used by the demo and the tests: users,
-- their orders, positions, trades and audit log. Every table carries user_id and
-- is distributed by it, so all rows of one user live on the same shard.
--
-- Run on the coordinator in a database where the shardroute extension exists and
-- shards are registered. Tables go into the current schema.

CREATE TABLE users (
    user_id    bigint PRIMARY KEY,
    username   text NOT NULL,
    email      text,
    balance    numeric(18,2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    order_id   bigserial,
    user_id    bigint NOT NULL,
    symbol     text NOT NULL,
    side       text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity   numeric(18,4) NOT NULL CHECK (quantity > 0),
    price      numeric(18,4) NOT NULL,
    status     text NOT NULL DEFAULT 'new',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, order_id)
);

CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at);

CREATE TABLE positions (
    user_id    bigint NOT NULL,
    symbol     text NOT NULL,
    quantity   numeric(18,4) NOT NULL DEFAULT 0,
    avg_price  numeric(18,4) NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, symbol)
);

CREATE TABLE trades (
    trade_id    bigserial,
    user_id     bigint NOT NULL,
    order_id    bigint NOT NULL,
    symbol      text NOT NULL,
    quantity    numeric(18,4) NOT NULL,
    price       numeric(18,4) NOT NULL,
    executed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, trade_id)
);

CREATE TABLE audit_logs (
    log_id     bigserial,
    user_id    bigint NOT NULL,
    action     text NOT NULL,
    details    jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, log_id)
);

SELECT shardroute.distribute_table('users');
SELECT shardroute.distribute_table('orders');
SELECT shardroute.distribute_table('positions');
SELECT shardroute.distribute_table('trades');
SELECT shardroute.distribute_table('audit_logs');
