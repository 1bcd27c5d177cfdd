/*-------------------------------------------------------------------------
 *
 * planner.c
 *	  The planner hook: finds the statements that touch distributed tables
 *	  and plans how each one runs on the shards.
 *
 * A statement takes one of three paths:
 *
 *	 INSERT into a distributed table: the rows (VALUES, INSERT ... SELECT)
 *	 are computed on the coordinator by an ordinary plan, defaults such as
 *	 nextval() and now() included; a ShardrouteInsert node sends each row to
 *	 its key's shard as the parameters of a one-row INSERT.
 *
 *	 A statement whose every distributed table is pinned to one key (by
 *	 "key = constant or parameter", directly or through equalities between
 *	 co-located keys, in its own or an outer query level) and that uses
 *	 nothing the shards lack (local tables, non-built-in functions,
 *	 sequences, row security): a ShardrouteRouter node sends the whole
 *	 statement, deparsed, to the shard that owns the key.  The key is
 *	 evaluated when the plan runs, so a generic plan of a prepared statement
 *	 routes each execution by its own parameters and is never replanned.
 *
 *	 Any other SELECT: planned normally, each distributed table read by a
 *	 ShardrouteScan node from every shard (or from the one a key condition
 *	 selects), with the shippable conditions sent along.  Other UPDATEs and
 *	 DELETEs are refused with a hint, never run on the wrong rows.
 *
 * Remote SQL is deparsed by PostgreSQL's own rule printer under
 * search_path = pg_catalog, so every name that is not built-in comes out
 * schema-qualified.  Parameters referenced by the remote SQL are
 * renumbered from $1 and sent with their plan-time types.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/transam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/planner.h"
#include "optimizer/prep.h"
#include "parser/parsetree.h"
#include "optimizer/restrictinfo.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "hash.h"
#include "metadata.h"
#include "planner.h"
#include "remote_values.h"
#include "shardroute.h"

/* A column of some query level: a node of the key-equality union-find */
typedef struct ColumnNode
{
	Query	   *query;
	Index		rtindex;
	AttrNumber	attno;
	int			parent;			/* union-find parent index */
	Expr	   *pin;			/* key = pin, at the class root */
} ColumnNode;

/* What the analysis of a statement found */
typedef struct Analysis
{
	List	   *levels;			/* Query * stack, innermost first */
	ColumnNode *nodes;
	int			nnodes;
	int			maxnodes;
	List	   *distKeys;		/* node index of each distributed table's key */
	List	   *distRelids;		/* each distributed table's OID */
	List	   *directional;	/* pairs (nullable, other) of outer joins */
	List	   *rtable;			/* every relation RTE, for the plan */
	bool		hasLocal;		/* reads a relation that is not distributed */
	bool		unshippable;	/* uses what a shard may not have */
	bool		insertCte;		/* INSERTs into a distributed table in a CTE */
	bool		writeCte;		/* writes a distributed table in a CTE */
	bool		locksRows;		/* FOR UPDATE/SHARE at some level */
	bool		samples;		/* TABLESAMPLE on a distributed table */
} Analysis;

/* Context of the parameter renumbering mutator */
typedef struct RenumberContext
{
	List	   *ids;			/* original paramids, in new order */
	List	   *types;			/* their types */
} RenumberContext;

static planner_hook_type prev_planner_hook = NULL;
static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

static Plan *PlanShardScan(PlannerInfo *root, RelOptInfo *rel,
						   CustomPath *best_path, List *tlist,
						   List *clauses, List *custom_plans);

static CustomPathMethods ShardScanPathMethods = {
	.CustomName = "ShardrouteScan",
	.PlanCustomPath = PlanShardScan,
};

/*
 * DeparseQueryForShard returns the SQL text of a rewritten query, with
 * every non-built-in name schema-qualified.
 */
char *
DeparseQueryForShard(Query *query)
{
	int			nest = NewGUCNestLevel();
	char	   *sql;

	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	sql = pg_get_querydef(query, false);
	AtEOXact_GUC(true, nest);
	return sql;
}

/*
 * DeparseClause returns the SQL text of a condition on one relation whose
 * Vars carry varno 1, qualified like DeparseQueryForShard.
 */
static char *
DeparseClause(Node *clause, const char *relname, Oid relid)
{
	int			nest = NewGUCNestLevel();
	char	   *sql;

	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	sql = deparse_expression(clause, deparse_context_for(relname, relid),
							 false, false);
	AtEOXact_GUC(true, nest);
	return sql;
}

/*
 * RenumberParamsMutator renumbers the external parameters of a tree from
 * $1 in order of first appearance, recording the original ids and types.
 */
