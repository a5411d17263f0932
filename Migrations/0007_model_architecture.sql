-- Blob format 2 (Docs/registry.md): a version's weights are architecture-neutral parameters (architecture id,
-- hyper-parameters, named tensors), and a fine-tune version stores only its architecture's online part plus the
-- SHA-256 of its parent's blob. Rows written before stay as they are: format 1, complete AMC weights, still loaded.
--
-- `architecture` names the parameters' architecture. Every existing row is AMC. The default stays 'amc' so that a
-- learner of the previous release still publishing during a rolling upgrade (format 1, complete) writes valid rows;
-- this release always names the architecture itself.
--
-- `kind` already takes only 'bootstrap' and 'finetune' (its CHECK in 0002), which now mean the same for every
-- architecture: a bootstrap trained every parameter and stores all of them; a fine-tune changed only the online part
-- of its parent (format 2: stores that part alone; format 1: stores everything). No existing value changes.
--
-- Adding a column rewrites no row and fires no trigger, so the immutability triggers stay on throughout.

ALTER TABLE model_versions
    ADD COLUMN architecture text NOT NULL DEFAULT 'amc' CHECK (architecture ~ '^[a-z][a-z0-9_]*$');

COMMENT ON COLUMN model_versions.architecture IS
    'Architecture id of the stored parameters (amc).';
COMMENT ON COLUMN model_versions.kind IS
    'bootstrap: every parameter trained and stored; finetune: only the parent''s online part changed (format 2 '
    'stores that part alone with the parent''s blob SHA-256, format 1 stores every parameter).';
COMMENT ON COLUMN model_versions.weights IS
    'Weights blob: format 2 (architecture, hyper-parameters, named tensors, parent checksum for a fine-tune) or '
    'format 1 (complete AMC weights). Docs/registry.md.';

-- ---------------------------------------------------------------------------------------------------------
-- The learner writes the new column: the grant matrix of 0005 with `architecture` added to its INSERT columns.
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
