/*-------------------------------------------------------------------------
 *
 * health.c
 *	  shardroute.health(): whether each shard answers, how fast, and what
 *	  it runs, in one call.
 *
 * Each shard gets a new connection of its own, made and closed here, as
 * pg_isready would: the check does not depend on, nor disturb, the
 * connections and remote transactions of the calling session.  It uses the
 * user mapping of the shard server's owner, the role that registered it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "connection.h"
#include "metadata.h"

PG_FUNCTION_INFO_V1(shardroute_health);

#define HEALTH_COLUMNS 7

/*
 * CheckShard fills one row of health() for a shard: values and nulls of
 * reachable, latency_ms, server_version, max_prepared_transactions,
 * in_doubt_transactions and error (after shard_id).
 */
static void
CheckShard(ShardInfo *shard, Datum *values, bool *nulls)
{
	char	   *error = NULL;
	PGconn	   *conn = ConnectToShard(shard, GetForeignServer(shard->serverId)->owner,
									  &error);
	PGresult   *res;
	instr_time	start;
	instr_time	elapsed;

	for (int i = 1; i < HEALTH_COLUMNS; i++)
		nulls[i] = true;
	values[1] = BoolGetDatum(false);
	nulls[1] = false;
	if (conn == NULL)
	{
		values[6] = CStringGetTextDatum(error);
		nulls[6] = false;
		return;
	}

	INSTR_TIME_SET_CURRENT(start);
	res = PQexec(conn,
				 "SELECT pg_catalog.current_setting('server_version'), "
				 "pg_catalog.current_setting('max_prepared_transactions'), "
				 "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_xacts)");
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		values[1] = BoolGetDatum(true);
		values[2] = DirectFunctionCall3(numeric_in,
										CStringGetDatum(psprintf("%.3f", INSTR_TIME_GET_MILLISEC(elapsed))),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		values[3] = CStringGetTextDatum(PQgetvalue(res, 0, 0));
		values[4] = Int32GetDatum(atoi(PQgetvalue(res, 0, 1)));
		values[5] = Int64GetDatum(atoll(PQgetvalue(res, 0, 2)));
		for (int i = 2; i <= 5; i++)
			nulls[i] = false;
	}
	else
	{
		values[6] = CStringGetTextDatum(pchomp(PQerrorMessage(conn)));
		nulls[6] = false;
	}
	PQclear(res);
	PQfinish(conn);
}

/*
 * shardroute_health implements shardroute.health(): one row per shard.
 */
Datum
shardroute_health(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, AllShards())
	{
		ShardInfo  *shard = lfirst(lc);
		Datum		values[HEALTH_COLUMNS];
		bool		nulls[HEALTH_COLUMNS];

		CHECK_FOR_INTERRUPTS();
		values[0] = Int32GetDatum(shard->shardId);
		nulls[0] = false;
		CheckShard(shard, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
