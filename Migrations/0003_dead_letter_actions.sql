-- Dead-letter operations (`amc deadletters list | show | replay | purge`, see Docs/deadletters.md): the replay state
-- of every dead letter, the Kafka timestamp a replay needs to date its event like ingest would have, and the
-- append-only log of every replay attempt and purge.

-- ---------------------------------------------------------------------------------------------------------
-- State: 'pending' until a replay resolves it; 'replayed' when a replay landed its event (the row is kept as
-- provenance); 'duplicate' when an event at its Kafka position was already in click_events (nothing to add).
-- A replay that finds the bytes still invalid leaves the row 'pending' and records the new reason as an action.
-- Adding columns with constant defaults rewrites nothing.
ALTER TABLE dead_letters
    ADD COLUMN message_timestamp timestamptz,
    ADD COLUMN state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'replayed', 'duplicate')),
    ADD COLUMN resolved_at timestamptz,
    ADD CONSTRAINT dead_letters_resolved_check CHECK ((state = 'pending') = (resolved_at IS NULL));
-- `message_timestamp`: the Kafka message timestamp (NULL when the message had none, and for rows written before
-- this migration; replay then dates a click without its own `ts` at `created_at`, when ingest first saw it).

-- `amc deadletters purge --before T` selects by receive time.
CREATE INDEX dead_letters_created_idx ON dead_letters (created_at);

-- ---------------------------------------------------------------------------------------------------------
-- Every replay attempt and every purge, one row per dead letter. Deliberately no foreign key: a purge deletes
-- the dead letter but never its history, so each row carries the dead letter's id and Kafka position itself.
CREATE TABLE dead_letter_actions (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dead_letter_id    bigint      NOT NULL,
    topic             text        NOT NULL,
    partition         integer     NOT NULL,
    "offset"          bigint      NOT NULL,
    action            text        NOT NULL CHECK (action IN ('replay', 'purge')),
    -- replay: 'replayed' (event landed), 'still_invalid' (the current parser refuses it too), 'duplicate' (its
    -- position already had an event), 'rejected' (valid, but the database refused it); purge: 'purged'.
    outcome           text        NOT NULL CHECK (outcome IN ('replayed', 'still_invalid', 'duplicate', 'rejected',
                                                              'purged')),
    CHECK ((action = 'purge') = (outcome = 'purged')),
    -- still_invalid: the current parser's reason code; purge: the dead letter's reason code; otherwise NULL.
    reason_code       text,
    detail            text        NOT NULL,
    actor             text        NOT NULL CHECK (actor <> ''),
    at                timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX dead_letter_actions_letter_idx ON dead_letter_actions (dead_letter_id, id);

-- Append-only, like model_activations (amc_refuse_change is defined in 0002).
CREATE TRIGGER dead_letter_actions_append_only BEFORE UPDATE OR DELETE ON dead_letter_actions
    FOR EACH ROW EXECUTE FUNCTION amc_refuse_change();
CREATE TRIGGER dead_letter_actions_no_truncate BEFORE TRUNCATE ON dead_letter_actions
    FOR EACH STATEMENT EXECUTE FUNCTION amc_refuse_change();
