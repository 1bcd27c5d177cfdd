/*-------------------------------------------------------------------------
 *
 * utility.c
 *	  Utility commands on distributed tables: TRUNCATE runs on every shard
 *	  too; COPY, which would read or write the coordinator's own empty copy,
 *	  is refused with a hint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "connection.h"
#include "metadata.h"
#include "shardroute.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * DistributedRelid returns the OID of a named relation when it is
 * distributed, or InvalidOid.
 */
static Oid
DistributedRelid(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	return OidIsValid(relid) && GetDistTable(relid) ? relid : InvalidOid;
}

/*
 * TruncateOnShards truncates the shard tables of every distributed table
 * a TRUNCATE names, in the current transaction's remote transactions.
 */
static void
TruncateOnShards(TruncateStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->relations)
	{
		Oid			relid = DistributedRelid(lfirst(lc));
		ListCell   *sc;
		char	   *sql;

		if (!OidIsValid(relid))
			continue;
		sql = psprintf("TRUNCATE %s%s",
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												  get_rel_name(relid)),
					   stmt->restart_seqs ? " RESTART IDENTITY" : "");
		foreach(sc, AllShards())
			(void) ShardExecuteCommand(((ShardInfo *) lfirst(sc))->shardId, sql);
	}
}

/*
 * ShardrouteProcessUtility applies the rules above, then runs the command
 * as usual.
 */
static void
ShardrouteProcessUtility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->relation &&
		HaveDistributedTables() &&
		OidIsValid(DistributedRelid(((CopyStmt *) parsetree)->relation)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot COPY %s distributed table \"%s\"",
						((CopyStmt *) parsetree)->is_from ? "into" : "from",
						((CopyStmt *) parsetree)->relation->relname),
				 errhint(((CopyStmt *) parsetree)->is_from
						 ? "Use INSERT, or INSERT ... SELECT from a staging table."
						 : "Use COPY (SELECT ... FROM the table) TO ...")));

	if (IsA(parsetree, TruncateStmt) && HaveDistributedTables())
		TruncateOnShards((TruncateStmt *) parsetree);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * UtilityInit installs the utility hook.  Called from _PG_init.
 */
void
UtilityInit(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ShardrouteProcessUtility;
}
