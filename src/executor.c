/*-------------------------------------------------------------------------
 *
 * executor.c
 *	  The CustomScan nodes that run statements on shards:
 *
 *	  ShardrouteRouter: a whole statement on the shard of its key;
 *	  ShardrouteInsert: rows computed locally, each sent to its key's shard;
 *	  ShardrouteScan:   one distributed table read from its shards.
 *
 * Each node evaluates its key expression (if any) when it first runs, so
 * the shard is chosen from the current execution's parameters; sends its
 * remote statement in one batch per shard, to all its shards before reading
 * any answer; and reads the shards' rows into its scan tuple.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "connection.h"
#include "metadata.h"
#include "plan_codecs.h"
#include "planner.h"
#include "remote_values.h"
#include "shardroute.h"
#include "stats.h"

/* Rows per shard that an INSERT buffers before sending them */
#define INSERT_BATCH_ROWS 1000

/* State shared by the three nodes */
typedef struct RemoteState
{
	CustomScanState css;
	char	   *sql;
	Oid			keyType;
	bool		binary;
	List	   *paramIds;		/* statement parameters sent first */
	int			nparams;		/* all remote parameters */
	const Oid  *paramTypes;		/* their types as the shard is told them */
	ParamEncoder *encoder;		/* kept with the plan: read only */
	RowDecoder *decoder;		/* kept with the plan: read only */
	ExprState  *pin;			/* NULL: all shards */
	bool		writes;			/* the remote statement may write */
	bool		started;
	List	   *results;		/* PGresult *, one per statement run */
	ListCell   *current;
	int			row;
	Tuplestorestate *returning; /* ShardrouteInsert: RETURNING rows */
	TupleTableSlot *returningSlot;	/* ShardrouteInsert: reads them */
	MemoryContext batchContext; /* ShardrouteInsert: buffered rows */
} RemoteState;

/* Rows an INSERT holds for one shard */
typedef struct ShardRows
{
	int			shardId;
	int			nrows;
	const char **values;		/* nrows * nparams */
	int		   *lengths;
} ShardRows;

static Node *CreateRouterState(CustomScan *cscan);
static Node *CreateInsertState(CustomScan *cscan);
static Node *CreateScanState(CustomScan *cscan);

CustomScanMethods RouterScanMethods = {"ShardrouteRouter", CreateRouterState};
CustomScanMethods InsertScanMethods = {"ShardrouteInsert", CreateInsertState};
CustomScanMethods ShardScanMethods = {"ShardrouteScan", CreateScanState};

/*
 * ClearResults frees the PGresults a node holds.  Also runs as a reset
 * callback of the query's memory context, so an error cannot leak them.
 */
static void
ClearResults(void *arg)
{
	RemoteState *state = arg;
	ListCell   *lc;

	foreach(lc, state->results)
		PQclear(lfirst(lc));
	state->results = NIL;
	state->current = NULL;
}

/*
 * BuildCodecs builds a plan's parameter encoder and row decoder from its
 * private data, for GetPlanCodecs: the remote statement's parameter types,
 * and the scan tuple columns the shard returns (the columns of a
 * ShardrouteScan's list, every column otherwise).
 */
static void
BuildCodecs(CustomScan *cscan, TupleDesc desc, PlanCodecs *codecs)
{
	List	   *priv = cscan->custom_private;
	List	   *types = list_nth(priv, PRIVATE_PARAMTYPES);
	Oid		   *paramTypes = palloc(sizeof(Oid) * Max(list_length(types), 1));
	AttrNumber *attnums;
	int			ncolumns = 0;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, types)
		paramTypes[i++] = lfirst_oid(lc);
	if (cscan->methods == &ShardScanMethods)
	{
		List	   *cols = list_nth(priv, SCAN_PRIVATE_ATTNUMS);

		attnums = palloc(sizeof(AttrNumber) * Max(list_length(cols), 1));
		foreach(lc, cols)
			attnums[ncolumns++] = lfirst_int(lc);
	}
	else
	{
		attnums = palloc(sizeof(AttrNumber) * Max(desc->natts, 1));
		for (; ncolumns < desc->natts; ncolumns++)
			attnums[ncolumns] = ncolumns + 1;
	}
	codecs->encoder = CreateParamEncoder(list_length(types), paramTypes);
	codecs->decoder = CreateRowDecoder(desc, ncolumns, attnums,
									   boolVal(list_nth(priv, PRIVATE_BINARY)));
}

