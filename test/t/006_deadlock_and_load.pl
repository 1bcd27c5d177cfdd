# Failures under way: a deadlock that spans two shards (no shard can see
# it) ends through lock_timeout, which reaches the shards, with a clear
# error and nothing hanging; and a shard stopped while statements keep
# coming fails only its own users' statements, with SQLSTATE 08001, until
# it is back, losing no acknowledged write and keeping no failed one.
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
my $coord = start_coordinator("shardroute.connect_timeout = 2\n", @shards);
$coord->safe_psql(
	'postgres', q{
CREATE TABLE accounts (user_id bigint PRIMARY KEY, balance bigint NOT NULL);
SELECT shardroute.distribute_table('accounts');
INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 1000) g;
CREATE TABLE orders (order_id bigserial, user_id bigint NOT NULL, PRIMARY KEY (user_id, order_id));
SELECT shardroute.distribute_table('orders');
});
my @user = map {
	$coord->safe_psql('postgres',
		"SELECT min(g) FROM generate_series(1, 100) g WHERE shardroute.shard_of(g) = $_")
} 0 .. 2;

# --- a deadlock across shards 0 and 1 ---
my $s1 = $coord->background_psql('postgres', on_error_stop => 0);
my $s2 = $coord->background_psql('postgres', on_error_stop => 0);
$s1->query_safe("SET lock_timeout = '2s'; BEGIN; UPDATE accounts SET balance = balance + 1 WHERE user_id = $user[0];");
$s2->query_safe("SET lock_timeout = '2s'; BEGIN; UPDATE accounts SET balance = balance + 1 WHERE user_id = $user[1];");
my $start = time;
$s1->query_until(qr/sent/,
	"\\echo sent\nUPDATE accounts SET balance = balance + 1 WHERE user_id = $user[1];\n");
$s2->query("UPDATE accounts SET balance = balance + 1 WHERE user_id = $user[0];");
my $s2err = $s2->{stderr};
$s2->{stderr} = '';
$s1->query('SELECT 1;');
my $s1err = $s1->{stderr};
my $elapsed = time - $start;
like($s1err . $s2err, qr/canceling statement due to lock timeout/,
	'the cross-shard deadlock ends with a lock timeout error');
cmp_ok($elapsed, '<', 60, 'nothing hangs');
$s1->query('ROLLBACK;');
$s2->query('ROLLBACK;');
$s1->quit;
$s2->quit;
is( $coord->safe_psql(
		'postgres',
		"SET lock_timeout = '5s'; UPDATE accounts SET balance = balance + 1 WHERE user_id = $user[0] RETURNING 1; UPDATE accounts SET balance = balance + 1 WHERE user_id = $user[1] RETURNING 1"
	),
	"1\n1",
	'both rows are free again afterwards');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM shardroute.health() WHERE in_doubt_transactions > 0'),
	0, 'and no transaction is left in doubt');

# --- shard 1 stopped while statements keep coming ---
my (%ok, %failed, @acked, $other_errors);
my $session = $coord->background_psql('postgres', on_error_stop => 0);
for my $n (1 .. 150)
{
	$shards[1]->stop('immediate') if $n == 50;
	$shards[1]->start if $n == 100;
	my $shard = $n % 3;
	$session->{stderr} = '';
	my $id = $session->query("INSERT INTO orders (user_id) VALUES ($user[$shard]) RETURNING order_id;");
	if ($session->{stderr} eq '' && $id =~ /^\d+$/)
	{
		$ok{$shard}++;
		push @acked, $id;
	}
	else
	{
		$failed{$shard}++;
		$other_errors++ unless $session->{stderr} =~ /shard 1/ && $shard == 1;
	}
}
$session->quit;
note("succeeded per shard: " . join(', ', map { "$_: " . ($ok{$_} // 0) } 0 .. 2));
note("failed per shard: " . join(', ', map { "$_: " . ($failed{$_} // 0) } 0 .. 2));
ok(!$failed{0} && !$failed{2}, 'users of shards 0 and 2 never failed');
ok($failed{1} && $failed{1} <= 17, 'users of shard 1 failed only while it was down');
is($other_errors // 0, 0, 'every failure named shard 1');
is($ok{1}, 50 - ($failed{1} // 0), 'shard 1 worked before and after');
my $present = $coord->safe_psql('postgres',
	'SELECT count(*) FROM orders WHERE order_id IN (' . join(',', @acked) . ')');
is($present, scalar @acked, 'every acknowledged order is present');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM orders'), scalar @acked,
	'and no failed one is');

done_testing();
