-- shardroute install script: catalog, placement functions and the SQL API.
-- Everything is schema-qualified; functions run with search_path = pg_catalog.

\echo Use "CREATE EXTENSION shardroute CASCADE" to load this file. \quit

-- Catalog ------------------------------------------------------------------

-- The cluster's fixed number of hash slots, set once at creation.
CREATE TABLE shardroute.cluster (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    slot_count integer NOT NULL CHECK (slot_count >= 1024)
);
INSERT INTO shardroute.cluster (slot_count)
VALUES (COALESCE(pg_catalog.current_setting('shardroute.slot_count', true)::integer, 4096));

-- Shards: each a postgres_fdw foreign server.
CREATE TABLE shardroute.shard (
    shard_id integer PRIMARY KEY CHECK (shard_id >= 0),
    server_name name NOT NULL UNIQUE
);

-- The slot map: which shard owns each slot.
CREATE TABLE shardroute.slot (
    slot integer PRIMARY KEY,
    shard_id integer NOT NULL REFERENCES shardroute.shard
);
CREATE INDEX ON shardroute.slot (shard_id);

-- Distributed tables and their distribution column.
CREATE TABLE shardroute.distributed_table (
    relid regclass PRIMARY KEY,
    key_column name NOT NULL
);

-- The per-shard postgres_fdw foreign table of each distributed table.
CREATE TABLE shardroute.placement (
    relid regclass NOT NULL REFERENCES shardroute.distributed_table ON DELETE CASCADE,
    shard_id integer NOT NULL REFERENCES shardroute.shard,
    foreign_table regclass NOT NULL,
    PRIMARY KEY (relid, shard_id)
);

-- Commit records of two-phase commits: one row per prepared shard part,
-- present exactly when the coordinator's transaction committed.
CREATE TABLE shardroute.transaction (
    gid text PRIMARY KEY
);

SELECT pg_catalog.pg_extension_config_dump('shardroute.shard', '');
SELECT pg_catalog.pg_extension_config_dump('shardroute.slot', '');
SELECT pg_catalog.pg_extension_config_dump('shardroute.distributed_table', '');
SELECT pg_catalog.pg_extension_config_dump('shardroute.placement', '');

-- Every backend reads the catalog to route; nothing in it is secret.
GRANT USAGE ON SCHEMA shardroute TO PUBLIC;
GRANT SELECT ON shardroute.cluster, shardroute.shard, shardroute.slot,
    shardroute.distributed_table, shardroute.placement TO PUBLIC;

-- Per-shard foreign tables live here.
CREATE SCHEMA shardroute_shards;

-- Any change of the catalog invalidates routing in every backend.
CREATE FUNCTION shardroute.metadata_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'shardroute_metadata_changed';
CREATE TRIGGER metadata_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON shardroute.cluster FOR EACH STATEMENT EXECUTE FUNCTION shardroute.metadata_changed();
CREATE TRIGGER metadata_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON shardroute.shard FOR EACH STATEMENT EXECUTE FUNCTION shardroute.metadata_changed();
CREATE TRIGGER metadata_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON shardroute.slot FOR EACH STATEMENT EXECUTE FUNCTION shardroute.metadata_changed();
CREATE TRIGGER metadata_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON shardroute.distributed_table FOR EACH STATEMENT EXECUTE FUNCTION shardroute.metadata_changed();

-- Hashing -------------------------------------------------------------------

CREATE FUNCTION shardroute.slot_of(smallint) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_slot_of';
CREATE FUNCTION shardroute.slot_of(integer) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_slot_of';
CREATE FUNCTION shardroute.slot_of(bigint) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_slot_of';
CREATE FUNCTION shardroute.slot_of(text) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_slot_of';
CREATE FUNCTION shardroute.slot_of(uuid) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_slot_of';

CREATE FUNCTION shardroute.shard_of(smallint) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_shard_of';
CREATE FUNCTION shardroute.shard_of(integer) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_shard_of';
CREATE FUNCTION shardroute.shard_of(bigint) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_shard_of';
CREATE FUNCTION shardroute.shard_of(text) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_shard_of';
CREATE FUNCTION shardroute.shard_of(uuid) RETURNS integer
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'shardroute_shard_of';

-- Helpers ---------------------------------------------------------------------

