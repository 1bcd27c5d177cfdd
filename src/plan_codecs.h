/*-------------------------------------------------------------------------
 *
 * plan_codecs.h
 *	  Parameter encoders and row decoders kept with the plans that use them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_PLAN_CODECS_H
#define SHARDROUTE_PLAN_CODECS_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "nodes/plannodes.h"

#include "remote_values.h"

/* What a shardroute node needs to talk to shards, fixed by its plan */
typedef struct PlanCodecs
{
	ParamEncoder *encoder;		/* the remote statement's parameters */
	RowDecoder *decoder;		/* its result rows, into the scan tuple */
} PlanCodecs;

/* Builds a plan's codecs, in the current memory context */
typedef void (*BuildPlanCodecs) (CustomScan *plan, TupleDesc desc,
								 PlanCodecs *codecs);

extern const PlanCodecs *GetPlanCodecs(CustomScan *plan, TupleDesc desc,
									   BuildPlanCodecs build);

#endif							/* SHARDROUTE_PLAN_CODECS_H */
