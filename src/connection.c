/*-------------------------------------------------------------------------
 *
 * connection.c
 *	  libpq connections to shards, the remote transactions that follow the
 *	  local one, and pipelined statement batches.
 *
 * Each backend keeps at most one connection per shard and local user, made
 * with the credentials of the user's mapping for the shard's postgres_fdw
 * server (or the PUBLIC mapping), and reuses it for every statement.
 *
 * Work is sent in batches: one pipeline (libpq pipeline mode) holding the
 * commands a statement needs first (BEGIN at the local isolation level,
 * SAVEPOINTs for local subtransactions, SETs of the session settings that
 * change how expressions evaluate) and then the statements themselves,
 * closed by one Sync.  A batch therefore costs one round trip however many
 * statements it holds.  Statements with a reusable plan are prepared on the
 * connection once, under a name, and then only bound and executed.
 *
 * A remote transaction is opened when the local statement runs inside a
 * transaction block, a function, or a multi-statement string, or when a
 * statement needs several batches on one shard: it then lasts until the
 * local transaction ends, so every later statement sees its writes, and is
 * committed (all shards at once) just before the local commit, or rolled
 * back with it.  A top-level statement that is known to be its
 * transaction's only one, and sends one batch to a shard, needs nothing
 * around it: the shard commits that batch at its Sync.  Statements that a
 * client pipelines before one Sync form one implicit transaction, so they
 * get a remote transaction too (see StatementIsAlone).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "pgtime.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "connection.h"
#include "metadata.h"
#include "shardroute.h"
#include "stats.h"
#include "twophase.h"

/* A statement prepared on one connection */
typedef struct PreparedEntry
{
	uint64		key;			/* hash of SQL text and parameter types */
	char	   *sql;			/* to tell hash collisions apart */
	char		name[24];
	bool		confirmed;		/* the shard accepted the Parse */
} PreparedEntry;

/*
 * Session settings a shard must share with the local session: those that
 * change how expressions evaluate, and lock_timeout, which ends lock waits
 * on shards (including deadlocks that span shards, which no shard sees).
 */
static const char *const SyncedSettings[] = {"TimeZone", "DateStyle", "IntervalStyle", "lock_timeout"};
#define NUM_SYNCED_SETTINGS lengthof(SyncedSettings)

/*
 * The variables behind SyncedSettings: while they keep their values, the
 * settings need no comparing (a cheap test on every batch).
 */
typedef struct SettingsStamp
{
	pg_tz	   *timezone;
	int			dateStyle;
	int			dateOrder;
	int			intervalStyle;
	int			lockTimeout;
} SettingsStamp;

/* Hash key of a connection: one per shard and local user */
typedef struct ConnectionKey
{
	int			shardId;
	Oid			userId;
} ConnectionKey;

struct ShardConnection
{
	ConnectionKey key;
	PGconn	   *conn;
	Oid			serverId;
	bool		stale;			/* server or mapping changed: reconnect */
	int			xactDepth;		/* 0: none; 1: BEGIN sent; n: savepoints */
	bool		inBatch;		/* a batch is under way */
	int			pendingPrefix;	/* prefix results still to be discarded */
	int			pendingStatements;	/* statement results still to be read */
	List	   *unconfirmed;	/* PreparedEntry * Parsed in this batch */
	HTAB	   *prepared;		/* key -> PreparedEntry */
	uint32		nextStatement;
	char	   *settings[NUM_SYNCED_SETTINGS];	/* last value sent, or NULL */
	SettingsStamp stamp;		/* the settings' variables when last checked */
	bool		stampValid;
	bool		wrote;			/* the remote transaction wrote */
	bool		partPrepared;	/* gid is prepared on the shard */
	char		gid[TWO_PHASE_GID_LEN];	/* its two-phase transaction id */
	WaitEventSet *waitSet;		/* latch, postmaster death and the socket */
	int			socketEvents;	/* what waitSet waits for on the socket */
	MemoryContext context;		/* prepared entries and settings */
};

/*
 * From libpq/libpq.h, which cannot be included without the GSSAPI headers
 * that libpq/libpq-be.h pulls in; these are the declarations of PostgreSQL
 * 15's pqcomm.c.
 */
extern bool pq_buffer_has_data(void);
extern void pq_startmsgread(void);
extern int	pq_peekbyte(void);
extern void pq_endmsgread(void);

static HTAB *ConnectionHash = NULL;
static int	NestingLevel = 0;
static bool XactUsedShards = false;

/*
 * The local transaction wrote tables of the coordinator (a statement with
 * a result relation, or a utility command that wrote WAL).  Its commit then
 * takes part in the commit of the shards: a shard's write is committed in
 * two phases, so that both or neither survive.  Sequences do not count:
 * nextval() is not transactional, and FlushLocalWal covers it.
 */
