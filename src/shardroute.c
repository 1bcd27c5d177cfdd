/*-------------------------------------------------------------------------
 *
 * shardroute.c
 *	  Entry point of the shardroute extension: settings and subsystems.
 *
 * shardroute must be preloaded: its planner hook has to see every
 * statement of every backend, or a backend without it would read and write
 * the coordinator's own (empty) copy of a distributed table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "shardroute.h"
#include "twophase.h"

PG_MODULE_MAGIC;

/* Seconds to wait for a shard's connection before giving up */
int			ShardrouteConnectTimeout = 2;

/* Slots of a new cluster, read once when the extension is created */
int			ShardrouteSlotCount = 4096;

/* Statements each shard connection keeps prepared, at most */
int			ShardrouteMaxPreparedStatements = 1000;

/* Database whose topology the server logs at start; empty for none */
char	   *ShardrouteDatabase = NULL;

void		_PG_init(void);

/*
 * DefineSettings defines the shardroute.* GUCs.
 */
static void
DefineSettings(void)
{
	DefineCustomIntVariable("shardroute.connect_timeout",
							"Seconds to wait for a connection to a shard.",
							"A shard that does not answer in time fails the statement with SQLSTATE 08001. "
							"A connect_timeout option on the foreign server takes precedence.",
							&ShardrouteConnectTimeout, 2, 1, 3600,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("shardroute.slot_count",
							"Number of hash slots of a new cluster.",
							"Read once, by CREATE EXTENSION; the cluster keeps its slot count for life.",
							&ShardrouteSlotCount, 4096, 1024, 65536,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("shardroute.max_prepared_statements",
							"Statements each shard connection keeps prepared.",
							"Past this number, further statements are sent unprepared.",
							&ShardrouteMaxPreparedStatements, 1000, 0, 100000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("shardroute.database",
							   "Database whose sharding topology is logged at server start.",
							   "Empty: nothing is logged at start; the topology is still logged whenever it changes.",
							   &ShardrouteDatabase, "", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("shardroute.recovery_interval",
							"Seconds between two recoveries of in-doubt prepared transactions.",
							"The background worker of shardroute.database runs shardroute.recover_prepared() this often; 0 stops it.",
							&ShardrouteRecoveryInterval, 5, 0, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("shardroute.inject_fault",
							   "For tests: the commit step at which a backend kills itself.",
							   "One of after-autocommit-batch, before-prepare, after-prepare, after-commit-record, after-local-commit, after-commit-prepared; empty for none.",
							   &ShardrouteInjectFault, "", PGC_SUSET, GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("shardroute");
}

/*
 * _PG_init checks that the library is preloaded and starts each
 * subsystem.
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shardroute must be loaded via \"shared_preload_libraries\""),
				 errhint("Add shardroute to shared_preload_libraries in postgresql.conf and restart the server.")));

	DefineSettings();
	StatsInit();
	TwoPhaseInit();
	MetadataInit();
	ConnectionInit();
	PlannerInit();
	ExecutorInit();
	UtilityInit();
	WorkerInit();
}
