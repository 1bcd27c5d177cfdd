/*-------------------------------------------------------------------------
 *
 * twophase.h
 *	  Two-phase commit across shards: transaction ids, commit records,
 *	  recovery of in-doubt prepared transactions, and the fault injection
 *	  points the tests use.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_TWOPHASE_H
#define SHARDROUTE_TWOPHASE_H

#include "postgres.h"

#include "libpq-fe.h"
#include "nodes/execnodes.h"

#define TWO_PHASE_GID_LEN 96

extern char *ShardrouteInjectFault;
extern int	ShardrouteRecoveryInterval;

extern void TwoPhaseInit(void);
extern void TwoPhaseGid(char *gid, int shardId);
extern void TwoPhaseRecordCommit(const char *gid);
extern void InjectFault(const char *step);
extern bool PreparedPartTaken(PGresult *res);
extern int	ShardrouteRecoverPrepared(ReturnSetInfo *rsinfo);

#endif							/* SHARDROUTE_TWOPHASE_H */
