/*-------------------------------------------------------------------------
 *
 * hash.c
 *	  The pinned shardroute hash, and slot_of() for every key type.
 *
 * A key is placed by hashing it to 64 bits and taking the hash modulo the
 * cluster's fixed number of slots; slots, not keys, are then mapped to
 * shards.  The hash is defined here, not borrowed from PostgreSQL's
 * hashtext()/hashint8(), so that it never changes between platforms or
 * releases (the fixed vectors in the regression tests pin it):
 *
 *	 integer keys (smallint, integer, bigint): the value as a signed 64-bit
 *	 integer, reinterpreted as unsigned, through fmix64;
 *	 text and varchar keys: FNV-1a 64 over the value's bytes in the
 *	 database encoding, through fmix64;
 *	 uuid keys: FNV-1a 64 over the 16 bytes of the uuid, through fmix64.
 *
 * fmix64 is MurmurHash3's 64-bit finaliser (shifts and multiplications by
 * 0xff51afd7ed558ccd and 0xc4ceb9fe1a85ec53); FNV-1a 64 starts from
 * 0xcbf29ce484222325 and multiplies by 0x100000001b3.  Both are defined on
 * bytes and unsigned 64-bit arithmetic only, so the result does not depend
 * on endianness or word size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "hash.h"

/*
 * fmix64 is MurmurHash3's finaliser: it spreads every input bit over every
 * output bit.
 */
static inline uint64
fmix64(uint64 k)
{
	k ^= k >> 33;
	k *= UINT64CONST(0xff51afd7ed558ccd);
	k ^= k >> 33;
	k *= UINT64CONST(0xc4ceb9fe1a85ec53);
	k ^= k >> 33;
	return k;
}

/*
 * fnv1a64 hashes len bytes with FNV-1a, 64-bit variant.
 */
static uint64
fnv1a64(const unsigned char *bytes, size_t len)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++)
	{
		h ^= bytes[i];
		h *= UINT64CONST(0x100000001b3);
	}
	return h;
}

/*
 * KeyFamilyOfType returns the family a key type hashes in, or
 * KEY_FAMILY_NONE for a type that cannot be a distribution key.
 */
KeyFamily
KeyFamilyOfType(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return KEY_FAMILY_INTEGER;
		case TEXTOID:
		case VARCHAROID:
			return KEY_FAMILY_TEXT;
		case UUIDOID:
			return KEY_FAMILY_UUID;
		default:
			return KEY_FAMILY_NONE;
	}
}

/*
 * ShardrouteHashKey returns the pinned 64-bit hash of a non-NULL key of
 * type typid.  Errors if the type cannot be a key.
 */
uint64
ShardrouteHashKey(Datum value, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return fmix64((uint64) (int64) DatumGetInt16(value));
		case INT4OID:
			return fmix64((uint64) (int64) DatumGetInt32(value));
		case INT8OID:
			return fmix64((uint64) DatumGetInt64(value));
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(value);

				return fmix64(fnv1a64((const unsigned char *) VARDATA_ANY(t),
									  VARSIZE_ANY_EXHDR(t)));
			}
		case UUIDOID:
			return fmix64(fnv1a64(DatumGetUUIDP(value)->data, UUID_LEN));
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("type %s cannot be a distribution key",
							format_type_be(typid)),
					 errhint("Distribution keys are smallint, integer, bigint, text, varchar or uuid.")));
	}
	pg_unreachable();
}

/*
 * SlotOfKey returns the slot (0 .. slotCount - 1) of a non-NULL key.
 */
int
SlotOfKey(Datum value, Oid typid, int slotCount)
{
	return (int) (ShardrouteHashKey(value, typid) % (uint64) slotCount);
}
