-- Wake the learner on ingest's commits (Docs/learning.md, "Waking on ingest's commits"): every statement that
-- inserts or updates relevance pairs sends `amc_pairs_changed` with an empty payload. A notification is delivered
-- when its transaction commits (never for one that rolls back), and PostgreSQL folds identical notifications of one
-- transaction into one, so an ingest batch (one MERGE, which fires both statement triggers) or a dead-letter replay
-- batch announces itself exactly once. A following learner LISTENs and starts a cycle; it still re-checks every
-- learn.interval-seconds in case a notification was lost with its session.
--
-- A statement-level trigger costs one function call per statement, not per row; DELETE (retention) wakes nobody.

CREATE FUNCTION amc_announce_pairs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('amc_pairs_changed', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER relevance_pairs_notify AFTER INSERT OR UPDATE ON relevance_pairs
    FOR EACH STATEMENT EXECUTE FUNCTION amc_announce_pairs_changed();