/*
 * BeginRemote reads the plan's private data into the state, finds the
 * plan's parameter encoder and row decoder, and prepares the key
 * expression.
 */
static void
BeginRemote(CustomScanState *node, EState *estate, int eflags)
{
	RemoteState *state = (RemoteState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *priv = cscan->custom_private;
	const PlanCodecs *codecs;
	MemoryContextCallback *cb;

	state->sql = strVal(list_nth(priv, PRIVATE_SQL));
	state->keyType = intVal(list_nth(priv, PRIVATE_KEYTYPE));
	state->binary = boolVal(list_nth(priv, PRIVATE_BINARY));
	state->paramIds = list_nth(priv, PRIVATE_PARAMIDS);
	state->nparams = list_length(list_nth(priv, PRIVATE_PARAMTYPES));
	codecs = GetPlanCodecs(cscan, node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
						   BuildCodecs);
	state->encoder = codecs->encoder;
	state->paramTypes = codecs->encoder->remoteTypes;
	state->decoder = codecs->decoder;

	if (cscan->custom_exprs != NIL)
		state->pin = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
	/* a SELECT writes too when a WITH query of it modifies */
	state->writes = cscan->methods == &RouterScanMethods &&
		(intVal(list_nth(priv, ROUTER_PRIVATE_COMMAND)) != CMD_SELECT ||
		 estate->es_plannedstmt->hasModifyingCTE);

	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = ClearResults;
	cb->arg = state;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, cb);
}

/*
 * PinnedShard returns the shard the node's key expression selects for
 * this execution, -1 when it has none (all shards), or -2 when the key is
 * NULL (no row can match).
 */
static int
PinnedShard(RemoteState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	bool		isnull;
	Datum		key;

	if (state->pin == NULL)
		return -1;
	key = ExecEvalExprSwitchContext(state->pin, econtext, &isnull);
	if (isnull)
		return -2;
	return ShardForKey(key, state->keyType);
}

/*
 * SendStatement sends the node's statement, with the statement's
 * parameters, to one shard as a batch of its own.
 */
static ShardConnection *
SendStatement(RemoteState *state, int shardId)
{
	ShardConnection *conn = GetShardConnection(shardId);
	const char **values = palloc(sizeof(char *) * Max(state->nparams, 1));
	int		   *lengths = palloc(sizeof(int) * Max(state->nparams, 1));

	EncodeStatementParams(state->encoder,
						  state->css.ss.ps.state->es_param_list_info,
						  state->paramIds, values, lengths);
	ShardBeginBatch(conn, true, state->writes);
	ShardQueueStatement(conn, state->sql, state->nparams, state->paramTypes,
						values, lengths, state->encoder->formats, state->binary,
						state->paramIds != NIL);
	ShardEndBatch(conn);
	return conn;
}

/*
 * CollectResult reads a shard's answer to SendStatement, counts it, and
 * keeps it.
 */
static PGresult *
CollectResult(RemoteState *state, ShardConnection *conn)
{
	PGresult   *res = ShardNextResult(conn);
	MemoryContext old = MemoryContextSwitchTo(state->css.ss.ps.state->es_query_cxt);
	int			shardId = ShardConnectionShardId(conn);

	CountShard(shardId, COUNTER_STATEMENTS, 1);
	CountShard(shardId, COUNTER_ROWS, PQresultStatus(res) == PGRES_TUPLES_OK
			   ? PQntuples(res) : strtoul(PQcmdTuples(res), NULL, 10));

	state->results = lappend(state->results, res);
	MemoryContextSwitchTo(old);
	ShardFinishBatch(conn);
	return res;
}

/*
 * NextRemoteRow stores the next row of the node's results in its scan slot
 * and returns it, or returns NULL after the last row.
 */