-- The options of a libpq connection string or URL ("+driver" schemes allowed).
CREATE FUNCTION shardroute.parse_conninfo(conninfo text, OUT keyword text, OUT value text)
    RETURNS SETOF record
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'shardroute_parse_conninfo';

-- Runs one command on a shard in the current transaction.
CREATE FUNCTION shardroute.shard_execute(shard_id integer, command text) RETURNS text
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'shardroute_shard_execute';

-- The statements that create a table, as on the coordinator, on a shard.
CREATE FUNCTION shardroute.table_ddl(rel regclass) RETURNS text[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    nsp text;
    tbl text;
    cols text[] := '{}';
    stmts text[] := '{}';
    r record;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, tbl
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel;
    stmts := stmts || format('CREATE SCHEMA IF NOT EXISTS %I', nsp);

    -- sequences the table's defaults use (bigserial and friends)
    FOR r IN
        SELECT DISTINCT sn.nspname, s.relname
          FROM pg_depend d
          JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
          JOIN pg_class s ON d.refclassid = 'pg_class'::regclass AND d.refobjid = s.oid
          JOIN pg_namespace sn ON sn.oid = s.relnamespace
         WHERE ad.adrelid = rel AND s.relkind = 'S'
    LOOP
        stmts := stmts || format('CREATE SEQUENCE IF NOT EXISTS %I.%I', r.nspname, r.relname);
    END LOOP;

    FOR r IN
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ, a.attnotnull,
               a.attidentity, a.attgenerated, pg_get_expr(ad.adbin, ad.adrelid) AS def,
               CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS coll,
               CASE WHEN a.attcollation <> t.typcollation THEN con.nspname END AS collnsp
          FROM pg_attribute a
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
          LEFT JOIN pg_namespace con ON con.oid = co.collnamespace
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        cols := cols || concat_ws(' ', quote_ident(r.attname), r.typ,
            CASE WHEN r.coll IS NOT NULL THEN format('COLLATE %I.%I', r.collnsp, r.coll) END,
            CASE WHEN r.attnotnull THEN 'NOT NULL' END,
            CASE WHEN r.attgenerated = 's' THEN format('GENERATED ALWAYS AS (%s) STORED', r.def)
                 WHEN r.attidentity = 'a' THEN 'GENERATED ALWAYS AS IDENTITY'
                 WHEN r.attidentity = 'd' THEN 'GENERATED BY DEFAULT AS IDENTITY'
                 WHEN r.def IS NOT NULL THEN 'DEFAULT ' || r.def END);
    END LOOP;
    FOR r IN
        SELECT conname, pg_get_constraintdef(oid) AS def
          FROM pg_constraint
         WHERE conrelid = rel AND contype IN ('p', 'u', 'c', 'x')
         ORDER BY contype, conname
    LOOP
        cols := cols || format('CONSTRAINT %I %s', r.conname, r.def);
    END LOOP;
    stmts := stmts || format('CREATE TABLE %I.%I (%s)', nsp, tbl, array_to_string(cols, ', '));

    FOR r IN
        SELECT pg_get_indexdef(i.indexrelid) AS def
          FROM pg_index i
         WHERE i.indrelid = rel
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
         ORDER BY i.indexrelid
    LOOP
        stmts := stmts || r.def;
    END LOOP;
    RETURN stmts;
END
$$;

-- Creates a distributed table on one shard and its postgres_fdw foreign
-- table on the coordinator.  A table of that name already on the shard
-- (left by an earlier DROP TABLE, or made by hand) is used if it has the
-- same columns, in the same order, of the same types; otherwise this
-- errors, since rows would be read with the wrong types.
CREATE FUNCTION shardroute.create_placement(rel regclass, target_shard integer) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    -- a table's columns as "name type_schema.type(typmod)", the same text on
    -- any server whatever its search_path; {rel} is replaced by the table
    shape_query constant text := $q$
        SELECT pg_catalog.string_agg(pg_catalog.format('%I %I.%I(%s)', a.attname, tn.nspname,
                                                       t.typname, a.atttypmod),
                                     ', ' ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
          JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
         WHERE a.attrelid = {rel} AND a.attnum > 0 AND NOT a.attisdropped$q$;
    nsp text;
    tbl text;
    qualified text;
    srv name;
    ft text;
    stmt text;
    cols text;
    local_shape text;
    shard_shape text;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, tbl
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel;
    qualified := quote_ident(nsp) || '.' || quote_ident(tbl);
    SELECT server_name INTO srv FROM shardroute.shard WHERE shard_id = target_shard;

    IF shardroute.shard_execute(target_shard,
           format('SELECT pg_catalog.to_regclass(%L) IS NOT NULL', qualified)) = 'f' THEN
        FOREACH stmt IN ARRAY shardroute.table_ddl(rel) LOOP
            PERFORM shardroute.shard_execute(target_shard, stmt);
        END LOOP;
    ELSE
        EXECUTE replace(shape_query, '{rel}', rel::oid::text) INTO local_shape;
        shard_shape := shardroute.shard_execute(target_shard,
            replace(shape_query, '{rel}', format('pg_catalog.to_regclass(%L)', qualified)));
        IF shard_shape IS DISTINCT FROM local_shape THEN
            RAISE EXCEPTION 'table "%.%" on shard % has other columns than on the coordinator',
                            nsp, tbl, target_shard
                USING ERRCODE = 'duplicate_table',
                      DETAIL = format('The coordinator has (%s); shard %s has (%s).',
                                      local_shape, target_shard, shard_shape),
                      HINT = 'Drop or rename the table on the shard, or give it the same columns, then distribute the table again.';
        END IF;
    END IF;

    SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
      INTO cols
      FROM pg_attribute
     WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped;
    ft := format('%s_%s_%s', nsp, tbl, target_shard);
    EXECUTE format('CREATE FOREIGN TABLE shardroute_shards.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                   ft, cols, srv, nsp, tbl);
    INSERT INTO shardroute.placement (relid, shard_id, foreign_table)
    VALUES (rel, target_shard, format('shardroute_shards.%I', ft)::regclass);
END
$$;

-- SQL API -------------------------------------------------------------------

-- Registers an existing postgres_fdw server as the next shard.  The first
-- shards share the slots evenly; a shard added once tables are
-- distributed receives the tables but no slots.
CREATE FUNCTION shardroute.add_shard_server(server name) RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    fdw name;
    next_id integer;
    shard_ids integer[];
    nslots integer;
    rel regclass;
BEGIN
    SELECT w.fdwname INTO fdw
      FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
     WHERE s.srvname = server;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'server "%" does not exist', server
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw, or use shardroute.add_shard(conninfo).';
    END IF;
    IF fdw <> 'postgres_fdw' THEN
        RAISE EXCEPTION 'server "%" does not use postgres_fdw', server
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Shards are postgres_fdw servers.';
    END IF;
    LOCK TABLE shardroute.shard IN EXCLUSIVE MODE;
    IF EXISTS (SELECT 1 FROM shardroute.shard s WHERE s.server_name = server) THEN
        RAISE EXCEPTION 'server "%" is already a shard', server
            USING ERRCODE = 'duplicate_object';
    END IF;

    SELECT COALESCE(max(shard_id) + 1, 0) INTO next_id FROM shardroute.shard;
    INSERT INTO shardroute.shard (shard_id, server_name) VALUES (next_id, server);

    IF NOT EXISTS (SELECT 1 FROM shardroute.distributed_table) THEN
        SELECT array_agg(shard_id ORDER BY shard_id) INTO shard_ids FROM shardroute.shard;
        SELECT slot_count INTO nslots FROM shardroute.cluster;
        DELETE FROM shardroute.slot;
        INSERT INTO shardroute.slot (slot, shard_id)
        SELECT s, shard_ids[1 + (s::bigint * cardinality(shard_ids) / nslots)::integer]
          FROM generate_series(0, nslots - 1) s;
    ELSE
        FOR rel IN SELECT relid FROM shardroute.distributed_table LOOP
            PERFORM shardroute.create_placement(rel, next_id);
        END LOOP;
        RAISE NOTICE 'shard % owns no slots yet', next_id
            USING DETAIL = 'Tables are already distributed, so the slot map is left as it is.';
    END IF;
    PERFORM shardroute.log_topology();
    RETURN next_id;
END
$$;

-- Registers a shard from a libpq connection string or URL: a postgres_fdw
-- server with the connection options and a user mapping for the current
-- user with the credentials.
CREATE FUNCTION shardroute.add_shard(conninfo text) RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    next_id integer;
    srv text;
    server_opts text[] := '{}';
    mapping_opts text[] := '{}';
    r record;
BEGIN
    IF conninfo IS NULL THEN
        RAISE EXCEPTION 'shard connection string must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    FOR r IN SELECT * FROM shardroute.parse_conninfo(conninfo) LOOP
        IF r.keyword IN ('user', 'password') THEN
            mapping_opts := mapping_opts || format('%I %L', r.keyword, r.value);
        ELSE
            server_opts := server_opts || format('%I %L', r.keyword, r.value);
        END IF;
    END LOOP;

    LOCK TABLE shardroute.shard IN EXCLUSIVE MODE;
    SELECT COALESCE(max(shard_id) + 1, 0) INTO next_id FROM shardroute.shard;
    srv := 'shardroute_shard_' || next_id;
    EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw%s', srv,
                   CASE WHEN cardinality(server_opts) > 0
                        THEN format(' OPTIONS (%s)', array_to_string(server_opts, ', ')) ELSE '' END);
    EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I%s', srv,
                   CASE WHEN cardinality(mapping_opts) > 0
                        THEN format(' OPTIONS (%s)', array_to_string(mapping_opts, ', ')) ELSE '' END);
    RETURN shardroute.add_shard_server(srv::name);
END
$$;

-- Distributes a table by a key column: creates it on every shard, creates
-- the per-shard foreign tables and moves the coordinator's rows to their
-- shards.
CREATE FUNCTION shardroute.distribute_table(rel regclass, key_column name DEFAULT 'user_id')
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    kind "char";
    keytype regtype;
    r record;
    target_shard integer;
    tmp text;
    cols text;
BEGIN
    SELECT relkind INTO kind FROM pg_class WHERE oid = rel;
    IF kind <> 'r' THEN
        RAISE EXCEPTION 'cannot distribute "%"', rel
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Only ordinary tables can be distributed.';
    END IF;
    IF EXISTS (SELECT 1 FROM shardroute.distributed_table d WHERE d.relid = rel) THEN
        RAISE EXCEPTION 'table "%" is already distributed', rel
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = rel OR inhparent = rel) THEN
        RAISE EXCEPTION 'cannot distribute table "%" because it takes part in inheritance', rel
            USING ERRCODE = 'feature_not_supported';
    END IF;
    SELECT atttypid::regtype INTO keytype
      FROM pg_attribute
     WHERE attrelid = rel AND attname = key_column AND attnum > 0 AND NOT attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', key_column, rel
            USING ERRCODE = 'undefined_column',
                  HINT = 'Name the distribution column as the second argument.';
    END IF;
    IF keytype NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype,
                       'text'::regtype, 'character varying'::regtype, 'uuid'::regtype) THEN
        RAISE EXCEPTION 'column "%" of type % cannot be a distribution column', key_column, keytype
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Distribution columns are smallint, integer, bigint, text, varchar or uuid.';
    END IF;
    FOR r IN
        SELECT c.conname, c.contype
          FROM pg_constraint c
         WHERE c.conrelid = rel AND c.contype IN ('p', 'u', 'x')
           AND NOT (SELECT attnum FROM pg_attribute
                     WHERE attrelid = rel AND attname = key_column) = ANY (c.conkey)
    LOOP
        RAISE EXCEPTION 'cannot distribute table "%" by "%"', rel, key_column
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = format('%s "%s" does not include the distribution column, so each shard could not enforce it.',
                                  CASE r.contype WHEN 'p' THEN 'Primary key'
                                                 WHEN 'u' THEN 'Unique constraint'
                                                 ELSE 'Exclusion constraint' END, r.conname),
                  HINT = format('Add "%s" to the constraint.', key_column);
    END LOOP;
    FOR r IN
        SELECT i.indexrelid::regclass AS idx
          FROM pg_index i
         WHERE i.indrelid = rel AND i.indisunique
           AND NOT (SELECT attnum FROM pg_attribute
                     WHERE attrelid = rel AND attname = key_column) = ANY (i.indkey::int2[])
    LOOP
        RAISE EXCEPTION 'cannot distribute table "%" by "%"', rel, key_column
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = format('Unique index "%s" does not include the distribution column, so each shard could not enforce it.', r.idx),
                  HINT = format('Add "%s" to the index.', key_column);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_constraint
                WHERE contype = 'f' AND (conrelid = rel OR confrelid = rel)) THEN
        RAISE EXCEPTION 'cannot distribute table "%" because it has foreign keys', rel
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Drop the foreign keys first; co-located tables keep each user''s rows together on one shard.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM shardroute.shard) THEN
        RAISE EXCEPTION 'no shards are registered'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Register shards with shardroute.add_shard(conninfo) first.';
    END IF;

    EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', rel);
    -- keep the coordinator's rows aside, mark the table distributed, create
    -- it on every shard, then insert the rows through the router
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute
     WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    tmp := format('shardroute_move_%s', rel::oid);
    EXECUTE format('CREATE TEMPORARY TABLE %I ON COMMIT DROP AS SELECT %s FROM ONLY %s', tmp, cols, rel);
    EXECUTE format('TRUNCATE ONLY %s', rel);
    INSERT INTO shardroute.distributed_table (relid, key_column) VALUES (rel, key_column);
    FOR target_shard IN SELECT shard_id FROM shardroute.shard ORDER BY shard_id LOOP
        PERFORM shardroute.create_placement(rel, target_shard);
    END LOOP;
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.%I', rel, cols, cols, tmp);
    EXECUTE format('DROP TABLE pg_temp.%I', tmp);
