/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Per-shard counters in shared memory, in the style of pg_stat_*:
 *	  statements routed, rows, errors, fan-outs and two-phase commits per
 *	  shard since the last shardroute.stat_shards_reset().
 *
 * Counters are atomics in one shared array indexed by shard id, so
 * counting costs no lock on the routed hot path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "metadata.h"
#include "shardroute.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(shardroute_stat_shards);
PG_FUNCTION_INFO_V1(shardroute_stat_shards_reset);

/* The shared counters */
typedef struct SharedStats
{
	pg_atomic_uint64 counters[MAX_COUNTED_SHARDS][NUM_SHARD_COUNTERS];
	pg_atomic_uint64 resetTime;	/* TimestampTz of the last reset */
} SharedStats;

static SharedStats *Stats = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * StatsShmemRequest asks for the counters' shared memory.
 */
static void
StatsShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SharedStats)));
}

/*
 * StatsShmemStartup finds (or, first, creates and zeroes) the counters.
 */
static void
StatsShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	Stats = ShmemInitStruct("shardroute stats", sizeof(SharedStats), &found);
	if (!found)
	{
		for (int s = 0; s < MAX_COUNTED_SHARDS; s++)
			for (int c = 0; c < NUM_SHARD_COUNTERS; c++)
				pg_atomic_init_u64(&Stats->counters[s][c], 0);
		pg_atomic_init_u64(&Stats->resetTime, (uint64) GetCurrentTimestamp());
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * StatsInit installs the shared memory hooks.  Called from _PG_init.
 */
void
StatsInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = StatsShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = StatsShmemStartup;
}

/*
 * CountShard adds amount to one counter of a shard.
 */
void
CountShard(int shardId, ShardCounter counter, uint64 amount)
{
	if (Stats && shardId >= 0 && shardId < MAX_COUNTED_SHARDS)
		pg_atomic_fetch_add_u64(&Stats->counters[shardId][counter], amount);
}

/*
 * shardroute_stat_shards returns one row per registered shard: its
 * counters and the time they were last reset.
 */
Datum
shardroute_stat_shards(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, AllShards())
	{
		int			id = ((ShardInfo *) lfirst(lc))->shardId;
		Datum		values[NUM_SHARD_COUNTERS + 2];
		bool		nulls[NUM_SHARD_COUNTERS + 2] = {0};

		values[0] = Int32GetDatum(id);
		for (int c = 0; c < NUM_SHARD_COUNTERS; c++)
		{
			nulls[c + 1] = Stats == NULL || id >= MAX_COUNTED_SHARDS;
			values[c + 1] = nulls[c + 1] ? (Datum) 0 :
				Int64GetDatum((int64) pg_atomic_read_u64(&Stats->counters[id][c]));
		}
		nulls[NUM_SHARD_COUNTERS + 1] = Stats == NULL;
		values[NUM_SHARD_COUNTERS + 1] = Stats ?
			TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&Stats->resetTime)) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * shardroute_stat_shards_reset zeroes every counter.
 */
Datum
shardroute_stat_shards_reset(PG_FUNCTION_ARGS)
{
	if (Stats == NULL)
		PG_RETURN_VOID();
	for (int s = 0; s < MAX_COUNTED_SHARDS; s++)
		for (int c = 0; c < NUM_SHARD_COUNTERS; c++)
			pg_atomic_write_u64(&Stats->counters[s][c], 0);
	pg_atomic_write_u64(&Stats->resetTime, (uint64) GetCurrentTimestamp());
	PG_RETURN_VOID();
}