static bool XactWroteLocally = false;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void ShardXactCallback(XactEvent event, void *arg);
static void SyncSettings(ShardConnection *c);
static void ShardSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);

/*
 * ReportShardError raises a shard's error as an error of the local
 * statement, keeping its SQLSTATE, message, detail and hint, and naming the
 * shard in the context.  res may be NULL for connection-level failures.
 */
static void
ReportShardError(ShardConnection *c, PGresult *res, const char *what)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *context = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
	int			code;
	char	   *message;

	if (sqlstate && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	else
		code = ERRCODE_CONNECTION_FAILURE;
	message = pstrdup(primary ? primary : pchomp(PQerrorMessage(c->conn)));
	if (res)
		PQclear(res);
	CountShard(c->key.shardId, COUNTER_ERRORS, 1);

	if (primary == NULL)
		ereport(ERROR,
				(errcode(code),
				 errmsg("lost connection to shard %d while %s",
						c->key.shardId, what),
				 errdetail_internal("%s", message),
				 errhint("Check that the shard is running; the next statement reconnects.")));
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 context ? errcontext("%s", context) : 0,
			 errcontext("shard %d", c->key.shardId)));
}

/*
 * IsLibpqOption returns whether a foreign server or user mapping option is
 * a libpq connection option that shardroute passes on (postgres_fdw's own
 * options and the ones shardroute sets itself are not).
 */
static bool
IsLibpqOption(const char *name)
{
	static PQconninfoOption *defaults = NULL;

	if (defaults == NULL)
		defaults = PQconndefaults();
	if (strcmp(name, "client_encoding") == 0 ||
		strcmp(name, "fallback_application_name") == 0 ||
		strcmp(name, "replication") == 0)
		return false;
	for (PQconninfoOption *opt = defaults; opt && opt->keyword; opt++)
		if (strcmp(opt->keyword, name) == 0)
			return true;
	return false;
}

/*
 * ConnectToShard opens a new blocking connection to a shard as the given
 * local user, with the options of the shard's server and of the user's
 * mapping.  Returns NULL and sets *error when the shard cannot be reached
 * within shardroute.connect_timeout.  Errors if a non-superuser would
 * connect without a password.
 */
PGconn *
ConnectToShard(ShardInfo *shard, Oid userId, char **error)
{
	ForeignServer *server = GetForeignServer(shard->serverId);
	UserMapping *mapping = GetUserMapping(userId, shard->serverId);
	List	   *options = list_concat(list_copy(server->options), mapping->options);
	const char **keywords = palloc0(sizeof(char *) * (list_length(options) + 4));
	const char **values = palloc0(sizeof(char *) * (list_length(options) + 4));
	bool		haveTimeout = false;
	bool		havePassword = false;
	int			n = 0;
	ListCell   *lc;
	char		timeout[16];
	PGconn	   *conn;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (!IsLibpqOption(def->defname))
			continue;
		keywords[n] = def->defname;
		values[n++] = defGetString(def);
		haveTimeout |= strcmp(def->defname, "connect_timeout") == 0;
		havePassword |= strcmp(def->defname, "password") == 0;
	}
	if (!haveTimeout)
	{
		snprintf(timeout, sizeof(timeout), "%d", ShardrouteConnectTimeout);
		keywords[n] = "connect_timeout";
		values[n++] = timeout;
	}
	keywords[n] = "fallback_application_name";
	values[n++] = "shardroute";
	keywords[n] = "client_encoding";
	values[n++] = GetDatabaseEncodingName();

	if (!superuser_arg(userId) && !havePassword)
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required to connect to shard %d", shard->shardId),
				 errdetail("Non-superusers must provide a password in the user mapping."),
				 errhint("Add a password to the user mapping for server \"%s\".",
						 shard->serverName)));

	conn = PQconnectdbParams(keywords, values, false);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		*error = conn ? pchomp(PQerrorMessage(conn)) : pstrdup("out of memory");
		if (conn)
			PQfinish(conn);
		return NULL;
	}
	if (!superuser_arg(userId) && !PQconnectionUsedPassword(conn))
	{
		PQfinish(conn);
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required to connect to shard %d", shard->shardId),
				 errdetail("Non-superusers must use password authentication on shards."),
				 errhint("Configure the shard to ask for a password.")));
	}
	return conn;
}

/*
 * Connect opens c->conn for the shard and sets it up for batches.  Errors
 * with SQLSTATE 08001 when the shard cannot be reached.
 */
