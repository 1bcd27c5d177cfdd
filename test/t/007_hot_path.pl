# Multi-node tests of what a routed statement costs a shard, read from the
# shards' logs (log_min_duration_statement = 0 logs every parse, bind and
# execute once): an autocommit single-row statement is one execution with
# nothing around it, a statement is parsed once per shard connection, and
# a prepared statement keeps its generic plan on the coordinator.  Then the
# limit of that shortcut: statements a client pipelines before one Sync are
# one implicit transaction, committed or rolled back as a whole.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use ShardrouteNodes;

my @shards = start_shards(3, "log_statement = none\nlog_min_duration_statement = 0\n");
my $coord = start_coordinator('', @shards);

$coord->safe_psql(
	'postgres', q{
CREATE TABLE orders (order_id bigserial, user_id bigint NOT NULL, symbol text NOT NULL,
                     quantity int NOT NULL CHECK (quantity > 0), PRIMARY KEY (user_id, order_id));
SELECT shardroute.distribute_table('orders');
});
my $owner = $coord->safe_psql('postgres', 'SELECT shardroute.shard_of(7::bigint)');
my $other = $coord->safe_psql('postgres',
	'SELECT shardroute.shard_of(u) FROM generate_series(8, 100) u WHERE shardroute.shard_of(u) <> '
	  . "$owner LIMIT 1");
my $other_user = $coord->safe_psql('postgres',
	'SELECT u FROM generate_series(8, 100) u WHERE shardroute.shard_of(u) <> '
	  . "$owner LIMIT 1");

# what the shards logged since the offsets taken by log_offsets
sub log_offsets
{
	return map { -s $_->logfile } @shards;
}

sub logged_since
{
	my @offsets = @_;
	my $text = '';
	$text .= slurp_file($shards[$_]->logfile, $offsets[$_]) for 0 .. $#shards;
	return $text;
}

sub count_matches
{
	my ($text, $re) = @_;
	my @all = $text =~ /$re/g;
	return scalar @all;
}

my $insert = q{INSERT INTO orders (user_id, symbol, quantity) VALUES (7, 'AAPL', 1);
};

# Each pgbench run is a new coordinator session, so a new connection to the
# shard, which parses the insert once.
for my $mode ('prepared', 'extended', 'simple')
{
	my @offsets = log_offsets();
	$coord->pgbench(
		"--no-vacuum -M $mode -c 1 -t 20",
		0,
		[qr{processed: 20/20}],
		[qr{^$}],
		"20 autocommit inserts ($mode protocol)",
		{ "007_insert_$mode" => $insert });
	my $log = logged_since(@offsets);
	is(count_matches($log, qr/execute shardroute_\d+:\s+INSERT/), 20,
		"$mode: the shard executes each insert once");
	is(count_matches($log, qr/parse shardroute_\d+:\s+INSERT/), 1,
		"$mode: the insert is parsed once on the shard connection");
	is(count_matches($log, qr/(?:statement|execute [^:]*):\s+(?:BEGIN|START|COMMIT|ROLLBACK|DEALLOCATE)/i),
		0, "$mode: no transaction command or DEALLOCATE around the inserts");
}
is( $shards[$owner]->safe_psql('postgres', 'SELECT count(*) FROM orders WHERE user_id = 7'),
	60, 'the 60 inserts are on the shard of user 7');

# A statement prepared on the coordinator switches to its generic plan and
# keeps it: the coordinator does not plan it again at each execution.
my $plans = $coord->safe_psql(
	'postgres', q{
PREPARE ins(bigint) AS INSERT INTO orders (user_id, symbol, quantity) VALUES ($1, 'MSFT', 1);
PREPARE sel(bigint) AS SELECT count(*) FROM orders WHERE user_id = $1;
EXECUTE ins(7); EXECUTE ins(8); EXECUTE ins(9); EXECUTE ins(10); EXECUTE ins(11);
EXECUTE ins(12); EXECUTE ins(13); EXECUTE ins(14); EXECUTE ins(15); EXECUTE ins(16);
EXECUTE ins(17); EXECUTE ins(18);
EXECUTE sel(7); EXECUTE sel(8); EXECUTE sel(9); EXECUTE sel(10); EXECUTE sel(11);
EXECUTE sel(12); EXECUTE sel(13); EXECUTE sel(14); EXECUTE sel(15); EXECUTE sel(16);
SELECT string_agg(name || ' ' || generic_plans || ' ' || custom_plans, ', ' ORDER BY name)
  FROM pg_prepared_statements;
});
like($plans, qr/ins (\d+) (\d+)/, 'pg_prepared_statements lists the insert');
my ($ins_generic, $ins_custom) = $plans =~ /ins (\d+) (\d+)/;
my ($sel_generic, $sel_custom) = $plans =~ /sel (\d+) (\d+)/;
cmp_ok($ins_custom, '<=', 5, 'the insert is planned at most five times');
is($ins_generic + $ins_custom, 12, 'the other executions reuse the generic plan of the insert');
cmp_ok($sel_custom, '<=', 5, 'the select is planned at most five times');
is($sel_generic + $sel_custom, 10, 'the other executions reuse the generic plan of the select');
is( $coord->safe_psql('postgres', "SELECT count(*) FROM orders WHERE symbol = 'MSFT'"),
	12, 'each execution of the generic plan inserted its row on its key\'s shard');