static TupleTableSlot *
NextRemoteRow(RemoteState *state)
{
	TupleTableSlot *slot = state->css.ss.ss_ScanTupleSlot;
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	MemoryContext old;

	ExecClearTuple(slot);
	if (state->current == NULL && state->results != NIL && state->row == 0)
		state->current = list_head(state->results);
	while (state->current &&
		   state->row >= PQntuples((PGresult *) lfirst(state->current)))
	{
		state->current = lnext(state->results, state->current);
		state->row = 0;
	}
	if (state->current == NULL)
	{
		state->row = -1;		/* exhausted until rescanned */
		return NULL;
	}
	ResetExprContext(econtext);
	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	DecodeRow(state->decoder, lfirst(state->current), state->row++,
			  slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	return ExecStoreVirtualTuple(slot);
}

/*
 * RescanRemote makes the node return its rows again from the first.
 */
static void
RescanRemote(CustomScanState *node)
{
	RemoteState *state = (RemoteState *) node;

	state->current = NULL;
	state->row = 0;
	if (state->returning)
		tuplestore_rescan(state->returning);
}

/*
 * EndRemote releases the node's results.
 */
static void
EndRemote(CustomScanState *node)
{
	ClearResults(node);
	if (((RemoteState *) node)->returning)
		tuplestore_end(((RemoteState *) node)->returning);
}

/*
 * ExplainRemote shows the remote SQL and, when the key is known, the
 * shard.
 */
static void
ExplainRemote(CustomScanState *node, List *ancestors, ExplainState *es)
{
	RemoteState *state = (RemoteState *) node;

	if (state->pin)
	{
		int			shard = PinnedShard(state);

		if (shard >= 0)
			ExplainPropertyInteger("Shard", NULL, shard, es);
		else
			ExplainPropertyText("Shard", "none (the key is NULL)", es);
	}
	else if (((CustomScan *) node->ss.ps.plan)->methods == &InsertScanMethods)
		ExplainPropertyText("Shards", "the shard of each row's key", es);
	else
		ExplainPropertyInteger("Shards", NULL, list_length(AllShards()), es);
	ExplainPropertyText("Remote SQL", state->sql, es);
}

/*
 * ExecRouter runs the routed statement once, then returns its rows.
 */
static TupleTableSlot *
ExecRouter(CustomScanState *node)
{
	RemoteState *state = (RemoteState *) node;

	if (!state->started)
	{
		int			shard = PinnedShard(state);
		List	   *priv = ((CustomScan *) node->ss.ps.plan)->custom_private;
		PGresult   *res;

		state->started = true;

		/*
		 * With a NULL key no row matches, but a statement such as "SELECT
		 * count(*)" still has an answer: any shard gives it.
		 */
		if (shard < 0)
			shard = ((ShardInfo *) linitial(AllShards()))->shardId;
		res = CollectResult(state, SendStatement(state, shard));
		if (intVal(list_nth(priv, ROUTER_PRIVATE_COMMAND)) != CMD_SELECT)
			node->ss.ps.state->es_processed += strtoul(PQcmdTuples(res), NULL, 10);
	}
	return NextRemoteRow(state);
}

/*
 * FlushRows sends the rows buffered for every shard, as one batch per
 * shard, then reads every answer: row counts and RETURNING rows.
 */
static void
FlushRows(RemoteState *state, List *buffers, bool onlyBatch)
{
	ListCell   *lc;
	List	   *conns = NIL;
	ListCell   *cc;
	EState	   *estate = state->css.ss.ps.state;
	TupleTableSlot *slot = state->css.ss.ss_ScanTupleSlot;

	foreach(lc, buffers)
	{
		ShardRows  *rows = lfirst(lc);
		ShardConnection *conn;

		if (rows->nrows == 0)
		{
			conns = lappend(conns, NULL);
			continue;
		}
		conn = GetShardConnection(rows->shardId);
		ShardBeginBatch(conn, onlyBatch, true);
		for (int r = 0; r < rows->nrows; r++)
			ShardQueueStatement(conn, state->sql, state->nparams,
								state->paramTypes,
								rows->values + r * state->nparams,
								rows->lengths + r * state->nparams,
								state->encoder->formats, state->binary, true);
		ShardEndBatch(conn);
		conns = lappend(conns, conn);
	}
	forboth(lc, buffers, cc, conns)
	{
		ShardRows  *rows = lfirst(lc);
		ShardConnection *conn = lfirst(cc);

		for (int r = 0; conn && r < rows->nrows; r++)
		{
			PGresult   *res = ShardNextResult(conn);
			uint64		changed = strtoul(PQcmdTuples(res), NULL, 10);

			estate->es_processed += changed;
			CountShard(rows->shardId, COUNTER_STATEMENTS, 1);
			CountShard(rows->shardId, COUNTER_ROWS, changed);
			for (int t = 0; state->returning && t < PQntuples(res); t++)
			{
				MemoryContext old = MemoryContextSwitchTo(state->batchContext);

				ExecClearTuple(slot);
				DecodeRow(state->decoder, res, t, slot->tts_values, slot->tts_isnull);
				ExecStoreVirtualTuple(slot);
				tuplestore_puttupleslot(state->returning, slot);
				MemoryContextSwitchTo(old);
			}
			PQclear(res);
		}
		if (conn)
			ShardFinishBatch(conn);
		rows->nrows = 0;
	}
	MemoryContextReset(state->batchContext);
}

/*
 * ReportNullKey raises the not-null violation of a row without a key.
 */
static void
ReportNullKey(Oid relid)
{
	DistTable  *dist = GetDistTable(relid);
	const char *key = dist ? dist->keyName : "?";

	ereport(ERROR,
			(errcode(ERRCODE_NOT_NULL_VIOLATION),
			 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
					key, get_rel_name(relid)),
			 errhint("Every row inserted into a distributed table needs a value for \"%s\".",
					 key)));
}

