/*-------------------------------------------------------------------------
 *
 * plan_codecs.c
 *	  Parameter encoders and row decoders kept with the plans that use them.
 *
 * A shardroute node's encoder and decoder depend on nothing but its plan:
 * the remote statement's parameter types, the result columns and their
 * types (the scan tuple's descriptor is fixed by the plan too), text or
 * binary.  Building them means a catalog lookup and an fmgr_info per
 * column, which a prepared statement would otherwise repeat at every
 * execution of the same plan.  So they are built on the plan's first
 * execution, in the plan's own memory context, and found again by the plan
 * node's address.  A reset callback on that context forgets them when the
 * plan goes (replanned, deallocated, or at the end of its message for a
 * one-shot plan): PostgreSQL frees plans only with their memory context,
 * so an address is never reused while its entry exists.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "plan_codecs.h"

/* The codecs of one plan node */
typedef struct PlanCodecsEntry
{
	CustomScan *plan;			/* hash key */
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
 * GetPlanCodecs returns the codecs of a shardroute plan node whose scan
 * tuples have the descriptor desc, made by build on the plan's first call.
 * They stay valid as long as the plan does; the caller must not change
 * them.
 */
const PlanCodecs *
GetPlanCodecs(CustomScan *plan, TupleDesc desc, BuildPlanCodecs build)
{
	PlanCodecsEntry *entry;
	MemoryContext planContext;
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
	if (found)
		return &entry->codecs;

	/*
	 * Register the callback that forgets the entry, then build into the
	 * plan's context; an entry that could not be built is removed at once,
	 * so none is ever left half-built.
	 */
	planContext = GetMemoryChunkContext(plan);
	old = MemoryContextSwitchTo(planContext);
	PG_TRY();
	{
		MemoryContextCallback *callback = palloc0(sizeof(MemoryContextCallback));

		callback->func = ForgetPlanCodecs;
		callback->arg = plan;
		MemoryContextRegisterResetCallback(planContext, callback);
		build(plan, desc, &entry->codecs);
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