static Node *
RenumberParamsMutator(Node *node, RenumberContext *ctx)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
	{
		Param	   *param = (Param *) copyObject(node);
		int			pos = -1;
		ListCell   *lc;

		foreach(lc, ctx->ids)
			if (lfirst_int(lc) == param->paramid)
				pos = foreach_current_index(lc);
		if (pos < 0)
		{
			ctx->ids = lappend_int(ctx->ids, param->paramid);
			ctx->types = lappend_oid(ctx->types, param->paramtype);
			pos = list_length(ctx->ids) - 1;
		}
		param->paramid = pos + 1;
		return (Node *) param;
	}
	if (IsA(node, Query))
		return (Node *) query_tree_mutator((Query *) node, RenumberParamsMutator,
										   ctx, 0);
	return expression_tree_mutator(node, RenumberParamsMutator, ctx);
}

/*
 * KeyEqualityFamily returns the btree operator family whose equality
 * compares keys of typid, or InvalidOid.
 */
static Oid
KeyEqualityFamily(Oid typid)
{
	Oid			opclass;

	if (KeyFamilyOfType(typid) == KEY_FAMILY_NONE)
		return InvalidOid;
	opclass = GetDefaultOpClass(typid, BTREE_AM_OID);
	return OidIsValid(opclass) ? get_opclass_family(opclass) : InvalidOid;
}

/*
 * IsKeyEquality returns whether opno is the equality of the key family of
 * both argument types.
 */
static bool
IsKeyEquality(Oid opno, Oid left, Oid right)
{
	Oid			family = KeyEqualityFamily(left);

	return OidIsValid(family) &&
		KeyFamilyOfType(left) == KeyFamilyOfType(right) &&
		get_op_opfamily_strategy(opno, family) == BTEqualStrategyNumber;
}

/*
 * IsPinWalker returns true when an expression cannot pin a key: it has
 * Vars, subqueries, aggregates or non-external parameters.
 */
static bool
IsPinWalker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) || IsA(node, SubLink) || IsA(node, Aggref) ||
		IsA(node, WindowFunc) || IsA(node, GroupingFunc))
		return true;
	if (IsA(node, Param) && ((Param *) node)->paramkind != PARAM_EXTERN)
		return true;
	return expression_tree_walker(node, IsPinWalker, context);
}

/*
 * IsPinExpression returns whether an expression can be computed on the
 * coordinator, before anything runs, to choose a shard.
 */
static bool
IsPinExpression(Node *expr)
{
	return !IsPinWalker(expr, NULL) && !contain_volatile_functions(expr);
}

/*
 * FindNode returns the union-find node of a column, adding it if new.
 */
static int
FindNode(Analysis *a, Query *query, Index rtindex, AttrNumber attno)
{
	for (int i = 0; i < a->nnodes; i++)
		if (a->nodes[i].query == query && a->nodes[i].rtindex == rtindex &&
			a->nodes[i].attno == attno)
			return i;
	if (a->nnodes == a->maxnodes)
	{
		a->maxnodes = Max(16, a->maxnodes * 2);
		a->nodes = a->nodes ? repalloc(a->nodes, sizeof(ColumnNode) * a->maxnodes)
			: palloc(sizeof(ColumnNode) * a->maxnodes);
	}
	a->nodes[a->nnodes].query = query;
	a->nodes[a->nnodes].rtindex = rtindex;
	a->nodes[a->nnodes].attno = attno;
	a->nodes[a->nnodes].parent = a->nnodes;
	a->nodes[a->nnodes].pin = NULL;
	return a->nnodes++;
}

/*
 * RootOf returns the class root of a node.
 */
static int
RootOf(Analysis *a, int i)
{
	while (a->nodes[i].parent != i)
		i = a->nodes[i].parent = a->nodes[a->nodes[i].parent].parent;
	return i;
}

/*
 * Union merges the classes of two nodes, keeping a pin of either.
 */
static void
Union(Analysis *a, int i, int j)
{
	i = RootOf(a, i);
	j = RootOf(a, j);
	if (i == j)
		return;
	a->nodes[j].parent = i;
	if (a->nodes[i].pin == NULL)
		a->nodes[i].pin = a->nodes[j].pin;
}

/*
 * NodeOfVar returns the node of a Var seen in the current query level, or
 * -1 for system columns and whole-row references.
 */
static int
NodeOfVar(Analysis *a, Var *var)
{
	Query	   *query;

	if (var->varattno <= 0 || var->varlevelsup >= list_length(a->levels))
		return -1;
	query = list_nth(a->levels, var->varlevelsup);
	return FindNode(a, query, var->varno, var->varattno);
}

/*
 * AddConjuncts appends the AND-ed conditions of a qual tree to *list.
 */
static void
AddConjuncts(Node *qual, List **list)
{
	if (qual == NULL)
		return;
	if (is_andclause(qual))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) qual)->args)
			AddConjuncts(lfirst(lc), list);
	}
	else if (IsA(qual, List))
	{
		ListCell   *lc;

		foreach(lc, (List *) qual)
			AddConjuncts(lfirst(lc), list);
	}
	else
		*list = lappend(*list, qual);
}

