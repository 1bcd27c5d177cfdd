/*-------------------------------------------------------------------------
 *
 * metadata.c
 *	  Per-backend cache of shardroute's catalog, and the SQL functions that
 *	  read it: slot_of() and shard_of().
 *
 * The catalog lives in tables of the shardroute schema (created by the
 * extension's install script): cluster (the fixed slot count), shard
 * (shard id to postgres_fdw server), slot (slot to shard) and
 * distributed_table (table to key column).  Each backend loads them once
 * into CacheMemoryContext and reloads after any relcache invalidation of
 * one of those tables; a statement-level trigger on each catalog table
 * (shardroute_metadata_changed) sends that invalidation, together with one
 * for every distributed table so that cached plans are replanned.  A
 * database without the extension costs one syscache lookup per statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "inttypes.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "hash.h"
#include "metadata.h"
#include "shardroute.h"

PG_FUNCTION_INFO_V1(shardroute_slot_of);
PG_FUNCTION_INFO_V1(shardroute_shard_of);
PG_FUNCTION_INFO_V1(shardroute_metadata_changed);

/* The cached catalog of the current database */
typedef struct MetadataCache
{
	bool		valid;			/* false: reload at next use */
	bool		installed;		/* the extension's catalog exists */
	Oid			catalogRelids[4];	/* cluster, shard, slot, distributed_table */
	int			slotCount;
	int		   *slotToShard;	/* slotCount entries, -1 if unassigned */
	List	   *shards;			/* ShardInfo *, ordered by id */
	HTAB	   *tables;			/* relid -> DistTable */
} MetadataCache;

static MetadataCache Cache;
static MemoryContext MetadataContext = NULL;
static bool Loading = false;

static const char *const CatalogTables[4] = {
	"cluster", "shard", "slot", "distributed_table"
};

/*
 * InvalidateMetadataCallback marks the cache stale when one of the catalog
 * tables is invalidated (or everything is).  While the extension is not
 * installed, any invalidation is a reason to look again.
 */
static void
InvalidateMetadataCallback(Datum arg, Oid relid)
{
	if (!Cache.installed || relid == InvalidOid)
	{
		Cache.valid = false;
		return;
	}
	for (int i = 0; i < lengthof(Cache.catalogRelids); i++)
		if (Cache.catalogRelids[i] == relid)
			Cache.valid = false;
}

/*
 * InvalidateServerCallback marks the cache stale when a foreign server
 * changes, since shards are found through their servers.
 */
static void
InvalidateServerCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	Cache.valid = false;
}

/*
 * MetadataInit registers the invalidation callbacks.  Called from
 * _PG_init.
 */
void
MetadataInit(void)
{
	CacheRegisterRelcacheCallback(InvalidateMetadataCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, InvalidateServerCallback,
								  (Datum) 0);
}

/*
 * SpiExec runs a catalog query and errors if it fails.  It is not run
 * read-only, so that SPI takes a snapshot that sees the current
 * transaction's own catalog changes, made by the command just before.
 */
static void
SpiExec(const char *sql)
{
	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "shardroute: could not read catalog: %s", sql);
}

/*
 * SpiInt returns column col of row row of the last SPI result as an int.
 */
static int
SpiInt(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? -1 : DatumGetInt32(d);
}

/*
 * LoadMetadata (re)reads the catalog into the cache.  The catalog tables
 * are found through the shardroute schema; when it does not exist the cache
 * says "not installed".
 */
static void
LoadMetadata(void)
{
	Oid			nsp;
	HASHCTL		ctl;
	MemoryContext old;

	if (MetadataContext == NULL)
		MetadataContext = AllocSetContextCreate(CacheMemoryContext,
												"shardroute metadata",
												ALLOCSET_SMALL_SIZES);
	MemoryContextReset(MetadataContext);
	memset(&Cache, 0, sizeof(Cache));
	Cache.valid = true;

	nsp = get_namespace_oid("shardroute", true);
	if (!OidIsValid(nsp))
		return;
	for (int i = 0; i < lengthof(CatalogTables); i++)
	{
		Cache.catalogRelids[i] = get_relname_relid(CatalogTables[i], nsp);
		if (!OidIsValid(Cache.catalogRelids[i]))
			return;
	}
	Cache.installed = true;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DistTable);
	ctl.hcxt = MetadataContext;
	Cache.tables = hash_create("shardroute distributed tables", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	Loading = true;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "shardroute: SPI_connect failed");

		SpiExec("SELECT slot_count FROM shardroute.cluster");
		Cache.slotCount = SPI_processed > 0 ? SpiInt(0, 1) : 0;
		old = MemoryContextSwitchTo(MetadataContext);
		Cache.slotToShard = palloc(sizeof(int) * Max(Cache.slotCount, 1));
		MemoryContextSwitchTo(old);
		for (int i = 0; i < Cache.slotCount; i++)
			Cache.slotToShard[i] = -1;

		SpiExec("SELECT slot, shard_id FROM shardroute.slot");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			int			slot = SpiInt(r, 1);

			if (slot >= 0 && slot < Cache.slotCount)
				Cache.slotToShard[slot] = SpiInt(r, 2);
		}

		SpiExec("SELECT shard_id, server_name::text FROM shardroute.shard ORDER BY shard_id");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			ShardInfo  *shard;
			char	   *name = SPI_getvalue(SPI_tuptable->vals[r],
											SPI_tuptable->tupdesc, 2);
			ForeignServer *server = GetForeignServerByName(name, true);

			old = MemoryContextSwitchTo(MetadataContext);
			shard = palloc0(sizeof(ShardInfo));
			shard->shardId = SpiInt(r, 1);
			shard->serverName = pstrdup(name);
			shard->serverId = server ? server->serverid : InvalidOid;
			Cache.shards = lappend(Cache.shards, shard);
			MemoryContextSwitchTo(old);
		}

		SpiExec("SELECT relid::oid, key_column::text FROM shardroute.distributed_table");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r],
															   SPI_tuptable->tupdesc,
															   1, &isnull));
			char	   *key = SPI_getvalue(SPI_tuptable->vals[r],
										   SPI_tuptable->tupdesc, 2);
			AttrNumber	attno = get_attnum(relid, key);
			DistTable  *table;
			bool		found;

			if (attno == InvalidAttrNumber)
				continue;
			table = hash_search(Cache.tables, &relid, HASH_ENTER, &found);
			table->keyAttno = attno;
			table->keyType = get_atttype(relid, attno);
			table->keyName = MemoryContextStrdup(MetadataContext, key);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		Loading = false;
	}
	PG_END_TRY();
}

