-- Least privilege: one NOLOGIN group role per component, granted exactly what that component's SQL needs. Deployments
-- create LOGIN users in these roles, one per process kind, and give each process its own AMC_DATABASE_URL; the role
-- that runs `amc migrate` stays the owner of every object. The role × table × privilege matrix, and how to create
-- and rotate the login users, are in Docs/security.md.
--
--   amc_ingest    `amc ingest`: writes events, pairs, dead letters, offsets and gaps; nothing on model_* tables.
--   amc_learner   `amc learn`: reads pairs, events and the catalog; writes versions, baselines, its run log, and the
--                 activation of a version that passed its gate (actor 'learner'). Never writes events, pairs, images.
--   amc_serve     `amc serve`: reads versions, activations and the catalog. Nothing else, and writes nothing.
--   amc_operator  `amc model activate|rollback`, `amc audit`, `amc eval`, `amc deadletters`, `amc catalog import`:
--                 reads everything; appends activations; replays (events and pairs, like ingest) and purges dead
--                 letters; imports the catalog. No DDL: it owns nothing, so it cannot DROP, TRUNCATE or ALTER.

-- ---------------------------------------------------------------------------------------------------------
-- Roles are cluster-wide, while migrations run per database, possibly several databases at once (test suites, a
-- cluster hosting staging and production): create each only if missing, and treat losing the race to a concurrent
-- migrator (duplicate_object, or unique_violation on pg_authid) as success.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['amc_ingest', 'amc_learner', 'amc_serve', 'amc_operator'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------------------------------------
-- The PUBLIC defaults that would undo least privilege. Only the owner of the database (or a superuser) can change
-- its database-level and schema-level rights; a migration owner that is neither is told so and the table-level
-- grants below still apply (the DBA then runs the same statements, see Docs/security.md).
DO $$
BEGIN
    IF pg_has_role(current_user,
                   (SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER') THEN
        -- A login that is in none of the amc roles cannot even connect; only ingest and the operator (dead-letter
        -- replay, catalog import) stage rows in temporary tables.
        EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO amc_ingest, amc_learner, amc_serve, amc_operator',
                       current_database());
        EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO amc_ingest, amc_operator', current_database());
    ELSE
        RAISE WARNING 'amc roles: % does not own database %; database-level rights left unchanged',
            current_user, current_database();
    END IF;
    IF pg_has_role(current_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'MEMBER') THEN
        -- PostgreSQL 15 already withholds CREATE from PUBLIC in new clusters; clusters upgraded from older versions
        -- still grant it.
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    ELSE
        RAISE WARNING 'amc roles: % does not own schema public; its rights left unchanged', current_user;
    END IF;
END;
$$;

-- Nothing here is granted to PUBLIC today; this keeps it so for objects an earlier hand-made change might have
-- opened. Functions are executable by PUBLIC by default: the label functions are granted back to their readers
-- below, and trigger functions need no EXECUTE right to fire.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------------------
-- The grants, in one idempotent function so that a later migration that recreates a table (or creates one that a
-- component needs) can re-apply them: `SELECT amc_grant_privileges();` at its end, after extending the function
-- with CREATE OR REPLACE when the matrix changes. Runs with the caller's rights: only the owner can grant.
CREATE FUNCTION amc_grant_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    GRANT USAGE ON SCHEMA public TO amc_ingest, amc_learner, amc_serve, amc_operator;

    -- The derived label (view relevance_labels, and audit's own queries) calls these with the reader's rights.
    GRANT EXECUTE ON FUNCTION amc_relevance(bigint, bigint, bigint), amc_grade(double precision)
        TO amc_learner, amc_operator;

    -- amc_ingest ------------------------------------------------------------------------------------------
    -- Events by COPY: the columns a message carries; ingested_at and change_xid (the learner's watermark) always
    -- come from their defaults. It reads back only positions: a batch re-read after an offset moved back skips
    -- the positions already stored (events and dead letters), never their contents.
    GRANT INSERT (topic, partition, "offset", query, image, clicks, position, event_time, session, impressions),
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
    -- Versions are written whole once; their number and created_at come from the database.
    GRANT SELECT, INSERT (kind, parent, format_version, weights, sha256, watermark, training_window,
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

    -- amc_operator ----------------------------------------------------------------------------------------
    -- Audit, eval, `model list|show`, `deadletters list|show`: read everything (new tables too, see below).
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO amc_operator;
    -- activate / rollback append to the activation log.
    GRANT INSERT (version, previous_version, actor, reason) ON model_activations TO amc_operator;
    -- Dead-letter replay lands events and pairs exactly as ingest does, resolves the letter and logs the attempt;
    -- purge deletes letters and logs each one. The action log is append-only (a trigger refuses the rest).
    GRANT INSERT (topic, partition, "offset", query, image, clicks, position, event_time, session, impressions)
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

-- Tables the owner creates later are readable by operators (audit reads everything) without another grant; every
-- other right is granted explicitly by the migration that needs it.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO amc_operator;