static void
Connect(ShardConnection *c, ShardInfo *shard)
{
	char	   *error = NULL;

	c->conn = ConnectToShard(shard, c->key.userId, &error);
	if (c->conn == NULL)
	{
		CountShard(shard->shardId, COUNTER_ERRORS, 1);
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to shard %d (server \"%s\")",
						shard->shardId, shard->serverName),
				 errdetail_internal("%s", error),
				 errhint("Check that the shard is running and reachable, and that the user mapping's credentials are valid.")));
	}
	if (PQsetnonblocking(c->conn, 1) != 0)
		ReportShardError(c, NULL, "connecting");
	c->waitSet = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(c->waitSet, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(c->waitSet, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(c->waitSet, WL_SOCKET_READABLE, PQsocket(c->conn), NULL, NULL);
	c->socketEvents = WL_SOCKET_READABLE;
	c->serverId = shard->serverId;
	c->stale = false;
}

/*
 * ForgetSettings marks the shard session's settings unknown, so that the
 * next batch sets them again (after a rollback undid them, or a new
 * connection).
 */
static void
ForgetSettings(ShardConnection *c)
{
	for (int i = 0; i < NUM_SYNCED_SETTINGS; i++)
	{
		if (c->settings[i])
			pfree(c->settings[i]);
		c->settings[i] = NULL;
	}
	c->stampValid = false;
}

/*
 * Disconnect closes the connection and forgets everything that lived on
 * it: the remote transaction, prepared statements and settings.
 */
static void
Disconnect(ShardConnection *c)
{
	if (c->waitSet)
		FreeWaitEventSet(c->waitSet);
	c->waitSet = NULL;
	if (c->conn)
		PQfinish(c->conn);
	c->conn = NULL;
	c->xactDepth = 0;
	c->inBatch = false;
	c->pendingPrefix = c->pendingStatements = 0;
	c->unconfirmed = NIL;
	c->prepared = NULL;
	ForgetSettings(c);
	MemoryContextReset(c->context);
}

/*
 * InvalidateConnectionsCallback marks every connection stale when a
 * foreign server or user mapping changes; each is closed at its next use
 * outside a remote transaction.
 */
static void
InvalidateConnectionsCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS status;
	ShardConnection *c;

	if (ConnectionHash == NULL)
		return;
	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
		c->stale = true;
}

/*
 * GetShardConnection returns the current user's connection to a shard,
 * connecting first if there is none or it broke outside a transaction.
 * Errors if the shard cannot be reached, or if the connection broke inside
 * the current remote transaction.
 */
ShardConnection *
GetShardConnection(int shardId)
{
	return GetShardConnectionAs(shardId, GetUserId());
}

/*
 * GetShardConnectionAs is GetShardConnection for the given local user's
 * user mapping.
 */
ShardConnection *
GetShardConnectionAs(int shardId, Oid userId)
{
	ConnectionKey key;
	ShardConnection *c;
	bool		found;

	if (ConnectionHash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ConnectionKey);
		ctl.entrysize = sizeof(ShardConnection);
		ConnectionHash = hash_create("shardroute connections", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS);
	}
	memset(&key, 0, sizeof(key));
	key.shardId = shardId;
	key.userId = userId;
	c = hash_search(ConnectionHash, &key, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) c) + sizeof(ConnectionKey), 0,
			   sizeof(ShardConnection) - sizeof(ConnectionKey));
		c->context = AllocSetContextCreate(TopMemoryContext,
										   "shardroute connection",
										   ALLOCSET_SMALL_SIZES);
	}

	if (c->conn && c->xactDepth == 0 &&
		(c->stale || PQstatus(c->conn) != CONNECTION_OK))
		Disconnect(c);
	if (c->conn == NULL)
		Connect(c, GetShard(shardId));
	else if (PQstatus(c->conn) != CONNECTION_OK)
		ReportShardError(c, NULL, "running the current transaction");
	return c;
}

/*
 * ShardConnectionShardId returns the shard a connection goes to.
 */
int
ShardConnectionShardId(ShardConnection *c)
{
	return c->key.shardId;
}

/*
 * WaitForSocket sleeps until the connection's socket is ready for the
 * given events (WL_SOCKET_*) or the latch is set, and services interrupts,
 * so that statement_timeout and cancels work while a shard is busy.  The
 * connection keeps one wait event set for its life, to spare the system
 * calls of building one per wait.
 */
