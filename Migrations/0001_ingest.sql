-- Ingest schema: click events, derived relevance pairs, dead letters, and the consumer offsets that make
-- ingest exactly-once (offsets live in the same transaction as the rows they produced).

-- Graded relevance of a (query, image) pair from its accumulated click evidence. See Docs/relevance.md.
--   relevance = ln(1 + clicks) * (click_events + 1) / (click_events + skips + 1)
-- The second factor is a smoothed cascade-model click rate: each skip-above (shown above a clicked image and
-- not clicked) is an examination without a click. Triad clicks carry no impressions, so the factor is 1.
CREATE FUNCTION amc_relevance(clicks bigint, click_events bigint, skips bigint) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ln(1.0 + clicks) * (click_events + 1.0) / (click_events + skips + 1.0);

-- Clickture-style grade from relevance: 0 = Bad, 1 = Fair, 2 = Good, 3 = Excellent.
CREATE FUNCTION amc_grade(relevance double precision) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN relevance < 0.5 THEN 0
        WHEN relevance < ln(4.0) THEN 1
        WHEN relevance < ln(11.0) THEN 2
        ELSE 3
    END;

-- Every valid click message, once. The key is its position in Kafka, so a message can never land twice.
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
    PRIMARY KEY (topic, partition, "offset")
);
-- Provenance look-ups for `amc audit pair QUERY IMAGE`.
CREATE INDEX click_events_pair_idx ON click_events (query, image);

-- Monotonic change stamp: the learner's watermark ("pairs changed since version N").
CREATE SEQUENCE relevance_pairs_change_seq;

CREATE TABLE relevance_pairs (
    query         text        NOT NULL,
    image         text        NOT NULL,
    clicks        bigint      NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    click_events  bigint      NOT NULL DEFAULT 0 CHECK (click_events >= 0),
    skips         bigint      NOT NULL DEFAULT 0 CHECK (skips >= 0),
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    change_seq    bigint      NOT NULL DEFAULT nextval('relevance_pairs_change_seq'),
    PRIMARY KEY (query, image)
) WITH (fillfactor = 80);
-- Deliberately no index on change_seq: every batch updates thousands of pairs, and with only the primary key
-- indexed (and free space left by fillfactor) those updates are HOT — no index maintenance. The learner reads
-- "changed since watermark" with one sequential scan per cycle instead (see Docs/architecture.md).
-- Likewise the derived label is not stored: computing it on every update doubled the cost of an update.

-- The graded label of every pair, derived from its evidence when read.
CREATE VIEW relevance_labels AS
SELECT query, image, clicks, click_events, skips,
       amc_relevance(clicks, click_events, skips) AS relevance,
       amc_grade(amc_relevance(clicks, click_events, skips)) AS grade,
       first_seen, last_seen, change_seq
FROM relevance_pairs;

-- Messages that could not be ingested, with the raw bytes and the reason. The offset still advances.
CREATE TABLE dead_letters (
    id            bigserial   PRIMARY KEY,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    message_key   bytea,
    raw           bytea       NOT NULL,
    reason_code   text        NOT NULL,
    reason        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason_code, created_at);

-- The next offset to ingest per (group, topic, partition): the source of truth for where ingest resumes.
CREATE TABLE ingest_offsets (
    group_id      text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    next_offset   bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Offset ranges [from_offset, to_offset) that were never ingested because the broker no longer had them
-- (retention or trimming moved the log start past the stored offset) or skipped them. Never silent.
CREATE TABLE ingest_gaps (
    id            bigserial   PRIMARY KEY,
    group_id      text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    from_offset   bigint      NOT NULL,
    to_offset     bigint      NOT NULL CHECK (to_offset > from_offset),
    reason        text        NOT NULL,
    detected_at   timestamptz NOT NULL DEFAULT now()
);
