-- Retention (`amc retention`, see Docs/retention.md): click_events becomes RANGE-partitioned by event_time, one
-- partition per calendar month (UTC) plus a DEFAULT partition for anything outside the created ranges, so old events
-- leave by dropping whole partitions instead of row-by-row deletes; and every retention run is recorded in the
-- append-only retention_runs.
--
-- An existing deployment keeps every row: the old table is renamed, the partitioned one created with the same
-- columns, a partition created for every month the old rows fall in (and the next three), the rows copied with their
-- ingested_at and change_xid (the learner's watermarks compare change_xid, so it must not change), the old table
-- dropped. All inside this migration's transaction; ingest must be stopped while it runs (it takes the old table's
-- lock for the copy).

-- ---------------------------------------------------------------------------------------------------------
-- The old table steps aside, with its constraint and index names.
ALTER TABLE click_events RENAME TO click_events_unpartitioned;
ALTER INDEX click_events_pkey RENAME TO click_events_unpartitioned_pkey;
ALTER INDEX click_events_pair_idx RENAME TO click_events_unpartitioned_pair_idx;
ALTER INDEX click_events_change_xid_idx RENAME TO click_events_unpartitioned_change_xid_idx;

-- Every valid click message, once. A unique constraint on a partitioned table must include the partition key, so
-- the key is the Kafka position plus event_time. event_time is a function of the message (its own `ts`, else the
-- Kafka timestamp, which brokers always set), so a redelivered message has the same key and still collides; ingest's
-- exactly-once rests on ingest_offsets in the same transaction anyway, and dead-letter replay checks the position
-- explicitly (Docs/retention.md).
CREATE TABLE click_events (
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    query         text        NOT NULL,
    image         text        NOT NULL,
    clicks        integer     NOT NULL CHECK (clicks >= 1),
    position      integer     CHECK (position >= 0),
    event_time    timestamptz NOT NULL,
    session       text,
    impressions   text[],
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    change_xid    xid8        NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (topic, partition, "offset", event_time)
) PARTITION BY RANGE (event_time);
-- Provenance look-ups for `amc audit pair QUERY IMAGE`, and the learner's "changed since the watermark" range scan
-- (both partitioned indexes: every partition gets its own).
CREATE INDEX click_events_pair_idx ON click_events (query, image);
CREATE INDEX click_events_change_xid_idx ON click_events (change_xid);

-- Catches events outside every monthly range (very old or far-future times). `amc retention` moves its rows into
-- their monthly partitions on every run, so only whole partitions are ever removed.
CREATE TABLE click_events_default PARTITION OF click_events DEFAULT;

