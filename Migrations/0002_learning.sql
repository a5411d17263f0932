-- Learning schema: the image catalog, the learner's change watermark, the immutable model version registry,
-- the append-only activation log, and the learner's run log. See Docs/learning.md.

-- ---------------------------------------------------------------------------------------------------------
-- Image catalog (`amc catalog import`). Region features are a grid of R cells of dimension D, stored as
-- little-endian float32, row-major; D is the same for every image (enforced by the importer).
CREATE TABLE images (
    image             text        PRIMARY KEY CHECK (image <> ''),
    keywords          text[]      NOT NULL,
    region_count      integer     NOT NULL CHECK (region_count >= 0),
    region_dimension  integer     NOT NULL CHECK (region_dimension > 0),
    regions           bytea       NOT NULL,
    imported_at       timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (octet_length(regions) = 4 * region_count * region_dimension)
);

-- ---------------------------------------------------------------------------------------------------------
-- "Pairs changed since a version": every transaction that changes a pair stamps it with its own transaction
-- id. A version records the snapshot it trained from; the next cycle reads exactly the pairs whose stamp is not
-- visible in that snapshot (`pg_visible_in_snapshot`), which is correct however ingest transactions interleave
-- and commit — unlike a sequence value taken before commit, which it replaces.
DROP VIEW relevance_labels;
ALTER TABLE relevance_pairs DROP COLUMN change_seq;
DROP SEQUENCE relevance_pairs_change_seq;
ALTER TABLE relevance_pairs ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Events carry the same stamp, so a cycle can also read the evidence that arrived in its window (the clicks since
-- the watermark), not only the pairs' totals: fine-tuning learns from recent behaviour. A B-tree on an ever-growing
-- key is appended at its right edge, so it costs ingest far less than the (query, image) index.
ALTER TABLE click_events ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX click_events_change_xid_idx ON click_events (change_xid);

CREATE VIEW relevance_labels AS
SELECT query, image, clicks, click_events, skips,
       amc_relevance(clicks, click_events, skips) AS relevance,
       amc_grade(amc_relevance(clicks, click_events, skips)) AS grade,
       first_seen, last_seen, change_xid
FROM relevance_pairs;

-- ---------------------------------------------------------------------------------------------------------
-- Model versions: immutable once written (a trigger refuses UPDATE and DELETE).
CREATE TABLE model_versions (
    version           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- 'bootstrap' trains every parameter; 'finetune' only the MTN parameters, starting from `parent`.
    kind              text        NOT NULL CHECK (kind IN ('bootstrap', 'finetune')),
    parent            bigint      REFERENCES model_versions (version),
    format_version    integer     NOT NULL,
    weights           bytea       NOT NULL,
    sha256            text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- The snapshot the training data was read in: pairs changed after it are the next version's window.
    watermark         pg_snapshot NOT NULL,
    -- Which data it saw: pair/click counts, the first/last click time, whether the window was incremental.
    training_window   jsonb       NOT NULL,
    hyperparameters   jsonb       NOT NULL,
    -- Held-out evaluation of this version and of its parent at the gate, and the gate's verdict.
    metrics           jsonb       NOT NULL,
    -- Single-modality variants trained on the same data (bootstrap only): the baselines of `amc eval`.
    baselines         jsonb       NOT NULL DEFAULT '{}',
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'bootstrap') = (parent IS NULL))
);

-- Weights of the single-modality baselines trained beside a bootstrap version (immutable as well).
CREATE TABLE model_baselines (
    version           bigint      NOT NULL REFERENCES model_versions (version),
    modality          text        NOT NULL CHECK (modality IN ('image_only', 'keyword_only')),
    format_version    integer     NOT NULL,
    weights           bytea       NOT NULL,
    sha256            text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (version, modality)
);

-- Activations: append-only. The active version is the latest activation.
CREATE TABLE model_activations (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version           bigint      NOT NULL REFERENCES model_versions (version),
    previous_version  bigint      REFERENCES model_versions (version),
    actor             text        NOT NULL CHECK (actor <> ''),
    reason            text        NOT NULL,
    activated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION amc_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER model_versions_immutable BEFORE UPDATE OR DELETE ON model_versions
    FOR EACH ROW EXECUTE FUNCTION amc_refuse_change();
CREATE TRIGGER model_baselines_immutable BEFORE UPDATE OR DELETE ON model_baselines
    FOR EACH ROW EXECUTE FUNCTION amc_refuse_change();
CREATE TRIGGER model_activations_append_only BEFORE UPDATE OR DELETE ON model_activations
    FOR EACH ROW EXECUTE FUNCTION amc_refuse_change();

-- Every activation, whoever writes it, is announced on channel `amc_model_activated` with the version number
-- as payload (delivered at commit). Scoring workers LISTEN and also re-check periodically.
CREATE FUNCTION amc_announce_activation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('amc_model_activated', NEW.version::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER model_activations_notify AFTER INSERT ON model_activations
    FOR EACH ROW EXECUTE FUNCTION amc_announce_activation();

-- ---------------------------------------------------------------------------------------------------------
-- The learner's run log: every cycle, including those that published nothing (no new data, gate refused).
CREATE TABLE learner_runs (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('bootstrap', 'finetune')),
    parent            bigint      REFERENCES model_versions (version),
    outcome           text        NOT NULL CHECK (outcome IN ('published', 'refused')),
    version           bigint      REFERENCES model_versions (version),
    reason            text        NOT NULL,
    training_window   jsonb       NOT NULL,
    metrics           jsonb       NOT NULL,
    worker            text        NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
