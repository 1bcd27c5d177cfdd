/*-------------------------------------------------------------------------
 *
 * twophase.c
 *	  Two-phase commit across shards: transaction ids, commit records, and
 *	  recovery of the prepared transactions a crash leaves in doubt.
 *
 * A transaction that wrote to two or more shards prepares each written
 * shard's part as "shardroute_<database>_<incarnation>_<full xid>_<shard>",
 * where the incarnation is the time the coordinator's shared memory was
 * last initialised: after a crash the coordinator may hand out again the
 * transaction ids it had assigned but not yet written to disk, so the id
 * alone would not name one transaction.
 * then inserts one row per prepared part into shardroute.transaction within
 * the local transaction.  The rows exist exactly when the local transaction
 * committed, so they are the commit decision: recovery commits a prepared
 * part that has its row and rolls back one that has none, once the local
 * transaction is no longer running.
 *
 * Recovery takes care of two races.  The decision to roll back is taken
 * only for transactions seen finished before the snapshot that reads the
 * records; and a record is deleted only if its transaction had committed
 * before the shards were asked for their prepared transactions, and its
 * part was not among them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/shmem.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "connection.h"
#include "metadata.h"
#include "twophase.h"

PG_FUNCTION_INFO_V1(shardroute_recover_prepared);

/* Test-only: the commit step at which the backend kills itself */
char	   *ShardrouteInjectFault = NULL;

/* Seconds between two recoveries by the background worker; 0: none */
int			ShardrouteRecoveryInterval = 5;

/* When this server's shared memory was initialised, in shared memory */
static TimestampTz *Incarnation = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* A prepared transaction found on a shard */
typedef struct InDoubt
{
	int			shardId;
	PGconn	   *conn;
	char	   *gid;
	bool		running;		/* its local transaction is still running */
} InDoubt;

/*
 * TwoPhaseShmemRequest asks for the incarnation's shared memory.
 */
static void
TwoPhaseShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(TimestampTz)));
}

/*
 * TwoPhaseShmemStartup sets the incarnation each time shared memory is
 * initialised: at server start and after every crash.
 */
static void
TwoPhaseShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	Incarnation = ShmemInitStruct("shardroute incarnation", sizeof(TimestampTz), &found);
	if (!found)
		*Incarnation = GetCurrentTimestamp();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * TwoPhaseInit installs the shared memory hooks.  Called from _PG_init.
 */
void
TwoPhaseInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = TwoPhaseShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = TwoPhaseShmemStartup;
}

/*
 * TwoPhaseGid writes the two-phase transaction id of the current local
 * transaction's part on a shard into gid (TWO_PHASE_GID_LEN bytes).
 */
void
TwoPhaseGid(char *gid, int shardId)
{
	snprintf(gid, TWO_PHASE_GID_LEN, "shardroute_%u_" INT64_FORMAT "_" UINT64_FORMAT "_%d",
			 MyDatabaseId, (int64) *Incarnation,
			 U64FromFullTransactionId(GetTopFullTransactionId()), shardId);
}

/*
 * TransactionTable returns the OID of shardroute.transaction.
 */
static Oid
TransactionTable(void)
{
	Oid			relid = get_relname_relid("transaction",
										  get_namespace_oid("shardroute", false));

	if (!OidIsValid(relid))
		elog(ERROR, "shardroute: table shardroute.transaction is missing");
	return relid;
}

/*
 * TwoPhaseRecordCommit inserts the commit record of a prepared part, in
 * the current local transaction.
 */
void
TwoPhaseRecordCommit(const char *gid)
{
	Relation	rel = table_open(TransactionTable(), RowExclusiveLock);
	Datum		values[1] = {CStringGetTextDatum(gid)};
	bool		nulls[1] = {false};
	HeapTuple	tuple = heap_form_tuple(RelationGetDescr(rel), values, nulls);

	CatalogTupleInsert(rel, tuple);
	heap_freetuple(tuple);
	table_close(rel, NoLock);
}

