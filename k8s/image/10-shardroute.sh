#!/usr/bin/env bash
# First-start initialisation of the shardroute coordinator, run once by the postgres image's
# entrypoint (from /docker-entrypoint-initdb.d) while PGDATA is new: creates postgres_fdw and
# shardroute, registers the shards from DATABASE_SHARD_MODE / DATABASE_SHARD_<n>_URL, then
# loads the trading schema and distributes its tables (see shardroute-k8s).
set -euo pipefail
exec shardroute-k8s init
