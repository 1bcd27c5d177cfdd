/*-------------------------------------------------------------------------
 *
 * remote_values.h
 *	  Turning local values into statement parameters for a shard, and a
 *	  shard's result rows back into local values.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_REMOTE_VALUES_H
#define SHARDROUTE_REMOTE_VALUES_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "libpq-fe.h"
#include "nodes/params.h"
#include "nodes/pg_list.h"

/* How to send parameters of given types */
typedef struct ParamEncoder
{
	int			nparams;
	Oid		   *remoteTypes;	/* type sent in Parse; 0 lets the shard infer */
	int		   *formats;		/* 1 binary, 0 text */
	FmgrInfo   *output;			/* send or output function */
} ParamEncoder;

/* How to read result columns into a tuple descriptor's columns */
typedef struct RowDecoder
{
	int			ncolumns;
	bool		binary;
	AttrNumber *attnums;		/* tuple column (1-based) of each result column */
	FmgrInfo   *input;			/* receive or input function */
	Oid		   *ioparams;
	int32	   *typmods;
} RowDecoder;

extern bool TypeIsPortable(Oid typid);
extern ParamEncoder *CreateParamEncoder(int nparams, const Oid *types);
extern void EncodeParam(ParamEncoder *encoder, int i, Datum value, bool isnull,
						const char **valueOut, int *lengthOut);
extern RowDecoder *CreateRowDecoder(TupleDesc desc, int ncolumns,
									const AttrNumber *attnums, bool binary);
extern void DecodeRow(RowDecoder *decoder, PGresult *res, int row,
					  Datum *values, bool *isnull);
extern void EncodeStatementParams(ParamEncoder *encoder, ParamListInfo params,
								  List *ids, const char **values, int *lengths);

#endif							/* SHARDROUTE_REMOTE_VALUES_H */
