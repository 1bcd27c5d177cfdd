-- Registers the three shards of the test cluster (ports: coordinator + 1, 2, 3)
-- and checks the topology.
\set VERBOSITY terse
CREATE EXTENSION shardroute CASCADE;
SELECT current_setting('port')::int AS port \gset
SELECT shardroute.add_shard(format('postgresql+asyncpg://trading_user:trading_password@127.0.0.1:%s/contrib_regression', :port + 1));
SELECT shardroute.add_shard(format('postgresql://trading_user:trading_password@127.0.0.1:%s/contrib_regression?application_name=sr_test', :port + 2));
SELECT shardroute.add_shard(format('host=127.0.0.1 port=%s dbname=contrib_regression user=trading_user password=trading_password connect_timeout=5', :port + 3));
SELECT shard_id, server, host, port - :port AS port_offset, dbname, slots FROM shardroute.shards ORDER BY shard_id;
SELECT sum(slots) AS slots, (SELECT slot_count FROM shardroute.cluster) AS slot_count FROM shardroute.shards;
-- connection options live in the server, credentials only in the user mapping
SELECT srvname, array_to_string(array(SELECT o FROM unnest(srvoptions) o WHERE o NOT LIKE 'port=%' ORDER BY o), ',') AS options
  FROM pg_foreign_server WHERE srvname LIKE 'shardroute_shard_%' ORDER BY srvname;
SELECT srvname, umoptions FROM pg_user_mappings WHERE srvname LIKE 'shardroute_shard_%' ORDER BY srvname;
-- bad registrations
SELECT shardroute.add_shard('postgresql://[bad');
SELECT shardroute.add_shard_server('no_such_server');
SELECT shardroute.add_shard_server('shardroute_shard_0');