/*
 * AnalyzeEquality records what one condition says about key equality:
 * column = column joins two classes (or, under an outer join, lets the
 * nullable side follow the other); column = pin pins a class.
 */
static void
AnalyzeEquality(Analysis *a, Node *clause, int nullableSide)
{
	OpExpr	   *op;
	Node	   *left;
	Node	   *right;

	if (!IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return;
	op = (OpExpr *) clause;
	left = strip_implicit_coercions(linitial(op->args));
	right = strip_implicit_coercions(lsecond(op->args));
	if (!IsKeyEquality(op->opno, exprType(left), exprType(right)))
		return;

	if (IsA(left, Var) && IsA(right, Var))
	{
		int			l = NodeOfVar(a, (Var *) left);
		int			r = NodeOfVar(a, (Var *) right);

		if (l < 0 || r < 0)
			return;
		if (nullableSide == 0)
			Union(a, l, r);
		else
			a->directional = lappend(a->directional,
									 nullableSide == 1 ? list_make2_int(l, r)
									 : list_make2_int(r, l));
		return;
	}
	if (nullableSide != 0)
		return;
	if (IsA(right, Var))
	{
		Node	   *tmp = left;

		left = right;
		right = tmp;
	}
	if (IsA(left, Var) && IsPinExpression(right))
	{
		int			n = NodeOfVar(a, (Var *) left);

		if (n >= 0 && a->nodes[RootOf(a, n)].pin == NULL)
			a->nodes[RootOf(a, n)].pin = (Expr *) right;
	}
}

/*
 * AnalyzeJoinTree records the key equalities of a FROM item's join
 * conditions.  nullable: this item is the nullable side of an outer join,
 * whose conditions then only restrict it.
 */
static void
AnalyzeJoinTree(Analysis *a, Node *item)
{
	List	   *conjuncts = NIL;
	ListCell   *lc;
	int			side = 0;

	if (item == NULL || IsA(item, RangeTblRef))
		return;
	if (IsA(item, FromExpr))
	{
		foreach(lc, ((FromExpr *) item)->fromlist)
			AnalyzeJoinTree(a, lfirst(lc));
		AddConjuncts(((FromExpr *) item)->quals, &conjuncts);
	}
	else if (IsA(item, JoinExpr))
	{
		JoinExpr   *join = (JoinExpr *) item;

		AnalyzeJoinTree(a, join->larg);
		AnalyzeJoinTree(a, join->rarg);
		if (join->jointype == JOIN_FULL)
			return;
		/* side 1: the left operand may be the nullable one, and so on */
		side = join->jointype == JOIN_LEFT ? 2 : join->jointype == JOIN_RIGHT ? 1 : 0;
		AddConjuncts(join->quals, &conjuncts);
	}
	foreach(lc, conjuncts)
	{
		Node	   *clause = lfirst(lc);

		if (side == 0)
			AnalyzeEquality(a, clause, 0);
		else
		{
			/*
			 * Under an outer join, a key equality restricts the nullable
			 * side only; which operand is nullable is settled by the rtindex
			 * sets of the join's two sides.
			 */
			JoinExpr   *join = (JoinExpr *) item;
			OpExpr	   *op = IsA(clause, OpExpr) ? (OpExpr *) clause : NULL;
			Node	   *l;
			Node	   *r;
			Relids		nullableRels;

			if (op == NULL || list_length(op->args) != 2)
				continue;
			l = strip_implicit_coercions(linitial(op->args));
			r = strip_implicit_coercions(lsecond(op->args));
			if (!IsA(l, Var) || !IsA(r, Var) ||
				((Var *) l)->varlevelsup != 0 || ((Var *) r)->varlevelsup != 0)
				continue;
			nullableRels = get_relids_in_jointree(side == 2 ? join->rarg : join->larg,
												  false);
			if (bms_is_member(((Var *) l)->varno, nullableRels))
				AnalyzeEquality(a, clause, 1);
			else if (bms_is_member(((Var *) r)->varno, nullableRels))
				AnalyzeEquality(a, clause, 2);
		}
	}
}

/*
 * SubqueryIsTransparent returns whether a condition on a subquery's output
 * column restricts the rows the subquery reads from that column's source:
 * true unless LIMIT, window functions, set operations or set-returning
 * functions make each output row depend on other input rows (grouping is
 * allowed when the column is a grouping column).
 */
static bool
SubqueryIsTransparent(Query *sub, TargetEntry *te)
{
	if (sub->limitCount || sub->limitOffset || sub->hasWindowFuncs ||
		sub->setOperations || sub->hasTargetSRFs)
		return false;
	if (sub->hasAggs || sub->groupClause || sub->groupingSets ||
		sub->distinctClause)
		return te->ressortgroupref != 0 && sub->groupingSets == NIL &&
			sub->groupClause != NIL;
	return true;
}

/*
 * CheckKeyNotUpdated refuses an UPDATE that assigns the distribution
 * column of its distributed target: the row would stay on the old key's
 * shard.
 */
static void
CheckKeyNotUpdated(Query *update, DistTable *target)
{
	ListCell   *lc;

	foreach(lc, update->targetList)
		if (((TargetEntry *) lfirst(lc))->resno == target->keyAttno)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot update distribution column \"%s\" of table \"%s\"",
							target->keyName, get_rel_name(target->relid)),
					 errhint("Delete the row and insert it again with the new \"%s\".",
							 target->keyName)));
}

