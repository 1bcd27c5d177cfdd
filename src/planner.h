/*-------------------------------------------------------------------------
 *
 * planner.h
 *	  The planner hook: which statements touch distributed tables, and the
 *	  plans that route them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_PLANNER_H
#define SHARDROUTE_PLANNER_H

#include "postgres.h"

#include "nodes/extensible.h"
#include "nodes/parsenodes.h"

/*
 * Positions in the custom_private lists of shardroute's CustomScan nodes.
 * Every list ends with PRIVATE_PARAMIDS (IntList: the statement's
 * parameter ids the remote SQL uses, as $1, $2, ...) and PRIVATE_PARAMTYPES
 * (OidList: the types of every remote parameter), at the positions below.
 */
#define PRIVATE_SQL					0	/* String: the remote statement */
#define PRIVATE_KEYTYPE				1	/* Integer: type the key hashes as */
#define PRIVATE_BINARY				2	/* Boolean: binary result rows */
#define PRIVATE_PARAMIDS			3
#define PRIVATE_PARAMTYPES			4
#define ROUTER_PRIVATE_COMMAND		5	/* Integer: CmdType */
#define INSERT_PRIVATE_TARGET		5	/* IntList: key column in source rows,
										 * target table */
#define SCAN_PRIVATE_ATTNUMS		5	/* IntList: columns the shard returns */

extern CustomScanMethods RouterScanMethods;
extern CustomScanMethods InsertScanMethods;
extern CustomScanMethods ShardScanMethods;

extern char *DeparseQueryForShard(Query *query);

#endif							/* SHARDROUTE_PLANNER_H */