END
$$;

-- Shards, their servers' addresses and the slots they own.
CREATE VIEW shardroute.shards AS
SELECT s.shard_id,
       s.server_name AS server,
       (SELECT o.option_value FROM pg_catalog.pg_options_to_table(fs.srvoptions) o
         WHERE o.option_name = 'host') AS host,
       COALESCE((SELECT o.option_value FROM pg_catalog.pg_options_to_table(fs.srvoptions) o
                  WHERE o.option_name = 'port')::integer, 5432) AS port,
       (SELECT o.option_value FROM pg_catalog.pg_options_to_table(fs.srvoptions) o
         WHERE o.option_name = 'dbname') AS dbname,
       (SELECT pg_catalog.count(*) FROM shardroute.slot sl
         WHERE sl.shard_id OPERATOR(pg_catalog.=) s.shard_id)::integer AS slots
  FROM shardroute.shard s
  LEFT JOIN pg_catalog.pg_foreign_server fs ON fs.srvname OPERATOR(pg_catalog.=) s.server_name;
GRANT SELECT ON shardroute.shards TO PUBLIC;

-- The line the coordinator logs when it loads or changes its topology, in
-- the words operators grep for: "Initializing 3-way database sharding".
CREATE FUNCTION shardroute.topology_line() RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('Initializing %s-way database sharding (%s)', count(*),
                  COALESCE(string_agg(format('shard %s: %s:%s/%s, %s slots', shard_id,
                                             COALESCE(host, 'local'), port, dbname, slots),
                                      '; ' ORDER BY shard_id), 'no shards'))
      FROM shardroute.shards