/*
 * RunInsert reads every source row, buffers it for its key's shard and
 * sends full buffers; the last (or only) batch per shard goes at the end.
 */
static void
RunInsert(RemoteState *state)
{
	CustomScan *cscan = (CustomScan *) state->css.ss.ps.plan;
	List	   *target = list_nth(cscan->custom_private, INSERT_PRIVATE_TARGET);
	int			keyIndex = linitial_int(target);
	PlanState  *child = linitial(state->css.custom_ps);
	int			nstatement = list_length(state->paramIds);
	int			nrow = state->nparams - nstatement;
	const char **statementValues = palloc(sizeof(char *) * Max(nstatement, 1));
	int		   *statementLengths = palloc(sizeof(int) * Max(nstatement, 1));
	List	   *buffers = NIL;
	bool		flushed = false;

	EncodeStatementParams(state->encoder, state->css.ss.ps.state->es_param_list_info,
						  state->paramIds, statementValues, statementLengths);
	for (;;)
	{
		TupleTableSlot *source = ExecProcNode(child);
		ShardRows  *rows = NULL;
		ListCell   *lc;
		MemoryContext old;
		int			shard;
		int			base;

		if (TupIsNull(source))
			break;
		slot_getallattrs(source);
		if (source->tts_isnull[keyIndex])
			ReportNullKey(lsecond_int(target));
		shard = ShardForKey(source->tts_values[keyIndex], state->keyType);

		foreach(lc, buffers)
			if (((ShardRows *) lfirst(lc))->shardId == shard)
				rows = lfirst(lc);
		if (rows == NULL)
		{
			rows = palloc0(sizeof(ShardRows));
			rows->shardId = shard;
			rows->values = palloc(sizeof(char *) * state->nparams * INSERT_BATCH_ROWS);
			rows->lengths = palloc(sizeof(int) * state->nparams * INSERT_BATCH_ROWS);
			buffers = lappend(buffers, rows);
		}

		base = rows->nrows * state->nparams;
		memcpy(rows->values + base, statementValues, sizeof(char *) * nstatement);
		memcpy(rows->lengths + base, statementLengths, sizeof(int) * nstatement);
		old = MemoryContextSwitchTo(state->batchContext);
		for (int i = 0; i < nrow; i++)
			EncodeParam(state->encoder, nstatement + i, source->tts_values[i],
						source->tts_isnull[i], &rows->values[base + nstatement + i],
						&rows->lengths[base + nstatement + i]);
		MemoryContextSwitchTo(old);
		if (++rows->nrows == INSERT_BATCH_ROWS)
		{
			FlushRows(state, buffers, false);
			flushed = true;
		}
	}
	/*
	 * Rows for one shard, sent at once, commit with the shard's Sync; rows
	 * for several shards need remote transactions (and so two-phase commit).
	 */
	FlushRows(state, buffers, !flushed && list_length(buffers) == 1);
}

/*
 * ExecInsert inserts every row on the first call, then returns the
 * RETURNING rows.
 */
static TupleTableSlot *
ExecInsert(CustomScanState *node)
{
	RemoteState *state = (RemoteState *) node;

	if (!state->started)
	{
		state->started = true;
		RunInsert(state);
	}
	if (state->returning == NULL ||
		!tuplestore_gettupleslot(state->returning, true, false,
								 state->returningSlot))
		return NULL;
	return state->returningSlot;
}

/*
 * BeginInsert starts the source plan, and the store of RETURNING rows when
 * the INSERT returns any.
 */