/*
 * PreparedPartTaken returns whether a failed COMMIT/ROLLBACK PREPARED
 * failed because someone else finished the part or is finishing it
 * (SQLSTATE 42704 "does not exist" or 55006 "is busy"): the backend that
 * prepared it and recovery both go by the same commit record.
 */
bool
PreparedPartTaken(PGresult *res)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return sqlstate && (strcmp(sqlstate, "42704") == 0 || strcmp(sqlstate, "55006") == 0);
}

/*
 * InjectFault kills the backend with SIGKILL, as a crash of the coordinator
 * would, when shardroute.inject_fault names this step of a commit.  For
 * tests only.
 */
void
InjectFault(const char *step)
{
	if (ShardrouteInjectFault == NULL || strcmp(ShardrouteInjectFault, step) != 0)
		return;
	ereport(LOG, (errmsg("shardroute: injected crash at commit step \"%s\"", step)));
	kill(MyProcPid, SIGKILL);
}

/*
 * ReadRecords returns the gids of shardroute.transaction visible to a
 * snapshot.
 */
static List *
ReadRecords(Relation rel, Snapshot snapshot)
{
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	List	   *gids = NIL;

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 1, &isnull);

		if (!isnull)
			gids = lappend(gids, TextDatumGetCString(d));
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	return gids;
}

/*
 * ListContainsString returns whether a list of C strings holds s.
 */
static bool
ListContainsString(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp(lfirst(lc), s) == 0)
			return true;
	return false;
}

/*
 * DeleteRecords deletes the commit records with the given gids.
 */
static void
DeleteRecords(Relation rel, List *gids)
{
	TableScanDesc scan;
	TupleTableSlot *slot;

	if (gids == NIL)
		return;
	scan = table_beginscan(rel, GetLatestSnapshot(), 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 1, &isnull);

		if (!isnull && ListContainsString(gids, TextDatumGetCString(d)))
			simple_table_tuple_delete(rel, &slot->tts_tid, GetLatestSnapshot());
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	CommandCounterIncrement();
}

/*
 * Report adds one row (shard, gid, action) to a recover_prepared() result.
 */