static void
WaitForSocket(ShardConnection *c, int events)
{
	WaitEvent	event;

	if (events != c->socketEvents)
	{
		ModifyWaitEvent(c->waitSet, 2, events, NULL);
		c->socketEvents = events;
	}
	if (WaitEventSetWait(c->waitSet, -1L, &event, 1, PG_WAIT_EXTENSION) == 1 &&
		(event.events & WL_LATCH_SET))
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Flush sends everything libpq has buffered, reading the shard's replies
 * meanwhile so that neither side can block the other.
 */
static void
Flush(ShardConnection *c)
{
	for (;;)
	{
		int			rc = PQflush(c->conn);

		if (rc == 0)
			return;
		if (rc < 0)
			ReportShardError(c, NULL, "sending a statement");
		WaitForSocket(c, WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE);
		if (PQconsumeInput(c->conn) == 0)
			ReportShardError(c, NULL, "sending a statement");
	}
}

/*
 * GetResult returns the connection's next result, waiting for it without
 * blocking interrupts.  Returns NULL at the end of one command's results.
 */
static PGresult *
GetResult(ShardConnection *c)
{
	while (PQisBusy(c->conn))
	{
		WaitForSocket(c, WL_SOCKET_READABLE);
		if (PQconsumeInput(c->conn) == 0)
			ReportShardError(c, NULL, "waiting for a result");
	}
	return PQgetResult(c->conn);
}

/*
 * StatementIsAlone returns whether the running top-level statement is
 * known to end its transaction: the client's session commits right after
 * it, with no other statement in between.  At the top level (the caller
 * checks the nesting: SQL EXECUTE, EXPLAIN ANALYZE and functions run
 * statements one level down) the active portal is the one of the client's
 * message, and that holds for
 *
 * - a Query message (simple protocol) of one statement: its portal is the
 *   unnamed one exec_simple_query hides from pg_cursors, and a string of
 *   several statements runs in an implicit transaction block, which the
 *   caller checks;
 * - an Execute message (extended protocol) directly followed by a Sync
 *   that has already arrived, with no Execute before it in the transaction.
 *
 * Anything else may be followed by more statements of the same transaction:
 * a pipeline's statements are one implicit transaction, which commits or
 * rolls back as a whole at Sync.  An Execute whose Sync has not arrived yet
 * counts as such; drivers send Sync in the same packet as Execute, so a
 * single statement rarely pays for the remote transaction this causes.
 */
static bool
StatementIsAlone(void)
{
	int			next;

	if (whereToSendOutput != DestRemote || ActivePortal == NULL ||
		(MyXactFlags & XACT_FLAGS_PIPELINING))
		return false;
	if (!ActivePortal->visible)
		return true;
	if (!pq_buffer_has_data())
		return false;

	/* the buffer holds the next message: peek at its type byte */
	pq_startmsgread();
	next = pq_peekbyte();
	pq_endmsgread();
	return next == 'S';
}

/*
 * RemoteTransactionNeeded decides whether a batch must run inside a remote
 * transaction, as described at the top of this file.
 */
static bool
RemoteTransactionNeeded(ShardConnection *c, bool onlyBatch)
{
	if (c->xactDepth > 0 || XactWroteLocally)
		return true;
	return !onlyBatch || NestingLevel > 1 ||
		IsInTransactionBlock(NestingLevel <= 1) ||
		GetCurrentCommandId(false) != FirstCommandId ||
		GetCurrentTransactionNestLevel() > 1 ||
		!StatementIsAlone();
}

/*
 * FlushLocalWal makes durable the WAL the local transaction has written so
 * far, before a shard commits work that may depend on it.  The case that
 * matters is a sequence: nextval() logs the sequence ahead in a WAL record
 * that only the local commit would flush, so after a crash between a
 * shard's commit of a row using the value and the local commit, the value
 * would be handed out again.  Costs nothing when the transaction wrote no
 * WAL (nextval() writes one record in 32 calls).
 */
static void
FlushLocalWal(void)
{
	if (XactLastRecEnd != InvalidXLogRecPtr)
		XLogFlush(XactLastRecEnd);
}

/*
 * QueueCommand adds a parameterless command whose result is discarded to
 * the current batch.
 */
static void
QueueCommand(ShardConnection *c, const char *sql)
{
	if (!PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
		ReportShardError(c, NULL, "sending a statement");
	c->pendingPrefix++;
}

/*
 * ShardBeginBatch starts a batch on a connection: it enters pipeline mode
 * and queues what the statements need first (remote transaction,
 * savepoints, session settings).  onlyBatch says the local statement sends
 * no other batch to this shard; writes says the batch may write, which
 * decides between one- and two-phase commit.
 */
void
ShardBeginBatch(ShardConnection *c, bool onlyBatch, bool writes)
{
	int			level = GetCurrentTransactionNestLevel();
	bool		remote = RemoteTransactionNeeded(c, onlyBatch);

	Assert(!c->inBatch);
	/* without a remote transaction, the shard commits the batch at its Sync */
	if (!remote && writes)
		FlushLocalWal();
	if (PQenterPipelineMode(c->conn) != 1)
		ReportShardError(c, NULL, "starting a batch");
	c->inBatch = true;
	c->pendingPrefix = c->pendingStatements = 0;
	c->unconfirmed = NIL;
	XactUsedShards = true;

	if (remote)
	{
		if (c->xactDepth == 0)
		{
			const char *iso = XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" :
			XactIsoLevel == XACT_REPEATABLE_READ ? "REPEATABLE READ" :
			"READ COMMITTED";
			char		sql[96];

			snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL %s%s", iso,
					 XactReadOnly ? " READ ONLY" : "");
			QueueCommand(c, sql);
			c->xactDepth = 1;
			c->wrote = false;
		}
		c->wrote |= writes;
		while (c->xactDepth < level)
		{
			char		sql[32];

			snprintf(sql, sizeof(sql), "SAVEPOINT s%d", c->xactDepth + 1);
			QueueCommand(c, sql);
			c->xactDepth++;
		}
	}

	SyncSettings(c);
}

/*
 * SyncSettings queues a SET for each synced setting whose value differs
 * from the one the shard session has.
 */
static void
SyncSettings(ShardConnection *c)
{
	SettingsStamp stamp;

	memset(&stamp, 0, sizeof(stamp));
	stamp.timezone = session_timezone;
	stamp.dateStyle = DateStyle;
	stamp.dateOrder = DateOrder;
	stamp.intervalStyle = IntervalStyle;
	stamp.lockTimeout = LockTimeout;
	if (c->stampValid && memcmp(&stamp, &c->stamp, sizeof(stamp)) == 0)
		return;
	c->stamp = stamp;
	c->stampValid = true;

	for (int i = 0; i < NUM_SYNCED_SETTINGS; i++)
	{
		const char *value = GetConfigOption(SyncedSettings[i], false, false);

		if (c->settings[i] == NULL || strcmp(c->settings[i], value) != 0)
		{
			char	   *sql = psprintf("SET %s = %s", SyncedSettings[i],
									   quote_literal_cstr(value));

			QueueCommand(c, sql);
			if (c->settings[i])
				pfree(c->settings[i]);
			c->settings[i] = MemoryContextStrdup(c->context, value);
		}
	}
}

/*
 * HashStatement returns the key under which a statement is prepared: a
 * hash of its text and parameter types.
 */
static uint64
HashStatement(const char *sql, int nparams, const Oid *types)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);

	for (const char *p = sql; *p; p++)
		h = (h ^ (unsigned char) *p) * UINT64CONST(0x100000001b3);
	for (int i = 0; i < nparams; i++)
		h = (h ^ types[i]) * UINT64CONST(0x100000001b3);
	return h;
}

