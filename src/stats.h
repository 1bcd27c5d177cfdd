/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Per-shard counters in shared memory, shown by shardroute.stat_shards.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_STATS_H
#define SHARDROUTE_STATS_H

#include "postgres.h"

/* What a counter counts */
typedef enum ShardCounter
{
	COUNTER_STATEMENTS,			/* statements run on the shard */
	COUNTER_ROWS,				/* rows they returned or changed */
	COUNTER_ERRORS,				/* statements the shard failed */
	COUNTER_FANOUTS,			/* statements that read several shards */
	COUNTER_TWO_PHASE,			/* two-phase commits */
	NUM_SHARD_COUNTERS
} ShardCounter;

/* Shards with ids at or above this are not counted */
#define MAX_COUNTED_SHARDS 1024

extern void CountShard(int shardId, ShardCounter counter, uint64 amount);

#endif							/* SHARDROUTE_STATS_H */
