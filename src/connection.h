/*-------------------------------------------------------------------------
 *
 * connection.h
 *	  libpq connections to shards, the remote transactions that follow the
 *	  local one, and pipelined statement batches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_CONNECTION_H
#define SHARDROUTE_CONNECTION_H

#include "postgres.h"

#include "libpq-fe.h"

#include "metadata.h"

typedef struct ShardConnection ShardConnection;

extern PGconn *ConnectToShard(ShardInfo *shard, Oid userId, char **error);
extern ShardConnection *GetShardConnection(int shardId);
extern ShardConnection *GetShardConnectionAs(int shardId, Oid userId);
extern int	ShardConnectionShardId(ShardConnection *conn);

extern void ShardBeginBatch(ShardConnection *conn, bool onlyBatch, bool writes);
extern void ShardQueueStatement(ShardConnection *conn, const char *sql,
								int nparams, const Oid *types,
								const char *const *values, const int *lengths,
								const int *formats, bool binaryResult,
								bool prepare);
extern void ShardEndBatch(ShardConnection *conn);
extern PGresult *ShardNextResult(ShardConnection *conn);
extern void ShardFinishBatch(ShardConnection *conn);

extern char *ShardExecuteCommand(int shardId, const char *sql);

#endif							/* SHARDROUTE_CONNECTION_H */