/*
 * EnsureMetadata makes the cache current.  While the cache is being
 * loaded (its own catalog queries are planned too) it reports nothing
 * distributed.
 */
static inline bool
EnsureMetadata(void)
{
	if (Loading)
		return false;
	if (!Cache.valid)
		LoadMetadata();
	return Cache.installed;
}

/*
 * HaveDistributedTables returns whether the current database has at least
 * one distributed table: the planner's first, cheapest test.
 */
bool
HaveDistributedTables(void)
{
	return EnsureMetadata() && hash_get_num_entries(Cache.tables) > 0;
}

/*
 * GetDistTable returns the distributed table entry for relid, or NULL when
 * relid is not distributed.
 */
DistTable *
GetDistTable(Oid relid)
{
	if (!EnsureMetadata())
		return NULL;
	return hash_search(Cache.tables, &relid, HASH_FIND, NULL);
}

/*
 * MetadataSlotCount returns the cluster's fixed number of slots.  Errors
 * when the extension is not installed in this database.
 */
int
MetadataSlotCount(void)
{
	if (!EnsureMetadata() || Cache.slotCount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shardroute is not installed in this database"),
				 errhint("Run CREATE EXTENSION shardroute CASCADE.")));
	return Cache.slotCount;
}

/*
 * ShardForKey returns the id of the shard that owns a non-NULL key.
 * Errors if the key's slot is not assigned to any shard.
 */
int
ShardForKey(Datum key, Oid keyType)
{
	int			slot = SlotOfKey(key, keyType, MetadataSlotCount());
	int			shardId = Cache.slotToShard[slot];

	if (shardId < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("slot %d is not assigned to any shard", slot),
				 errhint("Register shards with shardroute.add_shard().")));
	return shardId;
}

/*
 * GetShard returns the registered shard with the given id.  Errors when
 * there is none, or when its foreign server has gone.
 */
ShardInfo *
GetShard(int shardId)
{
	ListCell   *lc;

	EnsureMetadata();
	foreach(lc, Cache.shards)
	{
		ShardInfo  *shard = lfirst(lc);

		if (shard->shardId != shardId)
			continue;
		if (!OidIsValid(shard->serverId))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("foreign server \"%s\" of shard %d does not exist",
							shard->serverName, shardId),
					 errhint("Recreate the server, or register the shard again.")));
		return shard;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("shard %d does not exist", shardId)));
	pg_unreachable();
}

/*
 * AllShards returns every registered shard (ShardInfo *), ordered by id.
 * The list belongs to the cache: do not modify it.
 */
List *
AllShards(void)
{
	EnsureMetadata();
	return Cache.shards;
}

/*
 * shardroute_slot_of implements shardroute.slot_of(key) for every key
 * type.
 */
Datum
shardroute_slot_of(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);

	PG_RETURN_INT32(SlotOfKey(PG_GETARG_DATUM(0), typid, MetadataSlotCount()));
}

/*
 * shardroute_shard_of implements shardroute.shard_of(key): the shard that
 * owns the key's slot now.
 */
Datum
shardroute_shard_of(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);

	PG_RETURN_INT32(ShardForKey(PG_GETARG_DATUM(0), typid));
}

/*
 * InvalidateDistTables sends a relcache invalidation for every cached
 * distributed table that still exists, so that plans that routed them are
 * rebuilt.
 */
static void
InvalidateDistTables(void)
{
	HASH_SEQ_STATUS status;
	DistTable  *table;

	if (!EnsureMetadata())
		return;
	hash_seq_init(&status, Cache.tables);
	while ((table = hash_seq_search(&status)) != NULL)
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(table->relid)))
			CacheInvalidateRelcacheByRelid(table->relid);
}

/*
 * shardroute_metadata_changed is the statement-level trigger on every
 * catalog table: it invalidates the catalog in every backend, and every
 * table distributed before the change, so that plans routed with the old
 * metadata are rebuilt; other backends see the catalog's invalidation at
 * commit.  (A newly distributed table's plans are invalidated by the
 * TRUNCATE that distribute_table runs on it.)
 */
Datum
shardroute_metadata_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "shardroute_metadata_changed: not called by trigger manager");

	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	InvalidateDistTables();
	Cache.valid = false;
	return PointerGetDatum(NULL);
}
