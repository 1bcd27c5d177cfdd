# The environment-driven registration that the local cluster and the
# Kubernetes image both run, shardroute-register-env, against a coordinator
# and two shards: it registers DATABASE_SHARD_MODE shards from
# DATABASE_SHARD_<n>_URL, a second run changes nothing, a changed URL
# updates that shard's server, missing variables are refused, and the
# server log carries the topology line operators grep for.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use ShardrouteNodes;

my @shards = start_shards(2);
my $coord = start_coordinator('');

my $script = $coord->config_data('--bindir') . '/shardroute-register-env';
ok(-x $script, 'make install puts shardroute-register-env next to psql');

my %env = (
	PGHOST => $coord->host,
	PGPORT => $coord->port,
	PGDATABASE => 'postgres',
	DATABASE_SHARD_MODE => '2way');
for my $i (0 .. 1)
{
	$env{"DATABASE_SHARD_${i}_URL"} =
	  sprintf('postgresql+asyncpg:///postgres?host=%s&port=%d',
		$shards[$i]->host, $shards[$i]->port);
}

# run the script with the given environment; returns (exit code, stdout)
sub register
{
	my %vars = @_;
	local %ENV = (%ENV, %vars);
	delete $ENV{$_} for grep { !defined $vars{$_} } keys %vars;
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run([$script], '>', \$stdout, '2>', \$stderr);
	return ($ok ? 0 : 1, $stdout . $stderr);
}

my ($rc, $out) = register(%env);
is($rc, 0, 'registration succeeds');
like($out, qr/shard 0: added\nshard 1: added\n/, 'both shards added');
like($out, qr/Initializing 2-way database sharding/, 'and it prints the topology');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM shardroute.shards'), 2, 'two shards');

($rc, $out) = register(%env);
like($out, qr/shard 0: unchanged\nshard 1: unchanged\n/, 'a second run changes nothing');

($rc, $out) = register(%env, DATABASE_SHARD_1_URL => $env{DATABASE_SHARD_1_URL} . '&application_name=moved');
like($out, qr/shard 0: unchanged\nshard 1: updated\n/, 'a changed URL updates that shard');
like($coord->safe_psql('postgres', "SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'shardroute_shard_1'"),
	qr/application_name=moved/, 'the server carries the new option');

($rc, $out) = register(%env, DATABASE_SHARD_MODE => 'three');
isnt($rc, 0, 'a malformed DATABASE_SHARD_MODE is refused');
like($out, qr/DATABASE_SHARD_MODE must look like "3way"/, 'with a message');
($rc, $out) = register(%env, DATABASE_SHARD_MODE => '3way');
isnt($rc, 0, 'a missing DATABASE_SHARD_2_URL is refused');
like($out, qr/DATABASE_SHARD_2_URL is not set/, 'naming the variable');

ok($coord->log_contains(qr/LOG:  Initializing 2-way database sharding \(shard 0: /),
	'the server log says "Initializing 2-way database sharding" with the shard hosts');

# at server start, when shardroute.database names the coordinator's database
$coord->append_conf('postgresql.conf', "shardroute.database = 'postgres'");
my $offset = -s $coord->logfile;
$coord->restart;
ok( $coord->wait_for_log(
		qr/LOG:  Initializing 2-way database sharding \(shard 0: .*; shard 1: /, $offset),
	'the topology is logged at server start');

done_testing();