/*
 * AnalyzeLevel records what one query level holds: its relations, the
 * links of its subqueries' output columns, and its join conditions.
 */
static void
AnalyzeLevel(Analysis *a, Query *query)
{
	ListCell   *lc;
	Index		rti = 0;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		rti++;
		if (rte->rtekind == RTE_RELATION)
		{
			DistTable  *dist = GetDistTable(rte->relid);

			a->rtable = lappend(a->rtable, rte);
			if (dist)
			{
				a->samples |= rte->tablesample != NULL;
				a->distKeys = lappend_int(a->distKeys,
										  FindNode(a, query, rti, dist->keyAttno));
				a->distRelids = lappend_oid(a->distRelids, rte->relid);
				if (rte->securityQuals)
					a->unshippable = true;
			}
			else if (rte->relkind != RELKIND_VIEW)
				a->hasLocal = true;
		}
		else if (rte->rtekind == RTE_SUBQUERY)
		{
			ListCell   *tc;

			foreach(tc, rte->subquery->targetList)
			{
				TargetEntry *te = lfirst(tc);
				Node	   *expr = strip_implicit_coercions((Node *) te->expr);

				if (te->resjunk || !IsA(expr, Var) || ((Var *) expr)->varlevelsup != 0 ||
					((Var *) expr)->varattno <= 0 ||
					!SubqueryIsTransparent(rte->subquery, te))
					continue;
				Union(a, FindNode(a, query, rti, te->resno),
					  FindNode(a, rte->subquery, ((Var *) expr)->varno,
							   ((Var *) expr)->varattno));
			}
		}
		else if (rte->rtekind == RTE_NAMEDTUPLESTORE)
			a->hasLocal = true;
	}
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);
		Query	   *cq = (Query *) cte->ctequery;

		DistTable  *written = cq->commandType != CMD_SELECT && cq->resultRelation > 0
			? GetDistTable(rt_fetch(cq->resultRelation, cq->rtable)->relid) : NULL;

		if (written)
		{
			if (cq->commandType == CMD_UPDATE)
				CheckKeyNotUpdated(cq, written);
			a->writeCte = true;
			a->insertCte |= cq->commandType != CMD_UPDATE &&
				cq->commandType != CMD_DELETE;
		}
	}
	a->locksRows |= query->rowMarks != NIL;
	AnalyzeJoinTree(a, (Node *) query->jointree);
}

/*
 * AnalyzeWalker visits every query level and expression of a statement.
 */
static bool
AnalyzeWalker(Node *node, Analysis *a)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		bool		result;

		a->levels = lcons(query, a->levels);
		AnalyzeLevel(a, query);
		result = query_tree_walker(query, AnalyzeWalker, a, 0);
		a->levels = list_delete_first(a->levels);
		return result;
	}
	if (IsA(node, FuncExpr))
	{
		Oid			f = ((FuncExpr *) node)->funcid;

		if (f >= FirstNormalObjectId || f == F_NEXTVAL || f == F_CURRVAL ||
			f == F_SETVAL_REGCLASS_INT8 || f == F_SETVAL_REGCLASS_INT8_BOOL ||
			f == F_LASTVAL)
			a->unshippable = true;
	}
	else if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
	{
		if (((OpExpr *) node)->opno >= FirstNormalObjectId)
			a->unshippable = true;
	}
	else if (IsA(node, ScalarArrayOpExpr))
	{
		if (((ScalarArrayOpExpr *) node)->opno >= FirstNormalObjectId)
			a->unshippable = true;
	}
	else if (IsA(node, Aggref))
	{
		if (((Aggref *) node)->aggfnoid >= FirstNormalObjectId)
			a->unshippable = true;
	}
	else if (IsA(node, WindowFunc))
	{
		if (((WindowFunc *) node)->winfnoid >= FirstNormalObjectId)
			a->unshippable = true;
	}
	return expression_tree_walker(node, AnalyzeWalker, a);
}

/*
 * RoutePin decides whether the whole analysed statement can run on one
 * shard.  Returns the expression whose value selects the shard, or NULL.
 */
