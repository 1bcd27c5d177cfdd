# Two-phase commit under crashes: the coordinator is killed with SIGKILL at
# each step of a transaction that writes to two shards (the test-only
# setting shardroute.inject_fault picks the step), and once with a shard
# stopped while its part is prepared.  After each, the recovery worker must
# leave no prepared transaction on any shard, no partial transaction, and
# every acknowledged write in place.  Then the same for a transaction that
# writes a coordinator table and one shard, and last a crash right after a
# shard committed an autocommit insert on its own: its bigserial value must
# not be handed out again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use ShardrouteNodes;

my @shards = start_shards(2);
my $coord = start_coordinator(
	"shardroute.database = 'postgres'\nshardroute.recovery_interval = 1\nrestart_after_crash = on\n",
	@shards);
$coord->safe_psql('postgres',
	"CREATE TABLE ledger (user_id bigint NOT NULL, step text NOT NULL, PRIMARY KEY (user_id, step)); SELECT shardroute.distribute_table('ledger')"
);
my @user = map {
	$coord->safe_psql('postgres',
		"SELECT min(g) FROM generate_series(1, 100) g WHERE shardroute.shard_of(g) = $_")
} 0 .. 1;

# an acknowledged two-shard transaction, before any crash
$coord->safe_psql('postgres',
	"BEGIN; INSERT INTO ledger VALUES ($user[0], 'acked'), ($user[1], 'acked'); COMMIT;");

# rows of a step on each shard, counted on the shards themselves
sub rows_on_shards
{
	my ($step) = @_;
	return join(',',
		map { $_->safe_psql('postgres', "SELECT count(*) FROM ledger WHERE step = '$step'") }
		  @shards);
}