static void
Report(ReturnSetInfo *rsinfo, int shardId, const char *gid, const char *action)
{
	Datum		values[3];
	bool		nulls[3] = {false, gid == NULL, false};

	if (rsinfo == NULL)
	{
		ereport(LOG, (errmsg("shardroute recovery: shard %d%s%s: %s", shardId,
							 gid ? ", " : "", gid ? gid : "", action)));
		return;
	}
	values[0] = Int32GetDatum(shardId);
	values[1] = gid ? CStringGetTextDatum(gid) : (Datum) 0;
	values[2] = CStringGetTextDatum(action);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * ListInDoubt connects to every shard (as its server's owner) and appends
 * the prepared transactions of this database found there to *found; the
 * ids of the shards that answered go to *reachable.
 */
static void
ListInDoubt(ReturnSetInfo *rsinfo, List **found, List **reachable, List **conns)
{
	char	   *prefix = psprintf("shardroute_%u_", MyDatabaseId);
	char	   *sql = psprintf("SELECT gid FROM pg_catalog.pg_prepared_xacts "
							   "WHERE pg_catalog.starts_with(gid, '%s') "
							   "AND database = pg_catalog.current_database()", prefix);
	ListCell   *lc;

	foreach(lc, AllShards())
	{
		ShardInfo  *shard = lfirst(lc);
		char	   *error = NULL;
		PGconn	   *conn = ConnectToShard(shard, GetForeignServer(shard->serverId)->owner,
										  &error);
		PGresult   *res;

		if (conn == NULL)
		{
			Report(rsinfo, shard->shardId, NULL, psprintf("unreachable: %s", error));
			continue;
		}
		*conns = lappend(*conns, conn);
		res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			Report(rsinfo, shard->shardId, NULL,
				   psprintf("could not list prepared transactions: %s",
							pchomp(PQerrorMessage(conn))));
			PQclear(res);
			continue;
		}
		*reachable = lappend_int(*reachable, shard->shardId);
		for (int i = 0; i < PQntuples(res); i++)
		{
			InDoubt    *d = palloc0(sizeof(InDoubt));
			uint64		fxid = 0;
			int64		incarnation = 0;
			unsigned int db;
			int			sid;

			d->shardId = shard->shardId;
			d->conn = conn;
			d->gid = pstrdup(PQgetvalue(res, i, 0));
			if (sscanf(d->gid, "shardroute_%u_" INT64_FORMAT "_" UINT64_FORMAT "_%d",
					   &db, &incarnation, &fxid, &sid) != 4)
				continue;
			/* a transaction of an earlier incarnation is not running */
			d->running = incarnation == (int64) *Incarnation &&
				TransactionIdIsInProgress(XidFromFullTransactionId(FullTransactionIdFromU64(fxid)));
			*found = lappend(*found, d);
		}
		PQclear(res);
	}
}

/*
 * ShardrouteRecoverPrepared resolves the in-doubt prepared transactions
 * of this database on every reachable shard and forgets the commit records
 * no longer needed.  Reports each action to rsinfo (a recover_prepared()
 * result), or to the log when rsinfo is NULL.  Returns the number of
 * prepared transactions resolved.
 */
int
ShardrouteRecoverPrepared(ReturnSetInfo *rsinfo)
{
	Relation	rel = table_open(TransactionTable(), ShareUpdateExclusiveLock);
	Snapshot	before = RegisterSnapshot(GetLatestSnapshot());
	List	   *found = NIL;
	List	   *reachable = NIL;
	List	   *conns = NIL;
	List	   *committed;
	List	   *obsolete = NIL;
	ListCell   *lc;
	int			resolved = 0;
	Snapshot	after;

	ListInDoubt(rsinfo, &found, &reachable, &conns);
	after = RegisterSnapshot(GetLatestSnapshot());
	committed = ReadRecords(rel, after);

	foreach(lc, found)
	{
		InDoubt    *d = lfirst(lc);
		bool		commit = ListContainsString(committed, d->gid);
		PGresult   *res;

		if (d->running)
			continue;
		res = PQexec(d->conn, psprintf("%s PREPARED '%s'",
									   commit ? "COMMIT" : "ROLLBACK", d->gid));
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
		{
			Report(rsinfo, d->shardId, d->gid, commit ? "committed" : "rolled back");
			resolved++;
			if (commit)
				obsolete = lappend(obsolete, d->gid);
		}
		else if (PreparedPartTaken(res))
		{
			/* its own backend finished it meanwhile (or is doing so) */
		}
		else
			Report(rsinfo, d->shardId, d->gid,
				   psprintf("failed: %s", pchomp(PQerrorMessage(d->conn))));
		PQclear(res);
	}

	/* records of parts that were committed before the listing, and gone */
	foreach(lc, ReadRecords(rel, before))
	{
		char	   *gid = lfirst(lc);
		int			sid = atoi(strrchr(gid, '_') + 1);
		bool		listed = false;
		ListCell   *fc;

		foreach(fc, found)
			listed |= strcmp(((InDoubt *) lfirst(fc))->gid, gid) == 0;
		if (!listed && list_member_int(reachable, sid))
			obsolete = lappend(obsolete, gid);
	}
	DeleteRecords(rel, obsolete);

	foreach(lc, conns)
		PQfinish(lfirst(lc));
	UnregisterSnapshot(after);
	UnregisterSnapshot(before);
	table_close(rel, NoLock);
	return resolved;
}

/*
 * shardroute_recover_prepared implements shardroute.recover_prepared():
 * recovery on demand, returning what it did.
 */
Datum
shardroute_recover_prepared(PG_FUNCTION_ARGS)
{
	InitMaterializedSRF(fcinfo, 0);
	(void) ShardrouteRecoverPrepared((ReturnSetInfo *) fcinfo->resultinfo);
	return (Datum) 0;
}