static Expr *
RoutePin(Analysis *a)
{
	ListCell   *lc;
	bool		changed = true;
	int			root = -1;
	int			shard = -1;

	if (a->hasLocal || a->unshippable || a->insertCte || a->distKeys == NIL)
		return NULL;

	/* the nullable side of an outer join follows a pinned other side */
	while (changed)
	{
		changed = false;
		foreach(lc, a->directional)
		{
			List	   *pair = lfirst(lc);
			int			nullable = linitial_int(pair);
			int			other = lsecond_int(pair);

			if (a->nodes[RootOf(a, other)].pin &&
				RootOf(a, nullable) != RootOf(a, other))
			{
				Union(a, other, nullable);
				changed = true;
			}
		}
	}

	foreach(lc, a->distKeys)
	{
		int			r = RootOf(a, lfirst_int(lc));
		Expr	   *pin = a->nodes[r].pin;

		if (pin == NULL)
			return NULL;
		if (root < 0)
		{
			root = r;
			continue;
		}
		if (r == root)
			continue;

		/*
		 * Several independent classes: only constants can show at plan time
		 * that they all live on one shard.
		 */
		if (!IsA(pin, Const) || !IsA(a->nodes[root].pin, Const) ||
			((Const *) pin)->constisnull ||
			((Const *) a->nodes[root].pin)->constisnull)
			return NULL;
		if (shard < 0)
			shard = ShardForKey(((Const *) a->nodes[root].pin)->constvalue,
								exprType((Node *) a->nodes[root].pin));
		if (ShardForKey(((Const *) pin)->constvalue, exprType((Node *) pin)) != shard)
			return NULL;
	}
	return a->nodes[root].pin;
}

/*
 * OutputTargetLists builds a CustomScan's scan and plan target lists for
 * the output columns outputs (non-junk entries only): the scan tuple holds
 * the shard's columns, the plan returns them as they are.  The scan
 * columns are Vars of an RTE "remote_scan" appended to *rtable, which names
 * them for EXPLAIN VERBOSE and is otherwise ignored.
 */
static void
OutputTargetLists(CustomScan *scan, List *outputs, List **rtable, bool *binary)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	Index		rtindex;
	ListCell   *lc;
	AttrNumber	resno = 0;

	rte->rtekind = RTE_FUNCTION;
	rte->eref = makeAlias("remote_scan", NIL);
	*rtable = lappend(*rtable, rte);
	rtindex = list_length(*rtable);

	*binary = true;
	foreach(lc, outputs)
	{
		TargetEntry *te = lfirst(lc);
		Oid			type = exprType((Node *) te->expr);
		int32		typmod = exprTypmod((Node *) te->expr);
		Oid			collation = exprCollation((Node *) te->expr);
		char	   *name = te->resname ? te->resname : "?column?";

		if (te->resjunk)
			continue;
		resno++;
		*binary &= TypeIsPortable(type);
		rte->eref->colnames = lappend(rte->eref->colnames, makeString(pstrdup(name)));
		scan->custom_scan_tlist =
			lappend(scan->custom_scan_tlist,
					makeTargetEntry((Expr *) makeVar(rtindex, resno, type, typmod,
													 collation, 0),
									resno, te->resname, false));
		scan->scan.plan.targetlist =
			lappend(scan->scan.plan.targetlist,
					makeTargetEntry((Expr *) makeVar(INDEX_VAR, resno, type, typmod,
													 collation, 0),
									resno, te->resname, false));
	}
}

/*
 * MakePrivate builds a CustomScan's custom_private list in the layout of
 * planner.h.
 */
static List *
MakePrivate(const char *sql, Oid keyType, bool binary, RenumberContext *ctx,
			Node *extra)
{
	return lappend(list_make5(makeString(pstrdup(sql)), makeInteger(keyType),
							  makeBoolean(binary), ctx->ids, ctx->types),
				   extra);
}

/*
 * NewPlannedStmt returns a PlannedStmt for a statement whose whole plan is
 * planTree, with the relations of rtable checked and locked as usual.
 */
static PlannedStmt *
NewPlannedStmt(Query *parse, Plan *planTree, List *rtable)
{
	PlannedStmt *stmt = makeNode(PlannedStmt);
	ListCell   *lc;

	stmt->commandType = parse->commandType;
	stmt->queryId = parse->queryId;
	stmt->hasReturning = parse->returningList != NIL;
	stmt->hasModifyingCTE = parse->hasModifyingCTE;
	stmt->canSetTag = parse->canSetTag;
	stmt->planTree = planTree;
	stmt->rtable = rtable;
	foreach(lc, rtable)
		if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_RELATION)
			stmt->relationOids = lappend_oid(stmt->relationOids,
											 ((RangeTblEntry *) lfirst(lc))->relid);
	stmt->stmt_location = parse->stmt_location;
	stmt->stmt_len = parse->stmt_len;
	return stmt;
}

/*
 * PlanRouted returns the plan that sends a whole statement to the shard of
 * pin.
 */
