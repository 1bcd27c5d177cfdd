# The Kubernetes coordinator image's first-start script, run here against
# a local coordinator and three shards with the same environment the
# manifests give it: DATABASE_SHARD_MODE, DATABASE_SHARD_<n>_URL without
# password, SHARD_PASSWORD, POSTGRES_USER and POSTGRES_DB.  It must create
# the extensions, register the shards, load and distribute the trading
# schema, and leave the coordinator routing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use ShardrouteNodes;

my $repo = $ENV{TESTDIR} || '.';
# the manifests' URLs name a host and port, as Services do
my @shards = start_shards(3, "listen_addresses = '127.0.0.1'\n");
$_->safe_psql('postgres', 'CREATE DATABASE trading_db') for @shards;
my $coord = PostgreSQL::Test::Cluster->new('coordinator');
$coord->init;
$coord->append_conf('postgresql.conf',
	"shared_preload_libraries = 'shardroute'\nshardroute.database = 'trading_db'");
$coord->start;
$coord->safe_psql('postgres', 'CREATE DATABASE trading_db');

my $bindir = $coord->config_data('--bindir');
my %env = (
	PGHOST => $coord->host,
	PGPORT => $coord->port,
	POSTGRES_USER => $ENV{USER} || scalar getpwuid($<),
	POSTGRES_DB => 'trading_db',
	PGDATABASE => 'trading_db',
	SHARD_PASSWORD => 'not used by trust auth',
	DATABASE_SHARD_MODE => '3way',
	SHARDROUTE_SCHEMA_FILE => "$repo/test/data/trading-schema.sql",
	SHARDROUTE_REGISTER_CMD => "$bindir/shardroute-register-env",
	SHARDROUTE_SHARD_WAIT_SECONDS => 30,
	PATH => "$bindir:$ENV{PATH}");
for my $i (0 .. 2)
{
	$env{"DATABASE_SHARD_${i}_URL"} = sprintf('postgresql+asyncpg://%s@127.0.0.1:%d/trading_db',
		$env{POSTGRES_USER}, $shards[$i]->port);
}

# run the image's script with the manifests' environment
sub run_k8s
{
	my @args = @_;
	local %ENV = (%ENV, %env);
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run([ "$repo/k8s/image/shardroute-k8s", @args ],
		'>', \$stdout, '2>', \$stderr);
	return ($ok, $stdout . $stderr);
}

my ($ok, $out) = run_k8s('init');
ok($ok, 'shardroute-k8s init succeeds') or diag($out);
like($out, qr/shard 0: added.*shard 1: added.*shard 2: added/s, 'it registers the three shards');
is($coord->safe_psql('trading_db', 'SELECT count(*) FROM shardroute.shards'), 3, 'three shards');
is( $coord->safe_psql('trading_db',
		'SELECT string_agg(relid::text, \',\' ORDER BY relid::text) FROM shardroute.distributed_table'),
	'audit_logs,orders,positions,trades,users',
	'the trading tables are distributed');
$coord->safe_psql('trading_db',
	"INSERT INTO users (user_id, username) SELECT g, 'u' || g FROM generate_series(1, 30) g");
my $on_shards = 0;
$on_shards += $_->safe_psql('trading_db', 'SELECT count(*) FROM users') for @shards;
is($on_shards, 30, 'rows inserted through the coordinator land on the shards');

($ok, $out) = run_k8s('register');
ok($ok, 'registering again succeeds');
like($out, qr/shard 0: unchanged.*shard 1: unchanged.*shard 2: unchanged/s,
	'and changes nothing');
unlike($out, qr/not used by trust auth/, 'the password is never printed');

ok($coord->log_contains(qr/Initializing 3-way database sharding/),
	'the coordinator logs the topology');
ok(!$coord->log_contains(qr/not used by trust auth/),
	'and never the shard password, nor a statement that carries it');
my $offset = -s $coord->logfile;
$coord->restart;
ok($coord->wait_for_log(qr/Initializing 3-way database sharding/, $offset),
	'and logs it again at every start');

done_testing();