# wait until no shard holds a prepared transaction
sub wait_resolved
{
	my ($name) = @_;
	for my $i (0 .. $#shards)
	{
		ok( $shards[$i]->poll_query_until(
				'postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
			"$name: no prepared transaction left on shard $i");
	}
}

# crash the coordinator at a step of the commit of $sql, by default a
# transaction that writes rows labelled $label to both shards; returns once
# the coordinator accepts connections again
sub crash_at
{
	my ($step, $label, $sql) = @_;
	$sql //= "BEGIN; INSERT INTO ledger VALUES ($user[0], '$label'), ($user[1], '$label'); COMMIT;";
	my $offset = -s $coord->logfile;
	my ($ret) = $coord->psql('postgres', "SET shardroute.inject_fault = '$step'; $sql");
	isnt($ret, 0, "$label: the client gets no acknowledgement");
	$coord->poll_query_until('postgres', 'SELECT true')
	  or die "coordinator did not come back";
	ok($coord->log_contains(qr/injected crash at commit step "$step"/, $offset),
		"$label: the coordinator crashed at step $step");
}

my %expected = (
	'before-prepare' => '0,0',
	'after-prepare' => '0,0',
	'after-commit-record' => '0,0',
	'after-local-commit' => '1,1',
	'after-commit-prepared' => '1,1');
for my $step (sort keys %expected)
{
	crash_at($step, $step);
	wait_resolved($step);
	is(rows_on_shards($step), $expected{$step},
		"$step: " . ($expected{$step} eq '1,1' ? 'committed on both shards' : 'rolled back on both shards'));
}

# a shard down while its part is prepared: resolved when it comes back
$shards[1]->stop('fast');
my ($ret) = $coord->psql('postgres',
	"BEGIN; INSERT INTO ledger VALUES ($user[0], 'shard-down'), ($user[1], 'shard-down'); COMMIT;");
isnt($ret, 0, 'a transaction that needs a stopped shard fails');
is($shards[0]->safe_psql('postgres', "SELECT count(*) FROM ledger WHERE step = 'shard-down'"),
	0, 'and leaves nothing on the other shard');

$shards[1]->start;
crash_at('after-local-commit', 'shard-restarted');
$shards[1]->stop('immediate');
ok($shards[0]->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'the reachable shard is resolved while the other is down');
$shards[1]->start;
wait_resolved('shard back');
is(rows_on_shards('shard-restarted'), '1,1',
	'the part prepared on the stopped shard is committed when it comes back');

is(rows_on_shards('acked'), '1,1', 'the acknowledged transaction is intact');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM shardroute.health() WHERE in_doubt_transactions > 0'),
	0, 'health() shows no in-doubt transaction');
my $recovered = $coord->safe_psql('postgres', 'SELECT count(*) FROM shardroute.recover_prepared()');
is($recovered, 0, 'recover_prepared() on demand finds nothing left to do');

# with the worker stopped, recover_prepared() resolves on demand and says how
$coord->safe_psql('postgres',
	'ALTER SYSTEM SET shardroute.recovery_interval = 0; SELECT pg_reload_conf()');
crash_at('after-local-commit', 'on-demand');
is( $coord->safe_psql(
		'postgres',
		'SELECT count(*) FROM shardroute.health() WHERE in_doubt_transactions > 0'),
	2,
	'both parts stay in doubt without the worker');
is( $coord->safe_psql(
		'postgres', 'SELECT string_agg(shard_id || \':\' || action, \',\' ORDER BY shard_id) FROM shardroute.recover_prepared()'),
	'0:committed,1:committed',
	'recover_prepared() commits them and reports it');
is(rows_on_shards('on-demand'), '1,1', 'the transaction is complete on both shards');

# A transaction that writes a table of the coordinator and one shard commits
# in two phases too: a crash after the shard prepared keeps neither write,
# a crash after the local commit keeps both.  A transaction whose only local
# change is a sequence advance still commits in one phase.
$coord->safe_psql('postgres', 'CREATE TABLE local_log (label text PRIMARY KEY)');
sub local_and_shard
{
	my ($step, $label) = @_;
	crash_at($step, $label,
		"BEGIN; INSERT INTO local_log VALUES ('$label'); INSERT INTO ledger VALUES ($user[0], '$label'); COMMIT;"
	);
	# the worker is off since the test above: recover on demand
	$coord->safe_psql('postgres', 'SELECT count(*) FROM shardroute.recover_prepared()');
	wait_resolved($label);
	return $coord->safe_psql('postgres', "SELECT count(*) FROM local_log WHERE label = '$label'")
	  . ',' . rows_on_shards($label);
}
is(local_and_shard('after-prepare', 'local-prepared'),
	'0,0,0', 'local and shard write, crash after prepare: neither is kept');
is(local_and_shard('after-local-commit', 'local-committed'),
	'1,1,0', 'local and shard write, crash after the local commit: both are kept');
my $two_phase = 'SELECT sum(two_phase_commits) FROM shardroute.stat_shards';
my $before = $coord->safe_psql('postgres', $two_phase);
$coord->safe_psql('postgres',
	"BEGIN; INSERT INTO local_log VALUES ('counted'); INSERT INTO ledger VALUES ($user[0], 'counted'); COMMIT;"
);
is($coord->safe_psql('postgres', $two_phase) - $before,
	1, 'a local and one-shard write counts one two-phase part');
$coord->safe_psql('postgres',
	"CREATE SEQUENCE ledger_seq; BEGIN; INSERT INTO ledger VALUES ($user[0], 'seq-' || nextval('ledger_seq')); COMMIT;"
);
$before = $coord->safe_psql('postgres', $two_phase);
$coord->safe_psql('postgres', 'CHECKPOINT');
$coord->safe_psql('postgres',
	"BEGIN; INSERT INTO ledger VALUES ($user[0], 'seq-' || nextval('ledger_seq')); COMMIT;");
is($coord->safe_psql('postgres', $two_phase) - $before,
	0, 'a one-shard write whose only local change is nextval() commits in one phase');

# A bigserial value of a row that a shard committed on its own (an
# autocommit single-statement insert) is never handed out again, even when
# the coordinator crashes right after the shard's commit: nextval() logs the
# sequence ahead in WAL that the local commit would flush, so it must be
# flushed before the shard commits.  After a checkpoint, the next nextval()
# writes such a record.
$coord->safe_psql('postgres',
	"CREATE TABLE seq_orders (order_id bigserial, user_id bigint NOT NULL, PRIMARY KEY (user_id, order_id)); SELECT shardroute.distribute_table('seq_orders')"
);
$coord->safe_psql('postgres', 'CHECKPOINT');
crash_at('after-autocommit-batch', 'autocommit',
	"INSERT INTO seq_orders (user_id) VALUES ($user[0]);");
is($shards[0]->safe_psql('postgres', 'SELECT count(*) FROM seq_orders'),
	1, 'the shard kept the row it committed');
my ($ret, $stdout, $stderr) = $coord->psql('postgres',
	"INSERT INTO seq_orders (user_id) SELECT $user[0] FROM generate_series(1, 40)");
is($ret, 0, 'inserting 40 more rows for the same user succeeds')
  or diag($stderr);
is( $shards[0]->safe_psql('postgres', 'SELECT count(DISTINCT order_id) || \'/\' || count(*) FROM seq_orders'),
	'41/41', 'no order_id was handed out twice');

done_testing();