static PlannedStmt *
PlanRouted(Query *parse, Analysis *a, Expr *pin, int cursorOptions)
{
	CustomScan *scan = makeNode(CustomScan);
	RenumberContext ctx = {NIL, NIL};
	Query	   *remote = (Query *) RenumberParamsMutator((Node *) copyObject(parse), &ctx);
	bool		binary;
	Plan	   *plan;

	scan->methods = &RouterScanMethods;
	OutputTargetLists(scan, parse->commandType == CMD_SELECT ? parse->targetList
					  : parse->returningList, &a->rtable, &binary);
	scan->custom_exprs = list_make1(pin);
	scan->custom_private = MakePrivate(DeparseQueryForShard(remote),
									   exprType((Node *) pin), binary, &ctx,
									   (Node *) makeInteger(parse->commandType));
	scan->scan.plan.startup_cost = 0;
	scan->scan.plan.total_cost = 1;
	scan->scan.plan.plan_rows = 1;
	plan = (Plan *) scan;
	if (cursorOptions & CURSOR_OPT_SCROLL)
		plan = materialize_finished_plan(plan);
	return NewPlannedStmt(parse, plan, a->rtable);
}

/*
 * ReportNotRoutable refuses an UPDATE or DELETE that cannot run on one
 * shard.
 */
static void
ReportNotRoutable(Query *parse, Analysis *a, DistTable *target)
{
	const char *verb = parse->commandType == CMD_UPDATE ? "update" : "delete from";
	char	   *relname = get_rel_name(target->relid);

	if (a->hasLocal || a->unshippable || a->insertCte)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s distributed table \"%s\" in a statement that uses local tables, non-built-in functions, sequences or row security",
						verb, relname),
				 errhint("Rewrite the statement so that it names only distributed tables and built-in functions, or compute the values first.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot %s distributed table \"%s\" without a condition on its distribution column",
					verb, relname),
			 errdetail("Only statements that name one value of \"%s\" can run on its shard.",
					   target->keyName),
			 errhint("Add \"%s = <value>\" to the WHERE clause.", target->keyName)));
}

/*
 * PlanInsert returns the plan of an INSERT into a distributed table: the
 * source rows planned as a SELECT on the coordinator, under a
 * ShardrouteInsert node that sends each row to its shard.
 */
static PlannedStmt *
PlanInsert(Query *parse, DistTable *dist, int cursorOptions,
		   ParamListInfo boundParams)
{
	char	   *relname = get_rel_name(dist->relid);
	Query	   *select = copyObject(parse);
	Query	   *remote = copyObject(parse);
	RenumberContext ctx = {NIL, NIL};
	List	   *rowTypes = NIL;
	List	   *selectTlist = NIL;
	int			keyIndex = -1;
	int			nparams;
	ListCell   *lc;
	PlannedStmt *stmt;
	CustomScan *scan;
	bool		binary;

	if (parse->cteList != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot insert into distributed table \"%s\" with a WITH clause",
						relname),
				 errhint("Move the WITH query into a subquery of INSERT ... SELECT.")));
	if (parse->onConflict && parse->onConflict->action == ONCONFLICT_UPDATE)
	{
		foreach(lc, parse->onConflict->onConflictSet)
			if (((TargetEntry *) lfirst(lc))->resno == dist->keyAttno)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot update distribution column \"%s\" of table \"%s\"",
								dist->keyName, relname),
						 errhint("Leave \"%s\" out of ON CONFLICT DO UPDATE SET.",
								 dist->keyName)));
	}

	/*
	 * The remote INSERT: its rows come as parameters, so its source (VALUES
	 * list or subquery) goes; statement parameters that ON CONFLICT or
	 * RETURNING use come first, then the row's columns.
	 */
	foreach(lc, remote->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_VALUES || rte->rtekind == RTE_SUBQUERY)
		{
			rte->rtekind = RTE_RESULT;
			rte->subquery = NULL;
			rte->values_lists = NIL;
		}
	}
	remote->jointree = makeFromExpr(NIL, NULL);
	remote->targetList = NIL;
	remote = (Query *) RenumberParamsMutator((Node *) remote, &ctx);
	nparams = list_length(ctx.ids);
	foreach(lc, parse->targetList)
	{
		TargetEntry *te = lfirst(lc);
		TargetEntry *rte;
		Param	   *param;

		if (te->resjunk)
			continue;
		if (te->resno == dist->keyAttno)
			keyIndex = list_length(selectTlist);
		selectTlist = lappend(selectTlist,
							  makeTargetEntry(te->expr, list_length(selectTlist) + 1,
											  te->resname, false));
		param = makeNode(Param);
		param->paramkind = PARAM_EXTERN;
		param->paramid = ++nparams;
		param->paramtype = exprType((Node *) te->expr);
		param->paramtypmod = exprTypmod((Node *) te->expr);
		param->paramcollid = exprCollation((Node *) te->expr);
		param->location = -1;
		rte = flatCopyTargetEntry(te);
		rte->expr = (Expr *) param;
		remote->targetList = lappend(remote->targetList, rte);
		rowTypes = lappend_oid(rowTypes, param->paramtype);
	}
	if (keyIndex < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
						dist->keyName, relname),
				 errdetail("Table \"%s\" is distributed by \"%s\".", relname, dist->keyName),
				 errhint("Every row inserted into a distributed table needs a value for \"%s\".",
						 dist->keyName)));
	remote->override = OVERRIDING_SYSTEM_VALUE;

	/* the source rows: the INSERT's own rows, as a SELECT */
	select->commandType = CMD_SELECT;
	select->resultRelation = 0;
	select->onConflict = NULL;
	select->returningList = NIL;
	select->override = OVERRIDING_NOT_SET;
	select->targetList = selectTlist;
	stmt = standard_planner(select, NULL, cursorOptions & ~CURSOR_OPT_SCROLL,
							boundParams);

	scan = makeNode(CustomScan);
	scan->methods = &InsertScanMethods;
	OutputTargetLists(scan, parse->returningList, &stmt->rtable, &binary);
	scan->custom_plans = list_make1(stmt->planTree);
	ctx.types = list_concat(ctx.types, rowTypes);
	scan->custom_private = MakePrivate(DeparseQueryForShard(remote),
									   dist->keyType, binary, &ctx,
									   (Node *) list_make2_int(keyIndex, dist->relid));
	scan->scan.plan.startup_cost = stmt->planTree->startup_cost;
	scan->scan.plan.total_cost = stmt->planTree->total_cost + 1;
	scan->scan.plan.plan_rows = stmt->planTree->plan_rows;

	stmt->commandType = CMD_INSERT;
	stmt->hasReturning = parse->returningList != NIL;
	stmt->canSetTag = parse->canSetTag;
	stmt->planTree = (Plan *) scan;
	if (cursorOptions & CURSOR_OPT_SCROLL)
		stmt->planTree = materialize_finished_plan(stmt->planTree);
	return stmt;
}

