-- register_shard: idempotent registration of shard N from a URL, as the
-- environment-driven registration uses it; the topology log line.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SELECT current_setting('port')::int AS port \gset
SELECT format('postgresql+asyncpg://trading_user:trading_password@127.0.0.1:%s/contrib_regression', :port + 1) AS url0 \gset
SELECT shardroute.register_shard(0, :'url0');
SELECT shardroute.register_shard(0, :'url0' || '?application_name=renamed');
SELECT array(SELECT o FROM unnest(srvoptions) o WHERE o NOT LIKE 'port=%') AS options FROM pg_foreign_server WHERE srvname = 'shardroute_shard_0';
SELECT shardroute.register_shard(0, :'url0' || '?application_name=renamed');
-- the session's connection to shard 0 follows the new options at its next statement
SELECT min(user_id) AS user_on_shard0 FROM users WHERE shardroute.shard_of(user_id) = 0 \gset
SELECT current_setting('application_name') AS shard0_application_name FROM users WHERE user_id = :user_on_shard0;
SELECT shardroute.register_shard(0, :'url0');
SELECT array(SELECT o FROM unnest(srvoptions) o WHERE o NOT LIKE 'port=%') AS options FROM pg_foreign_server WHERE srvname = 'shardroute_shard_0';
-- a changed password reaches the user mapping only
SELECT shardroute.register_shard(0, replace(:'url0', 'trading_password', 'other'));
SELECT umoptions FROM pg_user_mappings WHERE srvname = 'shardroute_shard_0';
SELECT shardroute.register_shard(0, :'url0');
-- shards are numbered without gaps
SELECT shardroute.register_shard(5, :'url0');
\echo :LAST_ERROR_SQLSTATE
SELECT shardroute.register_shard(NULL, :'url0');
\echo :LAST_ERROR_SQLSTATE
SELECT regexp_replace(shardroute.topology_line(), ':[0-9]+/', ':PORT/', 'g') AS topology;
