/*-------------------------------------------------------------------------
 *
 * hash.h
 *	  The pinned shardroute hash and the key-to-slot mapping.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHARDROUTE_HASH_H
#define SHARDROUTE_HASH_H

#include "postgres.h"

/* Families of key types; keys of one family hash alike and co-locate */
typedef enum KeyFamily
{
	KEY_FAMILY_NONE = 0,
	KEY_FAMILY_INTEGER,			/* smallint, integer, bigint */
	KEY_FAMILY_TEXT,			/* text, varchar */
	KEY_FAMILY_UUID
} KeyFamily;

extern KeyFamily KeyFamilyOfType(Oid typid);
extern uint64 ShardrouteHashKey(Datum value, Oid typid);
extern int	SlotOfKey(Datum value, Oid typid, int slotCount);

#endif							/* SHARDROUTE_HASH_H */