-- ---------------------------------------------------------------------------------------------------------
-- The partition of the calendar month (UTC) holding `month_of`, named click_events_pYYYY_MM.
CREATE FUNCTION amc_click_event_partition_name(month_of timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN 'click_events_p' || to_char(month_of AT TIME ZONE 'UTC', 'YYYY_MM');

-- Creates the monthly partition holding `month_of` unless it exists; returns whether it created one. Rows of that
-- month already in the DEFAULT partition move into the new partition (PostgreSQL refuses to attach a range that
-- rows in the default partition belong to): the partition is built as a plain table, the rows moved into it with
-- every column (change_xid included), then attached — all in the caller's transaction.
CREATE FUNCTION amc_create_click_event_partition(month_of timestamptz) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    -- Month arithmetic in UTC (timestamptz + interval would follow the session's time zone and its DST shifts).
    month_start timestamp   := date_trunc('month', month_of AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    name        text        := amc_click_event_partition_name(month_of);
BEGIN
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE click_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    -- The partition constraint as a CHECK, so ATTACH need not scan the new partition to validate it.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (event_time >= %L AND event_time < %L)',
                   name, name || '_range', lower_bound, upper_bound);
    EXECUTE format(
        'WITH moved AS (DELETE FROM click_events_default WHERE event_time >= %L AND event_time < %L RETURNING *) '
        'INSERT INTO %I (topic, partition, "offset", query, image, clicks, position, event_time, session, '
        '                impressions, ingested_at, change_xid) '
        'SELECT topic, partition, "offset", query, image, clicks, position, event_time, session, impressions, '
        '       ingested_at, change_xid FROM moved',
        lower_bound, upper_bound, name);
    EXECUTE format('ALTER TABLE click_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, lower_bound, upper_bound);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_range');
    RETURN true;
END;
$$;

-- Creates the missing monthly partitions for `months` months starting with the month holding `from_time`; returns
-- the names it created. `amc retention` calls it for the months ahead so new events never land in DEFAULT.
CREATE FUNCTION amc_ensure_click_event_partitions(from_time timestamptz, months integer) RETURNS SETOF text
    LANGUAGE plpgsql AS $$
DECLARE
    month timestamp;
BEGIN
    FOR month IN SELECT generate_series(date_trunc('month', from_time AT TIME ZONE 'UTC'),
                                        date_trunc('month', from_time AT TIME ZONE 'UTC')
                                            + (months - 1) * interval '1 month',
                                        interval '1 month')
    LOOP
        IF amc_create_click_event_partition(month AT TIME ZONE 'UTC') THEN
            RETURN NEXT amc_click_event_partition_name(month AT TIME ZONE 'UTC');
        END IF;
    END LOOP;
END;
$$;

-- Moves every row of the DEFAULT partition into its monthly partition (creating those); returns the names it
-- created. Afterwards the DEFAULT partition is empty.
CREATE FUNCTION amc_drain_click_events_default() RETURNS SETOF text
    LANGUAGE plpgsql AS $$
DECLARE
    month timestamptz;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', event_time, 'UTC') FROM click_events_default ORDER BY 1 LOOP
        IF amc_create_click_event_partition(month) THEN
            RETURN NEXT amc_click_event_partition_name(month);
        END IF;
    END LOOP;
END;
$$;

-- The monthly partitions of click_events with their ranges [range_start, range_end), oldest first (DEFAULT excluded).
CREATE FUNCTION amc_click_event_partitions() RETURNS TABLE (name text, range_start timestamptz, range_end timestamptz)
    LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)') AS b
    WHERE i.inhparent = 'click_events'::regclass AND b IS NOT NULL
    ORDER BY 2
$$;

-- Removes one whole monthly partition (DETACH, then DROP) and returns how many events it held. Refuses the DEFAULT
-- partition and anything that is not a partition of click_events. Only `amc retention` calls it, after deciding
-- the partition's whole range is older than the cutoff.
CREATE FUNCTION amc_drop_click_event_partition(partition_name text) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    events bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM amc_click_event_partitions() WHERE name = partition_name) THEN
        RAISE EXCEPTION '% is not a monthly partition of click_events', partition_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', partition_name) INTO events;
    EXECUTE format('ALTER TABLE click_events DETACH PARTITION %I', partition_name);
    EXECUTE format('DROP TABLE %I', partition_name);
    RETURN events;
END;
$$;

-- ---------------------------------------------------------------------------------------------------------
-- The existing rows, each with its ingested_at and change_xid.
SELECT amc_create_click_event_partition(month)
FROM (SELECT DISTINCT date_trunc('month', event_time, 'UTC') AS month FROM click_events_unpartitioned) AS months;
-- This month and the next three (`amc retention --months-ahead 3` keeps that many ahead).
SELECT amc_ensure_click_event_partitions(now(), 4);

INSERT INTO click_events (topic, partition, "offset", query, image, clicks, position, event_time, session,
                          impressions, ingested_at, change_xid)
SELECT topic, partition, "offset", query, image, clicks, position, event_time, session, impressions, ingested_at,
       change_xid
FROM click_events_unpartitioned;

DROP TABLE click_events_unpartitioned;

-- ---------------------------------------------------------------------------------------------------------
-- Every `amc retention` run that changed something or could have (dry runs are not recorded): append-only.
CREATE TABLE retention_runs (
    id                    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor                 text        NOT NULL CHECK (actor <> ''),
    -- `--keep` as given (e.g. '180d') and the time it asked for: now − keep.
    keep                  text        NOT NULL,
    requested_cutoff      timestamptz NOT NULL,
    -- The cutoff applied: the earlier of requested_cutoff and the protected boundary. Partitions whose whole range
    -- ends at or before it were dropped.
    cutoff                timestamptz NOT NULL,
    -- The earliest event time still needed for audit and the version whose window set it, in words why (all NULL
    -- when no version needs a stored event, e.g. before the first activation).
    protected_from        timestamptz,
    protected_by_version  bigint      REFERENCES model_versions (version),
    protected_reason      text,
    partitions_created    text[]      NOT NULL,
    partitions_dropped    text[]      NOT NULL,
    events_removed        bigint      NOT NULL CHECK (events_removed >= 0),
    -- The end of the newest range dropped (events before it are gone); NULL when nothing was dropped.
    removed_before        timestamptz,
    at                    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TRIGGER retention_runs_append_only BEFORE UPDATE OR DELETE ON retention_runs
    FOR EACH ROW EXECUTE FUNCTION amc_refuse_change();
CREATE TRIGGER retention_runs_no_truncate BEFORE TRUNCATE ON retention_runs
    FOR EACH STATEMENT EXECUTE FUNCTION amc_refuse_change();
