/*-------------------------------------------------------------------------
 *
 * shardroute.h
 *	  Settings and subsystem entry points shared by every part of
 *	  shardroute.
 *
 * Each subsystem (hashing, metadata, connections, planner, executor)
 * exports one Init function that _PG_init calls; the settings below are
 * the extension's GUCs, defined in shardroute.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_H
#define SHARDROUTE_H

/* GUCs (see shardroute.c for their documentation) */
extern int	ShardrouteConnectTimeout;
extern int	ShardrouteSlotCount;
extern int	ShardrouteMaxPreparedStatements;
extern char *ShardrouteDatabase;

extern void MetadataInit(void);
extern void ConnectionInit(void);
extern void PlannerInit(void);
extern void ExecutorInit(void);
extern void UtilityInit(void);
extern void StatsInit(void);
extern void WorkerInit(void);

#endif							/* SHARDROUTE_H */
