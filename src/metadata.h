/*-------------------------------------------------------------------------
 *
 * metadata.h
 *	  Per-backend cache of shardroute's catalog: shards, the slot map and
 *	  distributed tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_METADATA_H
#define SHARDROUTE_METADATA_H

#include "postgres.h"

#include "access/attnum.h"
#include "nodes/pg_list.h"

/* A distributed table: the coordinator's logical table and its key */
typedef struct DistTable
{
	Oid			relid;			/* hash key: the coordinator table */
	AttrNumber	keyAttno;		/* distribution column */
	Oid			keyType;		/* its type */
	char	   *keyName;		/* its name */
} DistTable;

/* A registered shard */
typedef struct ShardInfo
{
	int			shardId;
	Oid			serverId;		/* postgres_fdw foreign server */
	char	   *serverName;
} ShardInfo;

extern bool HaveDistributedTables(void);
extern DistTable *GetDistTable(Oid relid);
extern int	ShardForKey(Datum key, Oid keyType);
extern ShardInfo *GetShard(int shardId);
extern List *AllShards(void);
extern int	MetadataSlotCount(void);

#endif							/* SHARDROUTE_METADATA_H */
