/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker that, at server start, loads the topology of
 *	  the database named by shardroute.database and logs it in the words
 *	  operators look for: "Initializing 3-way database sharding (...)".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/snapmgr.h"

#include "shardroute.h"

PGDLLEXPORT void ShardrouteStartupWorkerMain(Datum arg);

/*
 * WorkerInit registers the startup worker when shardroute.database is set.
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
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "shardroute");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ShardrouteStartupWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "shardroute startup");
	snprintf(worker.bgw_type, BGW_MAXLEN, "shardroute startup");
	RegisterBackgroundWorker(&worker);
}

/*
 * ShardrouteStartupWorkerMain connects to shardroute.database, logs its
 * topology (or why there is none) and exits.
 */
void
ShardrouteStartupWorkerMain(Datum arg)
{
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(ShardrouteDatabase, NULL, 0);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!OidIsValid(get_extension_oid("shardroute", true)))
		ereport(LOG,
				(errmsg("shardroute is not installed in database \"%s\"; no sharding topology",
						ShardrouteDatabase)));
	else
	{
		if (SPI_connect() != SPI_OK_CONNECT ||
			SPI_execute("SELECT shardroute.topology_line()", true, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "shardroute: could not read the topology");
		ereport(LOG,
				(errmsg("%s", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	proc_exit(0);
}
