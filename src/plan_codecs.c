/*-------------------------------------------------------------------------
 *
 * plan_codecs.c
 *	  Parameter encoders and row decoders kept with the plans that use them.
 *
 * A shardroute node's encoder and decoder depend on nothing but its plan:
 * the remote statement's parameter types, the result columns and their
 * types, text or binary.  Building them means a catalog lookup and an
 * fmgr_info per column, which a prepared statement would otherwise repeat
 * at every execution of the same plan.  So they are built once per plan,
 * in the plan's own memory context, and found again by the plan node's
 * address.  A reset callback on that context forgets them when the plan is
 * freed (replanned, deallocated, or at the end of its message for a
 * one-shot plan).  Each lookup also compares what the codecs were built
 * from with what the caller asks for, so a plan node that a later plan's
 * node replaced at the same address can never be given codecs that do not
 * fit it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "plan_codecs.h"

/* The codecs of one plan node, and what they were built from */
typedef struct PlanCodecsEntry
{
	CustomScan *plan;			/* hash key */
	int			nparams;
	Oid		   *paramTypes;
	int			ncolumns;
	Oid		   *columnTypes;	/* type and typmod of each result column */
	int32	   *columnTypmods;
	AttrNumber *attnums;
	bool		binary;
	PlanCodecs	codecs;
} PlanCodecsEntry;

static HTAB *CodecsByPlan = NULL;

/*
 * ForgetPlanCodecs is the reset callback of a plan's memory context: the
 * codecs built in it are about to go.
 */
static void
ForgetPlanCodecs(void *arg)
{
	CustomScan *plan = arg;

	hash_search(CodecsByPlan, &plan, HASH_REMOVE, NULL);
}

/*
 * EntryFits returns whether an entry was built from the given parameter
 * types and result columns.
 */
static bool
EntryFits(PlanCodecsEntry *entry, int nparams, const Oid *paramTypes,
		  TupleDesc desc, int ncolumns, const AttrNumber *attnums, bool binary)
{
	if (entry->nparams != nparams || entry->ncolumns != ncolumns ||
		entry->binary != binary ||
		memcmp(entry->paramTypes, paramTypes, sizeof(Oid) * nparams) != 0 ||
		memcmp(entry->attnums, attnums, sizeof(AttrNumber) * ncolumns) != 0)
		return false;
	for (int i = 0; i < ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnums[i] - 1);

		if (entry->columnTypes[i] != att->atttypid ||
			entry->columnTypmods[i] != att->atttypmod)
			return false;
	}
	return true;
}

/*
 * FillEntry builds an entry's codecs, and copies what they are built from,
 * in the current memory context.
 */
static void
FillEntry(PlanCodecsEntry *entry, int nparams, const Oid *paramTypes,
		  TupleDesc desc, int ncolumns, const AttrNumber *attnums, bool binary)
{
	entry->nparams = nparams;
	entry->paramTypes = palloc(sizeof(Oid) * Max(nparams, 1));
	memcpy(entry->paramTypes, paramTypes, sizeof(Oid) * nparams);
	entry->ncolumns = ncolumns;
	entry->columnTypes = palloc(sizeof(Oid) * Max(ncolumns, 1));
	entry->columnTypmods = palloc(sizeof(int32) * Max(ncolumns, 1));
	entry->attnums = palloc(sizeof(AttrNumber) * Max(ncolumns, 1));
	memcpy(entry->attnums, attnums, sizeof(AttrNumber) * ncolumns);
	for (int i = 0; i < ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnums[i] - 1);

		entry->columnTypes[i] = att->atttypid;
		entry->columnTypmods[i] = att->atttypmod;
	}
	entry->binary = binary;
	entry->codecs.encoder = CreateParamEncoder(nparams, paramTypes);
	entry->codecs.decoder = CreateRowDecoder(desc, ncolumns, attnums, binary);
}

/*
 * GetPlanCodecs returns the codecs of a shardroute plan node whose remote
 * statement takes nparams parameters of paramTypes and returns ncolumns
 * columns, read into the columns attnums of desc, in binary or text.  They
 * stay valid as long as the plan does; the caller must not change them.
 */
const PlanCodecs *
GetPlanCodecs(CustomScan *plan, int nparams, const Oid *paramTypes,
			  TupleDesc desc, int ncolumns, const AttrNumber *attnums,
			  bool binary)
{
	PlanCodecsEntry *entry;
	MemoryContext planContext = GetMemoryChunkContext(plan);
	MemoryContext old;
	bool		found;

	if (CodecsByPlan == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(CustomScan *);
		ctl.entrysize = sizeof(PlanCodecsEntry);
		ctl.hcxt = TopMemoryContext;
		CodecsByPlan = hash_create("shardroute plan codecs", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	entry = hash_search(CodecsByPlan, &plan, HASH_ENTER, &found);
	if (found &&
		EntryFits(entry, nparams, paramTypes, desc, ncolumns, attnums, binary))
		return &entry->codecs;

	/*
	 * A new plan, or (found but not fitting) a node freed on its own whose
	 * address another plan reuses: build into the plan's context.  A new
	 * entry first gets the callback that forgets it; an entry that could
	 * not be filled is removed at once, so none is ever left half-built.
	 */
	old = MemoryContextSwitchTo(planContext);
	PG_TRY();
	{
		if (!found)
		{
			MemoryContextCallback *callback = palloc0(sizeof(MemoryContextCallback));

			callback->func = ForgetPlanCodecs;
			callback->arg = plan;
			MemoryContextRegisterResetCallback(planContext, callback);
		}
		FillEntry(entry, nparams, paramTypes, desc, ncolumns, attnums, binary);
	}
	PG_CATCH();
	{
		hash_search(CodecsByPlan, &plan, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	return &entry->codecs;
}
