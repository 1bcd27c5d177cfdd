/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  SQL-callable helpers of the install script's administration
 *	  functions: parsing shard connection strings and running commands on
 *	  a shard.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "utils/builtins.h"

#include "connection.h"
#include "metadata.h"

PG_FUNCTION_INFO_V1(shardroute_parse_conninfo);
PG_FUNCTION_INFO_V1(shardroute_shard_execute);
PG_FUNCTION_INFO_V1(shardroute_run_on_shards);

/*
 * StripDriverSuffix removes a "+driver" suffix from a URL's scheme, as in
 * "postgresql+asyncpg://...", and returns the string libpq understands.
 */
static char *
StripDriverSuffix(const char *conninfo)
{
	const char *schemes[] = {"postgresql+", "postgres+"};

	for (int i = 0; i < lengthof(schemes); i++)
	{
		size_t		len = strlen(schemes[i]);
		const char *rest;

		if (pg_strncasecmp(conninfo, schemes[i], len) != 0)
			continue;
		rest = strstr(conninfo + len, "://");
		if (rest == NULL)
			break;
		return psprintf("%.*s%s", (int) len - 1, conninfo, rest);
	}
	return pstrdup(conninfo);
}

/*
 * shardroute_parse_conninfo implements shardroute.parse_conninfo(text):
 * the options a libpq connection string or URL sets, as (keyword, value)
 * rows.  Errors with SQLSTATE 22023 when libpq cannot parse it.
 */
Datum
shardroute_parse_conninfo(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *conninfo = StripDriverSuffix(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	char	   *err = NULL;
	PQconninfoOption *options = PQconninfoParse(conninfo, &err);

	if (options == NULL)
	{
		char	   *msg = err ? pchomp(err) : "out of memory";

		if (err)
			PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid shard connection string"),
				 errdetail_internal("%s", msg),
				 errhint("Give a libpq connection string such as \"host=db0 port=5432 dbname=trading_db\" or a URL such as \"postgresql://user:password@db0:5432/trading_db\".")));
	}

	InitMaterializedSRF(fcinfo, 0);
	for (PQconninfoOption *opt = options; opt->keyword; opt++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (opt->val == NULL || opt->val[0] == '\0')
			continue;
		values[0] = CStringGetTextDatum(opt->keyword);
		values[1] = CStringGetTextDatum(opt->val);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PQconninfoFree(options);
	return (Datum) 0;
}

/*
 * shardroute_shard_execute implements shardroute.shard_execute(shard,
 * command): runs one command on a shard inside the current transaction and
 * returns the first column of its first row, or its command tag.
 */
Datum
shardroute_shard_execute(PG_FUNCTION_ARGS)
{
	char	   *result = ShardExecuteCommand(PG_GETARG_INT32(0),
											 text_to_cstring(PG_GETARG_TEXT_PP(1)));

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * shardroute_run_on_shards implements shardroute.run_on_shards(command):
 * runs one command on every shard at once and returns per shard the first
 * column of its first row (or its command tag).  Only the values travel
 * back.  It connects with the user mapping of each shard server's owner,
 * the role that registered the shard, so that the toolkit works for roles
 * without mappings of their own; for the owner it runs inside the current
 * transaction's remote transaction.
 */
Datum
shardroute_run_on_shards(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *shards = AllShards();
	List	   *conns = NIL;
	ListCell   *lc;
	ListCell   *cc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, shards)
	{
		ShardInfo  *shard = lfirst(lc);
		ShardConnection *conn = GetShardConnectionAs(shard->shardId,
													 GetForeignServer(shard->serverId)->owner);

		ShardBeginBatch(conn, true, true);
		ShardQueueStatement(conn, command, 0, NULL, NULL, NULL, NULL, false, false);
		ShardEndBatch(conn);
		conns = lappend(conns, conn);
	}
	forboth(lc, shards, cc, conns)
	{
		PGresult   *res = ShardNextResult(lfirst(cc));
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(((ShardInfo *) lfirst(lc))->shardId);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			nulls[1] = PQntuples(res) == 0 || PQnfields(res) == 0 || PQgetisnull(res, 0, 0);
			values[1] = nulls[1] ? (Datum) 0 : CStringGetTextDatum(PQgetvalue(res, 0, 0));
		}
		else
			values[1] = CStringGetTextDatum(PQcmdStatus(res));
		PQclear(res);
		ShardFinishBatch(lfirst(cc));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