$$;

-- The changes that turn one set of "name=value" options into another, as
-- the inside of ALTER SERVER/USER MAPPING ... OPTIONS (...), or NULL when
-- they are the same.
CREATE FUNCTION shardroute.options_change(old_options text[], new_options text[]) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    WITH o AS (SELECT split_part(x, '=', 1) AS k, substr(x, strpos(x, '=') + 1) AS v
                 FROM unnest(COALESCE(old_options, '{}')) x),
         n AS (SELECT split_part(x, '=', 1) AS k, substr(x, strpos(x, '=') + 1) AS v
                 FROM unnest(COALESCE(new_options, '{}')) x)
    SELECT string_agg(CASE WHEN o.k IS NULL THEN format('ADD %I %L', n.k, n.v)
                           WHEN n.k IS NULL THEN format('DROP %I', o.k)
                           ELSE format('SET %I %L', n.k, n.v) END, ', ' ORDER BY COALESCE(n.k, o.k))
      FROM o FULL JOIN n ON o.k = n.k
     WHERE o.v IS DISTINCT FROM n.v
$$;

-- Logs topology_line() (without the statement, which may hold a password).
CREATE FUNCTION shardroute.log_topology() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'shardroute_log_topology';

-- Registers shard N from a connection string or URL, idempotently: the
-- next shard is added; an existing shard whose connection options or
-- credentials differ has its server and user mapping updated; otherwise
-- nothing changes.  Returns 'added', 'updated' or 'unchanged'.
CREATE FUNCTION shardroute.register_shard(shard_number integer, conninfo text) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    srv name;
    next_id integer;
    server_opts text[];
    mapping_opts text[];
    change text;
    result text := 'unchanged';
