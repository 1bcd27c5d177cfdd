-- native-fdw-coordinator.sql - coordinator of the "native-fdw" target of the
-- shardroute benchmark (bench/run.sh): PostgreSQL's own hash partitioning by
-- user_id, each partition a postgres_fdw foreign table on one of three shards.
-- Defaults (order_id's sequence, now()) are evaluated here, because
-- postgres_fdw sends every column and the shards' defaults never apply.
-- Needs psql variables port0, port1, port2 and password.

CREATE EXTENSION postgres_fdw;

SELECT format('CREATE SERVER shard_%s FOREIGN DATA WRAPPER postgres_fdw '
              'OPTIONS (host %L, port %L, dbname %L)', i, '127.0.0.1', p, 'trading_db'),
       format('CREATE USER MAPPING FOR postgres SERVER shard_%s '
              'OPTIONS (user %L, password %L)', i, 'trading_user', :'password')
  FROM (VALUES (0, :'port0'), (1, :'port1'), (2, :'port2')) AS s(i, p) \gexec

CREATE TABLE users (
    user_id    bigint NOT NULL,
    username   text NOT NULL,
    email      text,
    balance    numeric(18,2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY HASH (user_id);

CREATE TABLE orders (
    order_id   bigserial,
    user_id    bigint NOT NULL,
    symbol     text NOT NULL,
    side       text NOT NULL,
    quantity   numeric(18,4) NOT NULL,
    price      numeric(18,4) NOT NULL,
    status     text NOT NULL DEFAULT 'new',
    created_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY HASH (user_id);

CREATE TABLE positions (
    user_id    bigint NOT NULL,
    symbol     text NOT NULL,
    quantity   numeric(18,4) NOT NULL DEFAULT 0,
    avg_price  numeric(18,4) NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY HASH (user_id);

CREATE TABLE audit_logs (
    log_id     bigserial,
    user_id    bigint NOT NULL,
    action     text NOT NULL,
    details    jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY HASH (user_id);

SELECT format('CREATE FOREIGN TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS 3, REMAINDER %s) '
              'SERVER shard_%s OPTIONS (schema_name %L, table_name %L)',
              t || '_' || i, t, i, i, 'public', t)
  FROM unnest(ARRAY['users', 'orders', 'positions', 'audit_logs']) AS t,
       generate_series(0, 2) AS i \gexec