/*
 * ShardroutePlanner is the planner hook: statements on distributed tables
 * take one of the paths described at the top of this file; everything
 * else goes to the standard planner untouched.
 */
static PlannedStmt *
ShardroutePlanner(Query *parse, const char *query_string, int cursorOptions,
				  ParamListInfo boundParams)
{
	Analysis	a;
	DistTable  *target = NULL;
	Expr	   *pin;

	if (parse->commandType == CMD_UTILITY || !HaveDistributedTables())
		goto standard;

	memset(&a, 0, sizeof(a));
	(void) AnalyzeWalker((Node *) parse, &a);
	if (a.distRelids == NIL)
		goto standard;

	if (parse->resultRelation > 0)
		target = GetDistTable(rt_fetch(parse->resultRelation, parse->rtable)->relid);
	if (parse->commandType == CMD_INSERT && target)
		return PlanInsert(parse, target, cursorOptions, boundParams);
	if (parse->commandType == CMD_MERGE && target)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot MERGE into distributed table \"%s\"",
						get_rel_name(target->relid)),
				 errhint("Use INSERT ... ON CONFLICT, UPDATE or DELETE.")));
	if (target && parse->commandType == CMD_UPDATE)
		CheckKeyNotUpdated(parse, target);

	pin = RoutePin(&a);
	if (pin)
		return PlanRouted(parse, &a, pin, cursorOptions);
	if (target)
		ReportNotRoutable(parse, &a, target);
	if (a.insertCte)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot insert into a distributed table in a WITH query"),
				 errhint("Run the INSERT as a statement of its own.")));
	if (a.writeCte)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot update or delete from a distributed table in a WITH query that is not pinned to one key"),
				 errhint("Add a condition on the distribution column to every distributed table of the statement, or run the UPDATE or DELETE as a statement of its own.")));
	if (a.samples)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot use TABLESAMPLE on a distributed table in a statement that may read several shards"),
				 errhint("Add a condition on the distribution column so that the statement runs on one shard.")));
	if (a.locksRows)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot lock rows of distributed tables in a statement that may read several shards"),
				 errhint("Add a condition on the distribution column so that the statement runs on one shard.")));

standard:
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/*
 * IsShippableWalker returns true when a condition holds something a shard
 * cannot evaluate as the coordinator would: other relations' columns,
 * system columns, non-built-in or mutable functions, subplans, parameters
 * other than the statement's own.
 */
