# Shared set-up of shardroute's multi-node tests: shard nodes ready for
# two-phase commit, and a coordinator that preloads shardroute and
# registers them.
package ShardrouteNodes;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(start_shards start_coordinator);

# start_shards($count, $conf): starts shard0 .. shard<count-1>, each with
# max_prepared_transactions set and the extra postgresql.conf lines $conf.
sub start_shards
{
	my ($count, $conf) = @_;
	return map {
		my $shard = PostgreSQL::Test::Cluster->new("shard$_");
		$shard->init;
		$shard->append_conf('postgresql.conf',
			"max_prepared_transactions = 10\n" . ($conf // ''));
		$shard->start;
		$shard
	} 0 .. $count - 1;
}

# start_coordinator($conf, @shards): starts the coordinator with shardroute
# preloaded and the extra postgresql.conf lines $conf, creates the
# extension in database postgres and registers @shards there, in order.
sub start_coordinator
{
	my ($conf, @shards) = @_;
	my $coord = PostgreSQL::Test::Cluster->new('coordinator');
	$coord->init;
	$coord->append_conf('postgresql.conf',
		"shared_preload_libraries = 'shardroute'\n" . ($conf // ''));
	$coord->start;
	$coord->safe_psql('postgres', 'CREATE EXTENSION shardroute CASCADE');
	for my $shard (@shards)
	{
		my ($host, $port) = ($shard->host, $shard->port);
		$coord->safe_psql('postgres',
			"SELECT shardroute.add_shard('host=$host port=$port dbname=postgres')");
	}
	return $coord;
}

1;