BEGIN
    IF shard_number IS NULL OR conninfo IS NULL THEN
        RAISE EXCEPTION 'shard number and connection string must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT array_agg(format('%s=%s', keyword, value) ORDER BY keyword)
               FILTER (WHERE keyword NOT IN ('user', 'password')),
           array_agg(format('%s=%s', keyword, value) ORDER BY keyword)
               FILTER (WHERE keyword IN ('user', 'password'))
      INTO server_opts, mapping_opts
      FROM shardroute.parse_conninfo(conninfo);

    LOCK TABLE shardroute.shard IN EXCLUSIVE MODE;
    SELECT server_name INTO srv FROM shardroute.shard WHERE shard_id = shard_number;
    IF NOT FOUND THEN
        SELECT COALESCE(max(shard_id) + 1, 0) INTO next_id FROM shardroute.shard;
        IF shard_number <> next_id THEN
            RAISE EXCEPTION 'cannot register shard % before shard %', shard_number, next_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Shards are numbered from 0 without gaps.';
        END IF;
        PERFORM shardroute.add_shard(conninfo);
        RETURN 'added';
    END IF;

    change := shardroute.options_change(
        (SELECT srvoptions FROM pg_foreign_server WHERE srvname = srv), server_opts);
    IF change IS NOT NULL THEN
        EXECUTE format('ALTER SERVER %I OPTIONS (%s)', srv, change);
        result := 'updated';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_user_mappings WHERE srvname = srv AND usename = current_user) THEN
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I', srv);
    END IF;
    change := shardroute.options_change(
        (SELECT umoptions FROM pg_user_mappings WHERE srvname = srv AND usename = current_user),
        mapping_opts);
    IF change IS NOT NULL THEN
        EXECUTE format('ALTER USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (%s)', srv, change);
        result := 'updated';
    END IF;
    IF result = 'updated' THEN
        PERFORM shardroute.log_topology();
    END IF;
    RETURN result;