static bool
IsShippableWalker(Node *node, Index *relid)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			return ((Var *) node)->varno != *relid ||
				((Var *) node)->varlevelsup != 0 || ((Var *) node)->varattno <= 0;
		case T_Const:
			return ((Const *) node)->consttype >= FirstNormalObjectId;
		case T_Param:
			return ((Param *) node)->paramkind != PARAM_EXTERN;
		case T_FuncExpr:
			if (((FuncExpr *) node)->funcid >= FirstNormalObjectId)
				return true;
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			if (((OpExpr *) node)->opno >= FirstNormalObjectId)
				return true;
			break;
		case T_ScalarArrayOpExpr:
			if (((ScalarArrayOpExpr *) node)->opno >= FirstNormalObjectId)
				return true;
			break;
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayExpr:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_List:
			break;
		default:
			return true;
	}
	return expression_tree_walker(node, IsShippableWalker, relid);
}

/*
 * ShardrouteSetRelPathlist replaces the paths of a distributed table's
 * scan by one ShardrouteScan path.
 */
static void
ShardrouteSetRelPathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						 RangeTblEntry *rte)
{
	CustomPath *path;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);
	if (rte->rtekind != RTE_RELATION || !GetDistTable(rte->relid))
		return;

	path = makeNode(CustomPath);
	path->path.pathtype = T_CustomScan;
	path->path.parent = rel;
	path->path.pathtarget = rel->reltarget;
	path->path.rows = rel->rows;
	path->path.startup_cost = 100;
	path->path.total_cost = 100 + rel->rows * (cpu_tuple_cost * 10);
	path->methods = &ShardScanPathMethods;
	rel->pathlist = NIL;
	rel->partial_pathlist = NIL;
	add_path(rel, (Path *) path);
}

/*
 * PlanShardScan turns a ShardrouteScan path into its plan: the columns the
 * query needs, the conditions the shards can evaluate, and the key
 * condition that prunes the scan to one shard, if any.  Every condition is
 * also checked on the coordinator.
 */
static Plan *
PlanShardScan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
			  List *tlist, List *clauses, List *custom_plans)
{
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	DistTable  *dist = GetDistTable(rte->relid);
	Relation	relation = table_open(rte->relid, NoLock);
	TupleDesc	desc = RelationGetDescr(relation);
	CustomScan *scan = makeNode(CustomScan);
	Bitmapset  *attrs = NULL;
	StringInfoData sql;
	List	   *attnums = NIL;
	Expr	   *pin = NULL;
	RenumberContext ctx = {NIL, NIL};
	bool		binary = true;
	bool		first = true;
	ListCell   *lc;
	Index		relid = rel->relid;

	pull_varattnos((Node *) rel->reltarget->exprs, relid, &attrs);
	foreach(lc, clauses)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, relid, &attrs);

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped ||
			!bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, attrs))
			continue;
		appendStringInfo(&sql, "%s%s", attnums ? ", " : "",
						 quote_identifier(NameStr(att->attname)));
		attnums = lappend_int(attnums, att->attnum);
		binary &= TypeIsPortable(att->atttypid);
	}
	/* with no column needed (count(*)), "SELECT FROM" returns bare rows */
	appendStringInfo(&sql, " FROM %s",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(relation)),
												RelationGetRelationName(relation)));

	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst(lc);
		Node	   *clause = (Node *) ri->clause;
		Node	   *copy;

		if (IsShippableWalker(clause, &relid) || contain_mutable_functions(clause))
			continue;
		if (pin == NULL && IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
		{
			OpExpr	   *op = (OpExpr *) clause;
			Node	   *l = strip_implicit_coercions(linitial(op->args));
			Node	   *r = strip_implicit_coercions(lsecond(op->args));

			if (IsA(r, Var))
			{
				Node	   *t = l;

				l = r;
				r = t;
			}
			if (IsA(l, Var) && ((Var *) l)->varattno == dist->keyAttno &&
				IsKeyEquality(op->opno, exprType(l), exprType(r)) &&
				IsPinExpression(r))
				pin = (Expr *) r;
		}
		copy = RenumberParamsMutator(copyObject(clause), &ctx);
		if (relid != 1)
			ChangeVarNodes(copy, relid, 1, 0);
		appendStringInfo(&sql, " %s %s", first ? "WHERE" : "AND",
						 DeparseClause(copy, RelationGetRelationName(relation),
									   rte->relid));
		first = false;
	}
	table_close(relation, NoLock);

	scan->scan.scanrelid = relid;
	scan->scan.plan.targetlist = tlist;
	scan->scan.plan.qual = extract_actual_clauses(clauses, false);
	scan->methods = &ShardScanMethods;
	scan->custom_exprs = pin ? list_make1(pin) : NIL;
	scan->custom_private = MakePrivate(sql.data,
									   pin ? exprType((Node *) pin) : InvalidOid,
									   binary, &ctx, (Node *) attnums);
	return (Plan *) scan;
}

/*
 * PlannerInit installs the planner hooks.  Called from _PG_init.
 */
void
PlannerInit(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = ShardroutePlanner;
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = ShardrouteSetRelPathlist;
}
