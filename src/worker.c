/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker of the database named by shardroute.database:
 *	  at server start it logs the topology in the words operators look for,
 *	  "Initializing 3-way database sharding (...)", then every
 *	  shardroute.recovery_interval seconds it resolves the prepared
 *	  transactions a crash left in doubt on the shards.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "storage/ipc.h"
#include "utils/snapmgr.h"

#include "shardroute.h"
#include "twophase.h"

PGDLLEXPORT void ShardrouteWorkerMain(Datum arg);

PG_FUNCTION_INFO_V1(shardroute_log_topology);

/*
 * WorkerInit registers the worker when shardroute.database is set.
 * Called from _PG_init, after the settings are defined.
 */
void
WorkerInit(void)
{
	BackgroundWorker worker;

	if (ShardrouteDatabase == NULL || ShardrouteDatabase[0] == '\0')
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "shardroute");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ShardrouteWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "shardroute worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "shardroute worker");
	RegisterBackgroundWorker(&worker);
}

/*
 * LogTopology logs the topology of the current database, without the
 * statement that caused it (which may carry a shard's password).
 */
static void
LogTopology(void)
{
	if (SPI_connect() != SPI_OK_CONNECT ||
		SPI_execute("SELECT shardroute.topology_line()", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "shardroute: could not read the topology");
	ereport(LOG,
			(errmsg("%s", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
			 errhidestmt(true), errhidecontext(true)));
	SPI_finish();
}

/*
 * shardroute_log_topology implements shardroute.log_topology(), which the
 * functions that change the topology call.
 */
Datum
shardroute_log_topology(PG_FUNCTION_ARGS)
{
	LogTopology();
	PG_RETURN_VOID();
}

/*
 * LogStartTopology logs, at server start, the topology of the worker's
 * database, or why there is none.
 */
static void
LogStartTopology(void)
{
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(get_extension_oid("shardroute", true)))
		LogTopology();
	else
		ereport(LOG,
				(errmsg("shardroute is not installed in database \"%s\"; no sharding topology",
						ShardrouteDatabase)));
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * RecoverOnce runs one recovery in a transaction of its own; a failure is
 * logged and left for the next round.
 */
static void
RecoverOnce(void)
{
	MemoryContext context = CurrentMemoryContext;

	PG_TRY();
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (OidIsValid(get_extension_oid("shardroute", true)))
			(void) ShardrouteRecoverPrepared(NULL);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
}

/*
 * ShardrouteWorkerMain connects to shardroute.database, logs its
 * topology, then recovers in-doubt transactions until the server stops.
 */
void
ShardrouteWorkerMain(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(ShardrouteDatabase, NULL, 0);
	LogStartTopology();

	for (;;)
	{
		int			interval = ShardrouteRecoveryInterval;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						 (interval > 0 ? WL_TIMEOUT : 0),
						 interval * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (interval > 0)
			RecoverOnce();
	}
}