END
$$;

-- Dropping a distributed table forgets its metadata and drops its
-- per-shard foreign tables on the coordinator (the shards keep their tables).
CREATE FUNCTION shardroute.forget_dropped_tables() RETURNS event_trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    ft regclass;
BEGIN
    FOR ft IN
        SELECT p.foreign_table
          FROM shardroute.placement p
          JOIN pg_event_trigger_dropped_objects() o
            ON o.classid = 'pg_class'::regclass AND o.objid = p.relid::oid
    LOOP
        EXECUTE format('DROP FOREIGN TABLE IF EXISTS %s', ft);
    END LOOP;
    DELETE FROM shardroute.distributed_table d
     USING pg_event_trigger_dropped_objects() o
     WHERE o.classid = 'pg_class'::regclass AND o.objid = d.relid::oid;
END
$$;
CREATE EVENT TRIGGER shardroute_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION shardroute.forget_dropped_tables();

-- DBA toolkit ----------------------------------------------------------------

-- Runs one command on every shard at once; returns each shard's first value.
CREATE FUNCTION shardroute.run_on_shards(command text, OUT shard_id integer, OUT value text)
    RETURNS SETOF record
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'shardroute_run_on_shards';

-- The schema-qualified name of a distributed table, and its key column and
-- type; errors if the table is not distributed.
CREATE FUNCTION shardroute.distributed_name(rel regclass, OUT qualified text,
                                            OUT key_column name, OUT key_type regtype)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    SELECT format('%I.%I', n.nspname, c.relname), d.key_column, a.atttypid::regtype
      INTO qualified, key_column, key_type
      FROM shardroute.distributed_table d
      JOIN pg_class c ON c.oid = d.relid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = d.relid AND a.attname = d.key_column
     WHERE d.relid = rel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%" is not distributed', rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Distribute it with shardroute.distribute_table().';
    END IF;
END
$$;