/*
 * ShardQueueStatement adds a statement with its parameters to the current
 * batch.  With prepare, the statement is prepared on the connection once
 * (in this batch if it is new) and later batches only bind and execute
 * it; otherwise it goes as an unnamed statement.
 */
void
ShardQueueStatement(ShardConnection *c, const char *sql, int nparams,
					const Oid *types, const char *const *values,
					const int *lengths, const int *formats,
					bool binaryResult, bool prepare)
{
	PreparedEntry *entry = NULL;
	int			ok;

	Assert(c->inBatch);
	if (prepare)
	{
		uint64		key = HashStatement(sql, nparams, types);
		bool		found;

		if (c->prepared == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(uint64);
			ctl.entrysize = sizeof(PreparedEntry);
			ctl.hcxt = c->context;
			c->prepared = hash_create("shardroute prepared statements", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		entry = hash_search(c->prepared, &key, HASH_FIND, &found);
		if (entry && strcmp(entry->sql, sql) != 0)
			entry = NULL;		/* a collision: go unnamed */
		else if (entry == NULL &&
				 hash_get_num_entries(c->prepared) < ShardrouteMaxPreparedStatements)
		{
			entry = hash_search(c->prepared, &key, HASH_ENTER, &found);
			entry->sql = MemoryContextStrdup(c->context, sql);
			snprintf(entry->name, sizeof(entry->name), "shardroute_%u",
					 ++c->nextStatement);
			entry->confirmed = false;
			if (!PQsendPrepare(c->conn, entry->name, sql, nparams, types))
				ReportShardError(c, NULL, "preparing a statement");
			c->pendingPrefix++;
			c->unconfirmed = lappend(c->unconfirmed, entry);
		}
	}

	if (entry)
		ok = PQsendQueryPrepared(c->conn, entry->name, nparams, values,
								 lengths, formats, binaryResult ? 1 : 0);
	else
		ok = PQsendQueryParams(c->conn, sql, nparams, types, values,
							   lengths, formats, binaryResult ? 1 : 0);
	if (!ok)
		ReportShardError(c, NULL, "sending a statement");
	c->pendingStatements++;
}

/*
 * ShardEndBatch closes the batch with a Sync and sends it.
 */
void
ShardEndBatch(ShardConnection *c)
{
	if (PQpipelineSync(c->conn) != 1)
		ReportShardError(c, NULL, "sending a statement");
	Flush(c);
}

/*
 * DrainBatch reads and discards what remains of the batch, up to its Sync,
 * and leaves pipeline mode.  Returns false if the connection failed.
 */
static bool
DrainBatch(ShardConnection *c)
{
	for (;;)
	{
		PGresult   *res;
		ExecStatusType status;

		if (PQstatus(c->conn) != CONNECTION_OK)
			return false;
		res = GetResult(c);
		if (res == NULL)
			continue;
		status = PQresultStatus(res);
		PQclear(res);
		if (status == PGRES_PIPELINE_SYNC)
			break;
	}
	c->inBatch = false;
	c->pendingPrefix = c->pendingStatements = 0;
	return PQexitPipelineMode(c->conn) == 1;
}

/*
 * FailBatch drains the batch after a shard reported an error, forgets
 * statements whose Parse was not confirmed, and raises the error.
 */
static void
FailBatch(ShardConnection *c, PGresult *res, const char *what)
{
	ListCell   *lc;

	foreach(lc, c->unconfirmed)
	{
		PreparedEntry *entry = lfirst(lc);

		if (!entry->confirmed)
			hash_search(c->prepared, &entry->key, HASH_REMOVE, NULL);
	}
	c->unconfirmed = NIL;
	if (!DrainBatch(c))
	{
		if (res)
			PQclear(res);
		ReportShardError(c, NULL, what);
	}
	ReportShardError(c, res, what);
}

/*
 * NextCommandResult returns the last result of the next command in the
 * pipeline (the one that carries its status), or NULL if the connection
 * failed.
 */
static PGresult *
NextCommandResult(ShardConnection *c)
{
	PGresult   *last = NULL;
	PGresult   *res;

	while ((res = GetResult(c)) != NULL)
	{
		if (last)
			PQclear(last);
		last = res;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
			break;
	}
	return last;
}

/*
 * ShardNextResult returns the result of the batch's next statement; the
 * caller PQclears it.  Errors (after making the connection usable again)
 * if that statement or a command before it failed.
 */
PGresult *
ShardNextResult(ShardConnection *c)
{
	PGresult   *res;

	Assert(c->inBatch && c->pendingStatements > 0);
	while (c->pendingPrefix > 0)
	{
		res = NextCommandResult(c);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			FailBatch(c, res, "preparing the statement");
		PQclear(res);
		c->pendingPrefix--;
	}
	if (c->unconfirmed)
	{
		ListCell   *lc;

		foreach(lc, c->unconfirmed)
			((PreparedEntry *) lfirst(lc))->confirmed = true;
		c->unconfirmed = NIL;
	}
	res = NextCommandResult(c);
	if (res == NULL ||
		(PQresultStatus(res) != PGRES_COMMAND_OK &&
		 PQresultStatus(res) != PGRES_TUPLES_OK))
		FailBatch(c, res, "running a statement");
	c->pendingStatements--;
	return res;
}

/*
 * ShardFinishBatch reads the end of the batch and leaves pipeline mode.
 * Every statement's result must have been read.
 */
void
ShardFinishBatch(ShardConnection *c)
{
	Assert(c->pendingStatements == 0);
	if (!DrainBatch(c))
		ReportShardError(c, NULL, "finishing a statement");
	if (c->xactDepth == 0)
		InjectFault("after-autocommit-batch");
}

/*
 * ShardExecuteCommand runs one command on a shard, in the current
 * transaction's remote transaction, and returns the first column of its
 * first row (or its command status when it returns no rows), palloc'd.
 */
char *
ShardExecuteCommand(int shardId, const char *sql)
{
	ShardConnection *c = GetShardConnection(shardId);
	PGresult   *res;
	char	   *value;

	ShardBeginBatch(c, false, true);
	ShardQueueStatement(c, sql, 0, NULL, NULL, NULL, NULL, false, false);
	ShardEndBatch(c);
	res = ShardNextResult(c);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		value = (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
			? pstrdup(PQgetvalue(res, 0, 0)) : NULL;
	else
		value = pstrdup(PQcmdStatus(res));
	PQclear(res);
	ShardFinishBatch(c);
	return value;
}

/*
 * CancelAndDrain brings a connection that was interrupted in the middle of
 * a batch back to idle: it cancels the running statement and reads up to
 * the batch's end.  Closes the connection if that fails.
 */
static void
CancelAndDrain(ShardConnection *c)
{
	PGcancel   *cancel = PQgetCancel(c->conn);
	char		errbuf[256];

	if (cancel)
	{
		PQcancel(cancel, errbuf, sizeof(errbuf));
		PQfreeCancel(cancel);
	}
	PG_TRY();
	{
		if (!DrainBatch(c))
			Disconnect(c);
	}
	PG_CATCH();
	{
		FlushErrorState();
		Disconnect(c);
	}
	PG_END_TRY();
}

/*
 * RunCleanupCommand runs a transaction-control command while the local
 * transaction is aborting; any failure closes the connection instead of
 * raising an error.
 */
static void
RunCleanupCommand(ShardConnection *c, const char *sql)
{
	PG_TRY();
	{
		PGresult   *res;
		bool		ok;

		if (!PQsendQuery(c->conn, sql))
			elog(ERROR, "could not send");
		Flush(c);
		res = NextCommandResult(c);
		ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
		if (res)
			PQclear(res);
		while ((res = GetResult(c)) != NULL)
			PQclear(res);
		if (!ok)
			Disconnect(c);
	}
	PG_CATCH();
	{
		FlushErrorState();
		Disconnect(c);
	}
	PG_END_TRY();
}

/*
 * SendCommand sends one transaction-control command on a connection.
 */
static void
SendCommand(ShardConnection *c, const char *sql, const char *what)
{
	if (!PQsendQuery(c->conn, sql))
		ReportShardError(c, NULL, what);
	Flush(c);
}

/*
 * ReadCommandResult reads the answer to SendCommand.  Returns true when it
 * succeeded; else false, with the failed result in *failed (NULL when the
 * connection broke), for the caller to report with ReportShardError.
 */
static bool
ReadCommandResult(ShardConnection *c, PGresult **failed)
{
	PGresult   *res = NextCommandResult(c);
	bool		ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;

	if (ok)
		PQclear(res);
	else
		*failed = res;
	while ((res = GetResult(c)) != NULL)
		PQclear(res);
	return ok;
}

/*
 * CommitAll ends every open remote transaction just before the local
 * commit.  When two or more shards were written, each written shard gets
 * PREPARE TRANSACTION (all at once) and, once all are prepared, the
 * transaction's commit records are inserted into shardroute.transaction, so
 * that they commit (or vanish) with the local transaction; COMMIT PREPARED
 * follows after the local commit.  Otherwise each shard gets COMMIT.
 * Errors, making the local transaction abort, if a shard fails.
 */
static void
CommitAll(void)
{
	HASH_SEQ_STATUS status;
	ShardConnection *c;
	int			writers = 0;
	bool		twoPhase;
	ShardConnection *failedConn = NULL;
	PGresult   *failedResult = NULL;
	const char *failedWhat = NULL;

	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
		if (c->conn && c->xactDepth > 0 && c->wrote)
			writers++;
	twoPhase = writers > 1 || (writers == 1 && XactWroteLocally);
	if (twoPhase)
		InjectFault("before-prepare");
	else if (writers > 0)
		FlushLocalWal();		/* the shard commits before the local commit */

	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
	{
		if (c->conn == NULL || c->xactDepth == 0)
			continue;
		if (twoPhase && c->wrote)
		{
			TwoPhaseGid(c->gid, c->key.shardId);
			SendCommand(c, psprintf("PREPARE TRANSACTION '%s'", c->gid), "preparing");
		}
		else
			SendCommand(c, "COMMIT", "committing");
	}
	/*
	 * Read every answer before raising any error, so that every part that
	 * did prepare is known (and rolled back by the abort that follows).
	 */
	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
	{
		PGresult   *result = NULL;
		bool		preparing = twoPhase && c->wrote;

		if (c->conn == NULL || c->xactDepth == 0)
			continue;
		c->xactDepth = 0;
		c->wrote = false;
		if (ReadCommandResult(c, &result))
			c->partPrepared = preparing;
		else if (failedConn == NULL)
		{
			failedConn = c;
			failedResult = result;
			failedWhat = preparing ? "preparing" : "committing";
		}
		else if (result)
			PQclear(result);
	}
	if (failedConn)
		ReportShardError(failedConn, failedResult, failedWhat);
	if (!twoPhase)
		return;

	InjectFault("after-prepare");
	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
		if (c->partPrepared)
		{
			TwoPhaseRecordCommit(c->gid);
			CountShard(c->key.shardId, COUNTER_TWO_PHASE, 1);
		}
	InjectFault("after-commit-record");
}

/*
 * FinishPrepared ends the prepared transactions after the local
 * transaction ended: COMMIT PREPARED (all at once) after a commit, ROLLBACK
 * PREPARED after an abort.  Nothing can fail the local transaction any
 * more: a shard that does not answer keeps its prepared transaction, which
 * recovery resolves from the commit records.
 */
static void
FinishPrepared(bool commit)
{
	HASH_SEQ_STATUS status;
	ShardConnection *c;

	if (commit)
		InjectFault("after-local-commit");
	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
	{
		if (!c->partPrepared)
			continue;
		PG_TRY();
		{
			SendCommand(c, psprintf("%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK",
									c->gid), "finishing a prepared transaction");
		}
		PG_CATCH();
		{
			FlushErrorState();
			c->partPrepared = false;
			Disconnect(c);
		}
		PG_END_TRY();
	}
	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
	{
		PGresult   *failed = NULL;
		volatile bool ok = false;

		if (!c->partPrepared)
			continue;
		c->partPrepared = false;
		PG_TRY();
		{
			ok = ReadCommandResult(c, &failed);
		}
		PG_CATCH();
		{
			FlushErrorState();
		}
		PG_END_TRY();
		/*
		 * A part that does not exist or is busy is being (or was) finished by
		 * recovery, which has the same commit record to go by.
		 */
		if (!ok && failed && PreparedPartTaken(failed))
		{
			PQclear(failed);
			ok = true;
		}
		if (!ok)
		{
			ereport(WARNING,
					(errmsg("could not %s prepared transaction \"%s\" on shard %d",
							commit ? "commit" : "roll back", c->gid, c->key.shardId),
					 failed ? errdetail_internal("%s", PQresultErrorMessage(failed)) : 0,
					 errhint("shardroute.recover_prepared() resolves it.")));
			if (failed)
				PQclear(failed);
			Disconnect(c);
		}
		if (commit)
			InjectFault("after-commit-prepared");
	}
}

/*
 * ShardXactCallback ends the remote transactions with the local one:
 * commit just before the local commit, rollback on abort.
 */
static void
ShardXactCallback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	ShardConnection *c;

	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		XactWroteLocally = false;
	if (ConnectionHash == NULL || !XactUsedShards)
		return;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			CommitAll();
			break;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that has used shards")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			HOLD_INTERRUPTS();
			FinishPrepared(true);
			RESUME_INTERRUPTS();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			FinishPrepared(false);
			hash_seq_init(&status, ConnectionHash);
			while ((c = hash_seq_search(&status)) != NULL)
			{
				if (c->conn == NULL)
					continue;
				if (c->inBatch)
					CancelAndDrain(c);
				if (c->conn && c->xactDepth > 0)
				{
					c->xactDepth = 0;
					c->wrote = false;
					ForgetSettings(c);
					RunCleanupCommand(c, "ROLLBACK");
				}
			}
			break;
		default:
			break;
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		XactUsedShards = false;
}

/*
 * ShardSubXactCallback releases or rolls back the remote savepoint of a
 * local subtransaction that used a shard.
 */
static void
ShardSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS status;
	ShardConnection *c;
	int			level = GetCurrentTransactionNestLevel();

	if (ConnectionHash == NULL || !XactUsedShards ||
		(event != SUBXACT_EVENT_PRE_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;

	hash_seq_init(&status, ConnectionHash);
	while ((c = hash_seq_search(&status)) != NULL)
	{
		char		sql[64];

		if (c->conn == NULL || c->xactDepth < level)
			continue;
		if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
		{
			snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT s%d", level);
			if (!PQsendQuery(c->conn, sql))
				ReportShardError(c, NULL, "releasing a savepoint");
			Flush(c);
			c->xactDepth = level - 1;
			{
				PGresult   *res = NextCommandResult(c);

				if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
				{
					hash_seq_term(&status);
					ReportShardError(c, res, "releasing a savepoint");
				}
				PQclear(res);
				while ((res = GetResult(c)) != NULL)
					PQclear(res);
			}
		}
		else
		{
			if (c->inBatch)
				CancelAndDrain(c);
			if (c->conn == NULL)
				continue;
			snprintf(sql, sizeof(sql),
					 "ROLLBACK TO SAVEPOINT s%d; RELEASE SAVEPOINT s%d",
					 level, level);
			c->xactDepth = level - 1;
			ForgetSettings(c);
			RunCleanupCommand(c, sql);
		}
	}
}

/*
 * ShardrouteExecutorRun counts statement nesting, which decides whether a
 * statement is top-level, and notes a write to the coordinator's tables.
 */
static void
ShardrouteExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
					  uint64 count, bool execute_once)
{
	/* shardroute's own plans for distributed tables have no result relation */
	if (queryDesc->plannedstmt->resultRelations != NIL)
		XactWroteLocally = true;
	NestingLevel++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		NestingLevel--;
	}
	PG_END_TRY();
}

/*
 * ShardrouteExecutorFinish counts nesting while AFTER triggers run.
 */
static void
ShardrouteExecutorFinish(QueryDesc *queryDesc)
{
	NestingLevel++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		NestingLevel--;
	}
	PG_END_TRY();
}

/*
 * ShardrouteProcessUtility counts nesting for utility commands (DO, CALL,
 * EXPLAIN ANALYZE, ...) that run statements themselves, and notes a
 * command that wrote WAL as a write to the coordinator's tables.
 */
static void
ShardrouteProcessUtility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	XLogRecPtr	walBefore = XactLastRecEnd;

	NestingLevel++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		NestingLevel--;
	}
	PG_END_TRY();
	/* DDL, COPY FROM and the like write the coordinator's tables */
	if (XactLastRecEnd != walBefore && IsTransactionState())
		XactWroteLocally = true;
}

/*
 * ConnectionInit registers the transaction callbacks, the invalidation
 * callbacks and the nesting hooks.  Called from _PG_init.
 */
void
ConnectionInit(void)
{
	RegisterXactCallback(ShardXactCallback, NULL);
	RegisterSubXactCallback(ShardSubXactCallback, NULL);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID,
								  InvalidateConnectionsCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID,
								  InvalidateConnectionsCallback, (Datum) 0);
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = ShardrouteExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ShardrouteExecutorFinish;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ShardrouteProcessUtility;
}
