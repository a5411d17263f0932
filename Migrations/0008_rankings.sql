-- Attribution (Docs/online.md): every ranking a scoring worker returns is recorded in `rankings` under the
-- `ranking_id` of its response, and a JSON click event may name that id (`"ranking"`, design §3), stored with the
-- event in the new nullable column click_events.ranking. A click is attributed by joining the two (the view
-- click_attributions): which version — and, for an interleaved ranking, which team — put the clicked image at which
-- position. The join happens on read: a worker writes its rankings in batches a moment after answering, so a click
-- may land before its ranking does, and an id that matches no ranking (never recorded, dropped by a full queue,
-- removed by retention, or minted by another system) leaves the click an ordinary, unattributed click.
--
-- Adding a nullable column without a default rewrites no partition; every monthly partition and DEFAULT get it.

-- ---------------------------------------------------------------------------------------------------------
-- One row per ranking returned by `POST /v1/score`, written by the worker that returned it. The id is a UUID in
-- version 7's layout (48-bit Unix milliseconds, then random bits): time-ordered, so new rows land at the right edge
-- of the primary key's B-tree like an identity column, and 74 random bits make ids impractical to guess.
CREATE TABLE rankings (
    id            uuid        PRIMARY KEY,
    -- When the worker answered (its clock).
    served_at     timestamptz NOT NULL,
    model_version bigint      NOT NULL REFERENCES model_versions (version),
    -- The query as normalised for scoring (design §3), and the image keys returned, best first (after `top`).
    query         text        NOT NULL,
    images        text[]      NOT NULL,
    -- Team of each position under interleaving (NULL for a ranking of one version): teams[i] ranked images[i].
    teams         text[]      CHECK (teams IS NULL OR cardinality(teams) = cardinality(images)),
    -- The online experiment (shadow scoring, interleaving) the ranking belongs to; NULL for ordinary traffic.
    experiment    bigint,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
-- Retention (`amc retention`) removes rankings served before its cutoff; rows arrive in served_at order, so a BRIN
-- index (a few pages) finds them.
CREATE INDEX rankings_served_at_idx ON rankings USING brin (served_at);

COMMENT ON TABLE rankings IS 'Rankings returned by POST /v1/score, by ranking_id (Docs/online.md).';

-- The ranking id a click event names, in stored form. `"ranking"` is any string to ingest (another system's id is
-- not an error), so a value that is not a UUID is NULL here and matches no ranking.
CREATE FUNCTION amc_ranking_id(ranking text) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN ranking ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN ranking::uuid END;

ALTER TABLE click_events ADD COLUMN ranking text;
COMMENT ON COLUMN click_events.ranking IS
    'The ranking_id of the scoring response the click came from (JSON events only); see click_attributions.';

-- Every click event that names a ranking, with what that ranking says about the clicked image: the version that
-- produced it, the position (zero-based) and team the image had, the experiment, and when it was served.
-- `attributed` is false for an id that matches no recorded ranking; ranked_position is NULL when the ranking did
-- not contain the clicked image.
CREATE VIEW click_attributions AS
SELECT e.topic, e.partition, e."offset", e.event_time, e.query, e.image, e.clicks, e.position, e.ranking,
       r.id IS NOT NULL                                   AS attributed,
       r.model_version,
       r.served_at,
       array_position(r.images, e.image) - 1             AS ranked_position,
       r.teams[array_position(r.images, e.image)]        AS team,
       r.experiment
FROM click_events e
LEFT JOIN rankings r ON r.id = amc_ranking_id(e.ranking)
WHERE e.ranking IS NOT NULL;

-- ---------------------------------------------------------------------------------------------------------
-- Partitions keep the new column when rows move out of DEFAULT: 0004's function with `ranking` in its column lists.
CREATE OR REPLACE FUNCTION amc_create_click_event_partition(month_of timestamptz) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp   := date_trunc('month', month_of AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    name        text        := amc_click_event_partition_name(month_of);
BEGIN
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE click_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (event_time >= %L AND event_time < %L)',
                   name, name || '_range', lower_bound, upper_bound);
    EXECUTE format(
        'WITH moved AS (DELETE FROM click_events_default WHERE event_time >= %L AND event_time < %L RETURNING *) '
        'INSERT INTO %I (topic, partition, "offset", query, image, clicks, position, event_time, session, '
        '                impressions, ingested_at, change_xid, ranking) '
        'SELECT topic, partition, "offset", query, image, clicks, position, event_time, session, impressions, '
        '       ingested_at, change_xid, ranking FROM moved',
        lower_bound, upper_bound, name);
    EXECUTE format('ALTER TABLE click_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, lower_bound, upper_bound);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_range');
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION amc_create_click_event_partition(timestamptz), amc_ranking_id(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION amc_ranking_id(text) TO amc_learner, amc_operator;

-- ---------------------------------------------------------------------------------------------------------
-- The grant matrix of 0007 with: the ranking column for ingest and dead-letter replay; rankings appended by
-- workers; rankings and attributions read by the learner (operators read every table already).
CREATE OR REPLACE FUNCTION amc_grant_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    GRANT USAGE ON SCHEMA public TO amc_ingest, amc_learner, amc_serve, amc_operator;

    -- The derived label (view relevance_labels, and audit's own queries) calls these with the reader's rights.
    GRANT EXECUTE ON FUNCTION amc_relevance(bigint, bigint, bigint), amc_grade(double precision)
        TO amc_learner, amc_operator;

    -- amc_ingest ------------------------------------------------------------------------------------------
    -- Events by COPY: the columns a message carries; ingested_at and change_xid (the learner's watermark) always
    -- come from their defaults. It reads back only positions: a batch re-read after an offset moved back skips
    -- the positions already stored (events and dead letters), never their contents.
    GRANT INSERT (topic, partition, "offset", query, image, clicks, position, event_time, session, impressions,
                  ranking),
          SELECT (topic, partition, "offset")
        ON click_events TO amc_ingest;
    -- Pairs by MERGE from the staged deltas: it reads the matched pairs, updates their evidence and inserts new ones.
    GRANT SELECT, INSERT (query, image, clicks, click_events, skips, first_seen, last_seen),
          UPDATE (clicks, click_events, skips, first_seen, last_seen, change_xid)
        ON relevance_pairs TO amc_ingest;
    GRANT INSERT (topic, partition, "offset", message_key, raw, reason_code, reason, message_timestamp),
          SELECT (topic, partition, "offset")
        ON dead_letters TO amc_ingest;
    GRANT USAGE ON SEQUENCE dead_letters_id_seq TO amc_ingest;
    -- Offsets are locked (SELECT … FOR UPDATE) and upserted in every batch's transaction.
    GRANT SELECT, INSERT (group_id, topic, partition, next_offset), UPDATE (next_offset, updated_at)
        ON ingest_offsets TO amc_ingest;
    GRANT INSERT (group_id, topic, partition, from_offset, to_offset, reason) ON ingest_gaps TO amc_ingest;
    GRANT USAGE ON SEQUENCE ingest_gaps_id_seq TO amc_ingest;

    -- amc_learner -----------------------------------------------------------------------------------------
    GRANT SELECT ON click_events, relevance_pairs, relevance_labels, images TO amc_learner;
    -- Which version (and team) ranked each clicked image: online comparisons credit clicks through it.
    GRANT SELECT ON rankings, click_attributions TO amc_learner;
    -- Versions are written whole once; their number and created_at come from the database.
    GRANT SELECT, INSERT (kind, parent, architecture, format_version, weights, sha256, watermark, training_window,
                          hyperparameters, metrics, baselines, created_by)
        ON model_versions TO amc_learner;
    GRANT SELECT, INSERT (version, modality, format_version, weights, sha256) ON model_baselines TO amc_learner;
    -- The learner activates what passes its gate (actor 'learner'); the time is the database's.
    GRANT SELECT, INSERT (version, previous_version, actor, reason) ON model_activations TO amc_learner;
    GRANT INSERT (kind, parent, outcome, version, reason, training_window, metrics, worker, started_at)
        ON learner_runs TO amc_learner;

    -- amc_serve -------------------------------------------------------------------------------------------
    -- The active version (latest activation), its weights, and the catalog with its revision (count and stamps).
    GRANT SELECT ON model_versions, model_activations, images TO amc_serve;
    -- Every ranking it returns is appended (off the request path); it reads none back and changes none.
    GRANT INSERT (id, served_at, model_version, query, images, teams, experiment) ON rankings TO amc_serve;

    -- amc_operator ----------------------------------------------------------------------------------------
    -- Audit, eval, `model list|show`, `deadletters list|show`: read everything (new tables too, see below).
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO amc_operator;
    -- activate / rollback append to the activation log.
    GRANT INSERT (version, previous_version, actor, reason) ON model_activations TO amc_operator;
    -- Dead-letter replay lands events and pairs exactly as ingest does, resolves the letter and logs the attempt;
    -- purge deletes letters and logs each one. The action log is append-only (a trigger refuses the rest).
    GRANT INSERT (topic, partition, "offset", query, image, clicks, position, event_time, session, impressions,
                  ranking)
        ON click_events TO amc_operator;
    GRANT INSERT (query, image, clicks, click_events, skips, first_seen, last_seen),
          UPDATE (clicks, click_events, skips, first_seen, last_seen, change_xid)
        ON relevance_pairs TO amc_operator;
    GRANT UPDATE (state, resolved_at), DELETE ON dead_letters TO amc_operator;
    GRANT INSERT (dead_letter_id, topic, partition, "offset", action, outcome, reason_code, detail, actor)
        ON dead_letter_actions TO amc_operator;
    -- `amc catalog import` upserts images by key.
    GRANT INSERT (image, keywords, region_count, region_dimension, regions),
          UPDATE (keywords, region_count, region_dimension, regions, updated_at)
        ON images TO amc_operator;

    -- Written by the retention migration (0004) when present: maintenance runs as the owner (dropping partitions
    -- needs ownership); operators read its log. Grants on the partitioned click_events cover every partition.
    IF to_regclass('retention_runs') IS NOT NULL THEN
        GRANT SELECT ON retention_runs TO amc_operator;
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION amc_grant_privileges() FROM PUBLIC;

SELECT amc_grant_privileges();

-- `amc retention` removes old rankings with the events (Docs/retention.md) and records how many. Adding a column
-- fires no trigger, so the append-only guard stays on.
ALTER TABLE retention_runs ADD COLUMN rankings_removed bigint NOT NULL DEFAULT 0 CHECK (rankings_removed >= 0);