-- Rows per shard, counted on the shards at once (no rows travel), with each
-- shard's share, its deviation from the mean and the slots it owns.
CREATE FUNCTION shardroute.distribution(rel regclass)
    RETURNS TABLE (shard_id integer, rows bigint, percent numeric,
                   deviation_percent numeric, slots integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    qualified text := (shardroute.distributed_name(rel)).qualified;
BEGIN
    RETURN QUERY
    WITH counts AS (
        SELECT r.shard_id, r.value::bigint AS n
          FROM shardroute.run_on_shards(format('SELECT count(*) FROM %s', qualified)) r
    ), totals AS (
        SELECT sum(n) AS total, avg(n) AS mean FROM counts
    )
    SELECT c.shard_id, c.n,
           round(100.0 * c.n / NULLIF(t.total, 0), 2),
           round(100.0 * (c.n - t.mean) / NULLIF(t.mean, 0), 2),
           (SELECT count(*)::integer FROM shardroute.slot sl WHERE sl.shard_id = c.shard_id)
      FROM counts c, totals t
     ORDER BY c.shard_id;
END
$$;

-- Rows on each shard whose key belongs to another shard (there must be
-- none), with up to ten of their keys.  Each shard sends its keys with a
-- row count per key.
CREATE FUNCTION shardroute.verify_placement(rel regclass)
    RETURNS TABLE (shard_id integer, misplaced_rows bigint, sample_keys text[])
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    t record := shardroute.distributed_name(rel);
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT r.shard_id,
               COALESCE(sum((e->>1)::bigint)
                   FILTER (WHERE shardroute.shard_of((e->>0)::%1$s) IS DISTINCT FROM r.shard_id), 0)::bigint,
               COALESCE((array_agg(e->>0 ORDER BY e->>0)
                   FILTER (WHERE shardroute.shard_of((e->>0)::%1$s) IS DISTINCT FROM r.shard_id))[1:10],
                   '{}')
          FROM shardroute.run_on_shards($1) r
          LEFT JOIN LATERAL json_array_elements(r.value::json) e ON true
         GROUP BY r.shard_id
         ORDER BY r.shard_id$q$, t.key_type)
    USING format('SELECT json_agg(json_build_array(%1$I, n)) FROM (SELECT %1$I, count(*) AS n FROM %2$s GROUP BY 1) s',
                 t.key_column, t.qualified);
END
$$;

-- Each shard's answer to a new connection and one query.
CREATE FUNCTION shardroute.shard_health(OUT shard_id integer, OUT reachable boolean,
                                        OUT latency_ms numeric, OUT server_version text,
                                        OUT max_prepared_transactions integer,
                                        OUT in_doubt_transactions bigint, OUT error text)
    RETURNS SETOF record
    LANGUAGE c AS 'MODULE_PATHNAME', 'shardroute_health';

-- pg_isready for every shard in one call: reachable or not, round trip,
-- version, two-phase commit capacity, in-doubt transactions, the error.
CREATE FUNCTION shardroute.health()
    RETURNS TABLE (shard_id integer, server name, host text, port integer, reachable boolean,
                   latency_ms numeric, server_version text, max_prepared_transactions integer,
                   in_doubt_transactions bigint, error text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT h.shard_id, s.server, s.host, s.port, h.reachable, h.latency_ms, h.server_version,
           h.max_prepared_transactions, h.in_doubt_transactions, h.error
      FROM shardroute.shard_health() h
      JOIN shardroute.shards s ON s.shard_id OPERATOR(pg_catalog.=) h.shard_id
     ORDER BY h.shard_id
$$;

-- Per-shard counters since the last reset, in the style of pg_stat_*.
CREATE FUNCTION shardroute.stat_shards_counters(OUT shard_id integer, OUT statements bigint,
                                                OUT rows bigint, OUT errors bigint,
                                                OUT fanouts bigint, OUT two_phase_commits bigint,
                                                OUT stats_reset timestamptz)
    RETURNS SETOF record
    LANGUAGE c AS 'MODULE_PATHNAME', 'shardroute_stat_shards';
CREATE VIEW shardroute.stat_shards AS
    SELECT * FROM shardroute.stat_shards_counters();
CREATE FUNCTION shardroute.stat_shards_reset() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'shardroute_stat_shards_reset';

-- The shards a statement would run on, from its plan, without running it
-- (NULL for an INSERT, whose rows each go to their own key's shard).
CREATE FUNCTION shardroute.shards_for(statement text) RETURNS integer[]
    LANGUAGE plpgsql AS $$
-- runs with the caller's search_path, so that the statement's names resolve
-- as they would when it runs
DECLARE
    plan jsonb;
    pinned integer[];
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON, COSTS OFF) ' OPERATOR(pg_catalog.||) statement INTO plan;
    IF pg_catalog.jsonb_path_exists(plan, 'strict $.**."Custom Plan Provider" ? (@ == "ShardrouteInsert")') THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.jsonb_path_exists(plan, 'strict $.** ? (@."Custom Plan Provider" == "ShardrouteScan" && !exists(@."Shard"))') THEN
        RETURN (SELECT pg_catalog.array_agg(s.shard_id ORDER BY s.shard_id) FROM shardroute.shard s);
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT v::text::integer ORDER BY v::text::integer) INTO pinned
      FROM pg_catalog.jsonb_path_query(plan, 'strict $.**."Shard"') v
     WHERE pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.=) 'number';
    RETURN COALESCE(pinned, '{}');