# Pipelined statements before one Sync are one implicit transaction: when
# the second fails on its shard, the first is rolled back on its own shard.
$coord->safe_psql('postgres',
	"INSERT INTO orders (order_id, user_id, symbol, quantity) VALUES (1000, $other_user, 'DUP', 1)"
);
my @offsets = log_offsets();
$coord->pgbench(
	'--no-vacuum -M extended -c 1 -t 1',
	2,
	[qr{}],
	[qr{duplicate key value violates unique constraint}],
	'a pipeline whose second insert fails is aborted',
	{
		'007_pipeline_fails' => qq{\\startpipeline
INSERT INTO orders (order_id, user_id, symbol, quantity) VALUES (1001, 7, 'PIPE', 1);
INSERT INTO orders (order_id, user_id, symbol, quantity) VALUES (1000, $other_user, 'DUP', 1);
\\endpipeline
}
	});
is( $coord->safe_psql('postgres', "SELECT count(*) FROM orders WHERE symbol = 'PIPE'"),
	0, 'the first insert of the failed pipeline is not kept');
is($shards[$owner]->safe_psql('postgres', "SELECT count(*) FROM orders WHERE symbol = 'PIPE'"),
	0, 'nor is it on its shard');
like(logged_since(@offsets), qr/execute [^:]*:\s+BEGIN ISOLATION LEVEL READ COMMITTED/,
	'the pipelined insert ran inside a remote transaction');

# A pipeline that succeeds commits every statement, on both shards, and a
# statement sees what an earlier one of the pipeline wrote: the third
# insert stores how many PIPE2 orders of user 7 it can see (the CHECK on
# quantity refuses 0).
$coord->pgbench(
	'--no-vacuum -M prepared -c 1 -t 5',
	0,
	[qr{processed: 5/5}],
	[qr{^$}],
	'pipelines of inserts on two shards and a read',
	{
		'007_pipeline' => qq{\\startpipeline
INSERT INTO orders (user_id, symbol, quantity) VALUES (7, 'PIPE2', 1);
INSERT INTO orders (user_id, symbol, quantity) VALUES ($other_user, 'PIPE2', 1);
INSERT INTO orders (user_id, symbol, quantity)
  SELECT 7, 'SEEN', count(*) FROM orders WHERE user_id = 7 AND symbol = 'PIPE2';
\\endpipeline
}
	});
is( $coord->safe_psql('postgres', "SELECT count(*) FROM orders WHERE symbol = 'PIPE2'"),
	10, 'every pipelined insert is kept');
is( $shards[$other]->safe_psql('postgres',
		"SELECT count(*) FROM orders WHERE symbol = 'PIPE2' AND user_id = $other_user"),
	5, 'the inserts for the other user are on their shard');
is( $coord->safe_psql('postgres',
		"SELECT string_agg(quantity::text, ',' ORDER BY quantity) FROM orders WHERE symbol = 'SEEN'"),
	'1,2,3,4,5', 'each pipeline read the insert made earlier in it');

# Statements of a pipeline on one shard are rolled back together when the
# last one fails.
$coord->pgbench(
	'--no-vacuum -M prepared -c 1 -t 1',
	2,
	[qr{}],
	[qr{violates check constraint}],
	'a pipeline whose last insert fails on the same shard is aborted',
	{
		'007_pipeline_check' => q{\startpipeline
INSERT INTO orders (user_id, symbol, quantity) VALUES (7, 'PIPE3', 1);
INSERT INTO orders (user_id, symbol, quantity) VALUES (7, 'PIPE3', 0);
\endpipeline
}
	});
is( $coord->safe_psql('postgres', "SELECT count(*) FROM orders WHERE symbol = 'PIPE3'"),
	0, 'a failed pipeline on one shard keeps none of its rows');
my $in_doubt = 0;
$in_doubt += $_->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts') for @shards;
is($in_doubt, 0, 'no prepared transaction is left on any shard');

done_testing();
