/*-------------------------------------------------------------------------
 *
 * remote_values.c
 *	  Turning local values into statement parameters for a shard, and a
 *	  shard's result rows back into local values.
 *
 * Values of built-in types travel in binary: both ends run the same
 * PostgreSQL major version, binary needs no parsing, and it does not depend
 * on DateStyle, IntervalStyle or extra_float_digits.  Values of other types
 * (enums, domains, composites: their OIDs differ between servers) travel as
 * text, and their parameter type is left for the shard to infer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/lsyscache.h"

#include "remote_values.h"

/*
 * TypeIsPortable returns whether values of a type can travel in binary
 * and keep their type OID between coordinator and shard: built-in,
 * non-composite types with send and receive functions.
 */
bool
TypeIsPortable(Oid typid)
{
	return typid < FirstGenbkiObjectId && !type_is_rowtype(typid);
}

/*
 * CreateParamEncoder prepares to send nparams parameters of the given
 * types, in the current memory context.
 */
ParamEncoder *
CreateParamEncoder(int nparams, const Oid *types)
{
	ParamEncoder *encoder = palloc0(sizeof(ParamEncoder));

	encoder->nparams = nparams;
	encoder->remoteTypes = palloc0(sizeof(Oid) * Max(nparams, 1));
	encoder->formats = palloc0(sizeof(int) * Max(nparams, 1));
	encoder->output = palloc0(sizeof(FmgrInfo) * Max(nparams, 1));
	for (int i = 0; i < nparams; i++)
	{
		Oid			func;
		bool		isvarlena;

		if (!OidIsValid(types[i]))
			continue;			/* an unused parameter: sent as NULL text */
		if (TypeIsPortable(types[i]))
		{
			encoder->remoteTypes[i] = types[i];
			encoder->formats[i] = 1;
			getTypeBinaryOutputInfo(types[i], &func, &isvarlena);
		}
		else
			getTypeOutputInfo(types[i], &func, &isvarlena);
		fmgr_info(func, &encoder->output[i]);
	}
	return encoder;
}

/*
 * EncodeParam converts parameter i to the form libpq sends; the result is
 * allocated in the current memory context.
 */
void
EncodeParam(ParamEncoder *encoder, int i, Datum value, bool isnull,
			const char **valueOut, int *lengthOut)
{
	if (isnull || encoder->output[i].fn_oid == InvalidOid)
	{
		*valueOut = NULL;
		*lengthOut = 0;
	}
	else if (encoder->formats[i] == 1)
	{
		bytea	   *b = SendFunctionCall(&encoder->output[i], value);

		*valueOut = VARDATA(b);
		*lengthOut = VARSIZE(b) - VARHDRSZ;
	}
	else
	{
		*valueOut = OutputFunctionCall(&encoder->output[i], value);
		*lengthOut = 0;
	}
}

/*
 * CreateRowDecoder prepares to read result rows of ncolumns columns into
 * the columns attnums of tuples of desc.
 */
RowDecoder *
CreateRowDecoder(TupleDesc desc, int ncolumns, const AttrNumber *attnums,
				 bool binary)
{
	RowDecoder *decoder = palloc0(sizeof(RowDecoder));

	decoder->ncolumns = ncolumns;
	decoder->binary = binary;
	decoder->attnums = palloc(sizeof(AttrNumber) * Max(ncolumns, 1));
	decoder->input = palloc0(sizeof(FmgrInfo) * Max(ncolumns, 1));
	decoder->ioparams = palloc0(sizeof(Oid) * Max(ncolumns, 1));
	decoder->typmods = palloc0(sizeof(int32) * Max(ncolumns, 1));
	for (int i = 0; i < ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnums[i] - 1);
		Oid			func;

		decoder->attnums[i] = attnums[i];
		decoder->typmods[i] = att->atttypmod;
		if (binary)
			getTypeBinaryInputInfo(att->atttypid, &func, &decoder->ioparams[i]);
		else
			getTypeInputInfo(att->atttypid, &func, &decoder->ioparams[i]);
		fmgr_info(func, &decoder->input[i]);
	}
	return decoder;
}

/*
 * DecodeRow fills values/isnull (indexed by tuple column - 1) from one
 * result row, in the current memory context.  Columns the result does not
 * carry are left untouched.  Errors if the shard returned another number
 * of columns.
 */
void
DecodeRow(RowDecoder *decoder, PGresult *res, int row, Datum *values,
		  bool *isnull)
{
	if (PQnfields(res) != decoder->ncolumns)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("shard returned %d columns where %d were expected",
						PQnfields(res), decoder->ncolumns),
				 errhint("Check that the table has the same definition on the coordinator and on every shard.")));

	for (int i = 0; i < decoder->ncolumns; i++)
	{
		int			att = decoder->attnums[i] - 1;

		if (PQgetisnull(res, row, i))
		{
			values[att] = (Datum) 0;
			isnull[att] = true;
		}
		else if (decoder->binary)
		{
			StringInfoData buf;

			buf.data = PQgetvalue(res, row, i);
			buf.len = PQgetlength(res, row, i);
			buf.maxlen = buf.len;
			buf.cursor = 0;
			values[att] = ReceiveFunctionCall(&decoder->input[i], &buf,
											  decoder->ioparams[i],
											  decoder->typmods[i]);
			isnull[att] = false;
		}
		else
		{
			values[att] = InputFunctionCall(&decoder->input[i],
											PQgetvalue(res, row, i),
											decoder->ioparams[i],
											decoder->typmods[i]);
			isnull[att] = false;
		}
	}
}

/*
 * EncodeStatementParams encodes the statement parameters ids (in order)
 * from params as the first parameters of a remote statement.  Errors if a
 * parameter has no value.
 */
void
EncodeStatementParams(ParamEncoder *encoder, ParamListInfo params, List *ids,
					  const char **values, int *lengths)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, ids)
	{
		int			id = lfirst_int(lc);
		ParamExternData workspace;
		ParamExternData *prm;

		if (params == NULL || id <= 0 || id > params->numParams)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no value found for parameter %d", id)));
		prm = params->paramFetch
			? params->paramFetch(params, id, false, &workspace)
			: &params->params[id - 1];
		EncodeParam(encoder, i, prm->value, prm->isnull, &values[i], &lengths[i]);
		i++;
	}
}
