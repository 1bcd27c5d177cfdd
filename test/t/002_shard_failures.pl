# Multi-node tests of shard failures seen from the coordinator: a stopped
# shard fails its users' statements quickly with SQLSTATE class 08 and its
# name, health() reports it, the other shards keep working, and everything
# works again once it is back; a shard connection killed in the middle of a
# transaction aborts that transaction cleanly.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use ShardrouteNodes;
use Time::HiRes qw(time);

my @shards = start_shards(3);
my $coord = start_coordinator('', @shards);
$coord->safe_psql(
	'postgres', q{
CREATE TABLE orders (order_id bigserial, user_id bigint NOT NULL, PRIMARY KEY (user_id, order_id));
SELECT shardroute.distribute_table('orders');
});

# one user per shard
my %user;
for my $i (0 .. 2)
{
	$user{$i} = $coord->safe_psql('postgres',
		"SELECT min(g) FROM generate_series(1, 100) g WHERE shardroute.shard_of(g) = $i");
}

# shard 1 down
$shards[1]->stop('immediate');
my $start = time;
my ($ret, $out, $err) = $coord->psql('postgres',
	"\\set VERBOSITY verbose\nINSERT INTO orders (user_id) VALUES ($user{1})");
my $elapsed = time - $start;
isnt($ret, 0, 'a statement for a user of the stopped shard fails');
like($err, qr/ERROR:  08001: could not connect to shard 1 \(server "shardroute_shard_1"\)/,
	'with SQLSTATE 08001 and the shard named');
like($err, qr/HINT:  Check that the shard is running/, 'and a hint');
cmp_ok($elapsed, '<', 30, 'it fails instead of hanging');
is($coord->safe_psql('postgres', "INSERT INTO orders (user_id) VALUES ($user{0}), ($user{0}) RETURNING 1"),
	"1\n1", 'users of shard 0 keep working');
is($coord->safe_psql('postgres', "SELECT count(*) FROM orders WHERE user_id = $user{2}"),
	0, 'users of shard 2 keep working');
my $health = $coord->safe_psql('postgres',
	'SELECT shard_id, reachable, error IS NOT NULL FROM shardroute.health() ORDER BY shard_id');
is($health, "0|t|f\n1|f|t\n2|t|f", 'health() shows shard 1 unreachable, with its error');
($ret, $out, $err) = $coord->psql('postgres', 'SELECT count(*) FROM orders');
like($err, qr/could not connect to shard 1/, 'a fan-out read names the shard that failed');

# back again: the next statement succeeds without restarting anything
$shards[1]->start;
is($coord->safe_psql('postgres', "INSERT INTO orders (user_id) VALUES ($user{1}) RETURNING user_id"),
	$user{1}, 'after the shard is back, its users work again');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM orders'), 3, 'and fan-out reads too');

# a shard connection killed inside a transaction aborts that transaction
my $session = $coord->background_psql('postgres', on_error_stop => 0);
$session->query_safe("BEGIN; INSERT INTO orders (user_id) VALUES ($user{2});");
$shards[2]->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = 'postgres'"
);
my $result = $session->query("INSERT INTO orders (user_id) VALUES ($user{2});");
like($session->{stderr}, qr/ERROR:.*shard 2/, 'the next statement of the transaction fails, naming the shard');
$session->{stderr} = '';
$session->query("COMMIT;");
is($session->query_safe("SELECT count(*) FROM orders WHERE user_id = $user{2}"),
	0, 'nothing of the aborted transaction is on the shard');
is($session->query_safe("INSERT INTO orders (user_id) VALUES ($user{2}) RETURNING user_id"),
	$user{2}, 'the same session works again at its next statement');
$session->quit;
is($shards[2]->safe_psql('postgres', 'SELECT count(*) FROM orders'), 1,
	'exactly the acknowledged row is on shard 2');

done_testing();
