-- Online experiments (Docs/online.md): a candidate version judged on live traffic beside the active version.
--
-- * shadow (`amc model shadow N [--sample F]`): workers also score a sample F of live requests with the candidate,
--   off the request path; the client gets the active version's ranking only. Both rankings are recorded: the
--   served one as usual, the shadow one as its own `rankings` row (model_version = the candidate, experiment = the
--   experiment's id, shadow_of = the served ranking's id; its id is never returned to anyone).
-- * interleave (`amc model interleave N [--share F]`): for a share F of requests the worker merges the active
--   version's and the candidate's rankings by team draft and returns the merged list; its `rankings` row has
--   experiment = the experiment's id and teams[i] = 'active' or 'candidate' for the team that placed images[i]
--   (model_version stays the active version that served it). Clicks naming that ranking are credited to teams.
--
-- At most one experiment of each kind runs at a time: starting one stops the running one of its kind. Stopping sets
-- stopped_at (and who and why); nothing else of a row ever changes, and rows are never deleted, so the table is the
-- experiments' audit trail. Every change is announced on `amc_experiments_changed` (delivered at commit) so
-- workers pick it up at once; they also re-check periodically.

CREATE TABLE online_experiments (
    id                bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              text             NOT NULL CHECK (kind IN ('shadow', 'interleave')),
    candidate_version bigint           NOT NULL REFERENCES model_versions (version),
    -- The share of requests in the experiment: shadow's --sample, interleave's --share.
    share             double precision NOT NULL CHECK (share > 0 AND share <= 1),
    started_at        timestamptz      NOT NULL DEFAULT clock_timestamp(),
    started_by        text             NOT NULL CHECK (started_by <> ''),
    reason            text             NOT NULL DEFAULT '',
    stopped_at        timestamptz,
    stopped_by        text             CHECK (stopped_by <> ''),
    stop_reason       text,
    CHECK ((stopped_at IS NULL) = (stopped_by IS NULL))
);
CREATE UNIQUE INDEX online_experiments_one_running_per_kind ON online_experiments (kind) WHERE stopped_at IS NULL;
CREATE INDEX online_experiments_candidate_idx ON online_experiments (candidate_version);

COMMENT ON TABLE online_experiments IS
    'Shadow scoring and interleaving experiments of candidate versions (Docs/online.md).';

-- Only the stop columns change, once; everything else is written whole.
CREATE FUNCTION amc_guard_experiment_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'online_experiments keeps every experiment: DELETE refused' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.stopped_at IS NOT NULL
       OR (NEW.id, NEW.kind, NEW.candidate_version, NEW.share, NEW.started_at, NEW.started_by, NEW.reason)
          IS DISTINCT FROM (OLD.id, OLD.kind, OLD.candidate_version, OLD.share, OLD.started_at, OLD.started_by,
                            OLD.reason) THEN
        RAISE EXCEPTION 'online_experiments: only a running experiment can change, and only by stopping'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER online_experiments_guard BEFORE UPDATE OR DELETE ON online_experiments
    FOR EACH ROW EXECUTE FUNCTION amc_guard_experiment_change();

CREATE FUNCTION amc_announce_experiments_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('amc_experiments_changed', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER online_experiments_notify AFTER INSERT OR UPDATE ON online_experiments
    FOR EACH STATEMENT EXECUTE FUNCTION amc_announce_experiments_changed();

-- A shadow ranking names the served ranking it re-scored.
ALTER TABLE rankings ADD COLUMN shadow_of uuid;
COMMENT ON COLUMN rankings.shadow_of IS
    'For a shadow ranking (experiment kind shadow): the id of the served ranking of the same request.';
CREATE INDEX rankings_experiment_idx ON rankings (experiment) WHERE experiment IS NOT NULL;

-- Grants (the matrix of 0005–0008, extended). Workers read experiments and append shadow rankings; operators start
-- and stop experiments; the learner starts, reads and stops the interleaving experiments of its candidates.
GRANT SELECT ON online_experiments TO amc_serve, amc_operator, amc_learner;
GRANT INSERT (kind, candidate_version, share, started_by, reason), UPDATE (stopped_at, stopped_by, stop_reason)
    ON online_experiments TO amc_operator, amc_learner;
GRANT INSERT (id, served_at, model_version, query, images, teams, experiment, shadow_of) ON rankings TO amc_serve;