static void
BeginInsert(CustomScanState *node, EState *estate, int eflags)
{
	RemoteState *state = (RemoteState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;

	BeginRemote(node, estate, eflags);
	node->custom_ps = list_make1(ExecInitNode(linitial(cscan->custom_plans),
											  estate, eflags));
	if (cscan->custom_scan_tlist != NIL)
	{
		state->returning = tuplestore_begin_heap(false, false, work_mem);
		state->returningSlot =
			ExecInitExtraTupleSlot(estate, node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
								   &TTSOpsMinimalTuple);
	}
	state->batchContext = AllocSetContextCreate(CurrentMemoryContext,
												"shardroute insert batch",
												ALLOCSET_DEFAULT_SIZES);
}

/*
 * EndInsert ends the source plan too.
 */
static void
EndInsert(CustomScanState *node)
{
	ExecEndNode(linitial(node->custom_ps));
	EndRemote(node);
}

/*
 * ScanNext returns the next row of a ShardrouteScan, querying its shards
 * (all at once) on the first call.
 */
static TupleTableSlot *
ScanNext(ScanState *ss)
{
	RemoteState *state = (RemoteState *) ss;

	if (!state->started)
	{
		int			shard = PinnedShard(state);
		List	   *conns = NIL;
		ListCell   *lc;

		state->started = true;
		if (shard >= 0)
			conns = list_make1(SendStatement(state, shard));
		else if (shard == -1)
		{
			foreach(lc, AllShards())
				conns = lappend(conns,
								SendStatement(state, ((ShardInfo *) lfirst(lc))->shardId));
		}
		foreach(lc, conns)
		{
			CollectResult(state, lfirst(lc));
			if (list_length(conns) > 1)
				CountShard(ShardConnectionShardId(lfirst(lc)), COUNTER_FANOUTS, 1);
		}
	}
	if (state->row < 0)
		return NULL;
	return NextRemoteRow(state);
}

/*
 * ScanRecheck accepts every row: the shards' rows need no recheck.
 */
static bool
ScanRecheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

/*
 * ExecShardScan returns the next row that passes the local conditions.
 */
static TupleTableSlot *
ExecShardScan(CustomScanState *node)
{
	return ExecScan(&node->ss, ScanNext, ScanRecheck);
}

static CustomExecMethods RouterExecMethods = {
	.CustomName = "ShardrouteRouter",
	.BeginCustomScan = BeginRemote,
	.ExecCustomScan = ExecRouter,
	.EndCustomScan = EndRemote,
	.ReScanCustomScan = RescanRemote,
	.ExplainCustomScan = ExplainRemote,
};

static CustomExecMethods InsertExecMethods = {
	.CustomName = "ShardrouteInsert",
	.BeginCustomScan = BeginInsert,
	.ExecCustomScan = ExecInsert,
	.EndCustomScan = EndInsert,
	.ReScanCustomScan = RescanRemote,
	.ExplainCustomScan = ExplainRemote,
};

static CustomExecMethods ScanExecMethods = {
	.CustomName = "ShardrouteScan",
	.BeginCustomScan = BeginRemote,
	.ExecCustomScan = ExecShardScan,
	.EndCustomScan = EndRemote,
	.ReScanCustomScan = RescanRemote,
	.ExplainCustomScan = ExplainRemote,
};

/*
 * NewRemoteState allocates a node's state with the given methods.
 */
static Node *
NewRemoteState(const CustomExecMethods *methods)
{
	RemoteState *state = palloc0(sizeof(RemoteState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = methods;
	return (Node *) state;
}

/*
 * CreateRouterState creates the execution state of a ShardrouteRouter.
 */
static Node *
CreateRouterState(CustomScan *cscan)
{
	return NewRemoteState(&RouterExecMethods);
}

/*
 * CreateInsertState creates the execution state of a ShardrouteInsert.
 */
static Node *
CreateInsertState(CustomScan *cscan)
{
	return NewRemoteState(&InsertExecMethods);
}

/*
 * CreateScanState creates the execution state of a ShardrouteScan.
 */
static Node *
CreateScanState(CustomScan *cscan)
{
	return NewRemoteState(&ScanExecMethods);
}

/*
 * ExecutorInit registers the node types, so that plans can be copied and
 * read back.  Called from _PG_init.
 */
void
ExecutorInit(void)
{
	RegisterCustomScanMethods(&RouterScanMethods);
	RegisterCustomScanMethods(&InsertScanMethods);
	RegisterCustomScanMethods(&ShardScanMethods);
}