END
$$;

-- Resolves in-doubt prepared transactions on every shard now: commits those
-- whose coordinator transaction committed, rolls back the others.
CREATE FUNCTION shardroute.recover_prepared(OUT shard_id integer, OUT gid text, OUT action text)
    RETURNS SETOF record
    LANGUAGE c AS 'MODULE_PATHNAME', 'shardroute_recover_prepared';

-- Roles for the people who run the cluster: shardroute_admin may change it,
-- shardroute_monitor may look at it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'shardroute_monitor') THEN
        CREATE ROLE shardroute_monitor NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'shardroute_admin') THEN
        CREATE ROLE shardroute_admin NOLOGIN;
    END IF;
END
$$;

-- Administration is not for PUBLIC.
REVOKE ALL ON FUNCTION shardroute.add_shard(text), shardroute.add_shard_server(name),
    shardroute.distribute_table(regclass, name), shardroute.shard_execute(integer, text),
    shardroute.create_placement(regclass, integer), shardroute.table_ddl(regclass),
    shardroute.parse_conninfo(text), shardroute.run_on_shards(text),
    shardroute.distributed_name(regclass), shardroute.distribution(regclass),
    shardroute.verify_placement(regclass), shardroute.shard_health(), shardroute.health(),
    shardroute.register_shard(integer, text), shardroute.stat_shards_counters(),
    shardroute.stat_shards_reset(), shardroute.shards_for(text), shardroute.topology_line(),
    shardroute.recover_prepared(), shardroute.log_topology()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shardroute.log_topology() TO shardroute_admin;
GRANT EXECUTE ON FUNCTION shardroute.recover_prepared() TO shardroute_admin;
GRANT EXECUTE ON FUNCTION shardroute.topology_line() TO shardroute_admin, shardroute_monitor;
GRANT EXECUTE ON FUNCTION shardroute.shards_for(text) TO shardroute_admin, shardroute_monitor;
REVOKE ALL ON shardroute.stat_shards FROM PUBLIC;
GRANT SELECT ON shardroute.stat_shards TO shardroute_admin, shardroute_monitor;
GRANT EXECUTE ON FUNCTION shardroute.stat_shards_counters() TO shardroute_admin, shardroute_monitor;
GRANT EXECUTE ON FUNCTION shardroute.stat_shards_reset() TO shardroute_admin;
GRANT EXECUTE ON FUNCTION shardroute.add_shard(text), shardroute.add_shard_server(name),
    shardroute.distribute_table(regclass, name), shardroute.shard_execute(integer, text),
    shardroute.run_on_shards(text), shardroute.register_shard(integer, text),
    shardroute.parse_conninfo(text), shardroute.table_ddl(regclass),
    shardroute.create_placement(regclass, integer), shardroute.distributed_name(regclass)
    TO shardroute_admin;
GRANT EXECUTE ON FUNCTION shardroute.distribution(regclass), shardroute.verify_placement(regclass),
    shardroute.health()
    TO shardroute_admin, shardroute_monitor;
-- what the administration functions do in the caller's name
GRANT INSERT, UPDATE, DELETE ON shardroute.shard, shardroute.slot,
    shardroute.distributed_table, shardroute.placement TO shardroute_admin;
GRANT USAGE, CREATE ON SCHEMA shardroute_shards TO shardroute_admin;
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO shardroute_admin;
