# Multi-node tests of a shardroute coordinator with three shards: the
# preload check, concurrent sessions on one row, routing changes seen by
# other sessions, and pgbench with prepared statements placing rows on the
# shards shard_of names.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use ShardrouteNodes;

# a server without the preload refuses CREATE EXTENSION, with a hint
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my ($ret, $stdout, $stderr) =
  $plain->psql('postgres', 'CREATE EXTENSION shardroute CASCADE');
isnt($ret, 0, 'CREATE EXTENSION fails without shared_preload_libraries');
like($stderr,
	qr/shardroute must be loaded via "shared_preload_libraries"/,
	'the error names the missing preload');
like($stderr, qr/HINT:  Add shardroute to shared_preload_libraries/,
	'the error carries a hint');
$plain->stop;

my @shards = start_shards(3);
my $coord = start_coordinator('', @shards);
is($coord->safe_psql('postgres', 'SELECT count(*) FROM shardroute.shards'),
	3, 'three shards registered');

$coord->safe_psql(
	'postgres', q{
CREATE TABLE positions (user_id bigint, symbol text, quantity bigint NOT NULL DEFAULT 0,
                        PRIMARY KEY (user_id, symbol));
SELECT shardroute.distribute_table('positions');
INSERT INTO positions SELECT g, 'AAPL', 0 FROM generate_series(1, 100) g;
CREATE TABLE orders (order_id bigserial, user_id bigint NOT NULL, symbol text NOT NULL,
                     PRIMARY KEY (user_id, order_id));
SELECT shardroute.distribute_table('orders');
});

# Two sessions increment the same row: the second waits for the first, as
# on one database at READ COMMITTED, and both succeed.
my $owner = $coord->safe_psql('postgres', 'SELECT shardroute.shard_of(1::bigint)');
my $s1 = $coord->background_psql('postgres');
my $s2 = $coord->background_psql('postgres');
$s1->query_safe(
	"BEGIN; UPDATE positions SET quantity = quantity + 1 WHERE user_id = 1 AND symbol = 'AAPL';"
);
$s2->query_until(qr/sent/,
	"\\echo sent\nUPDATE positions SET quantity = quantity + 1 WHERE user_id = 1 AND symbol = 'AAPL';\n"
);
ok( $shards[$owner]->poll_query_until(
		'postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"),
	'the second session waits on the shard for the first one');
$s1->query_safe('COMMIT');
$s2->query_safe('SELECT 1');
is( $coord->safe_psql(
		'postgres', "SELECT quantity FROM positions WHERE user_id = 1 AND symbol = 'AAPL'"),
	2,
	'both concurrent increments are kept');
$s1->quit;
$s2->quit;

# Many clients incrementing one row in explicit transactions, prepared:
# no failures, no lost update.
$coord->pgbench(
	'--no-vacuum -M prepared -c 8 -j 2 -t 50',
	0,
	[qr{processed: 400/400}],
	[qr{^$}],
	'concurrent place_order-style transactions on one row all succeed',
	{
		'001_bump' => q{BEGIN;
UPDATE positions SET quantity = quantity + 1 WHERE user_id = 2 AND symbol = 'AAPL';
COMMIT;
}
	});
is( $coord->safe_psql(
		'postgres', "SELECT quantity FROM positions WHERE user_id = 2 AND symbol = 'AAPL'"),
	400,
	'400 increments from 8 clients are all there');

# Prepared inserts for random users (generic plans after five executions)
# put each row on the shard that shard_of names.
$coord->pgbench(
	'--no-vacuum -M prepared -c 4 -j 2 -t 250',
	0,
	[qr{processed: 1000/1000}],
	[qr{^$}],
	'prepared inserts for random users',
	{
		'001_insert' => q{\set uid random(1, 100000)
INSERT INTO orders (user_id, symbol) VALUES (:uid, 'AAPL');
}
	});
my $total = 0;
for my $i (0 .. 2)
{
	my $ids = $shards[$i]->safe_psql('postgres',
		"SELECT coalesce(string_agg(user_id::text, ','), '') FROM orders");
	my @ids = grep { $_ ne '' } split /,/, $ids;
	$total += scalar @ids;
	is( $coord->safe_psql(
			'postgres',
			"SELECT count(*) FROM unnest('{$ids}'::bigint[]) u WHERE shardroute.shard_of(u) <> $i"
		),
		0,
		"every order on shard $i belongs to a user of shard $i");
}
is($total, 1000, 'the 1000 orders are all on the shards');
is($coord->safe_psql('postgres', 'SELECT count(DISTINCT order_id) FROM orders'),
	1000, 'order ids drawn on the coordinator are unique across shards');

# A session with a prepared statement sees a table become distributed at its
# next execution, without reconnecting.
$coord->safe_psql('postgres',
	'CREATE TABLE late (user_id bigint PRIMARY KEY, v int); INSERT INTO late SELECT g, g FROM generate_series(1, 50) g;'
);
my $s3 = $coord->background_psql('postgres');
$s3->query_safe('PREPARE q AS SELECT count(*) FROM late WHERE v > 0');
is($s3->query_safe('EXECUTE q'), 50, 'before distribution the rows are local');
$coord->safe_psql('postgres', "SELECT shardroute.distribute_table('late')");
like($s3->query_safe('EXPLAIN (COSTS OFF) EXECUTE q'),
	qr/ShardrouteScan/, 'the other session replans for the shards');
is($s3->query_safe('EXECUTE q'), 50, 'and finds the moved rows there');
is($s3->query_safe('SELECT v FROM late WHERE user_id = 7'),
	7, 'a new statement is routed to the key\'s shard');
$s3->quit;
my $on_shards = 0;
$on_shards += $_->safe_psql('postgres', 'SELECT count(*) FROM late') for @shards;
is($on_shards, 50, 'the rows sit on the shards');

done_testing();
