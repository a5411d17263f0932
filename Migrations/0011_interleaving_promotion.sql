-- Promotion by interleaving (`learn.promotion = interleaving`, Docs/learning.md and Docs/online.md): a candidate that
-- passes the offline gate is published without being activated and put to an interleaving experiment; later cycles
-- judge the experiment and activate the candidate only if it wins. Every decision is a learner_runs row:
--
-- * kind 'bootstrap' | 'finetune', outcome 'interleaving': published, not activated, its experiment started;
-- * kind 'interleaving' (a verdict, not a training cycle), outcome 'promoted' (the candidate won and was activated)
--   or 'rejected' (it lost, ran past the time bound, or the version it was compared with is no longer active).
--
-- The old values keep their meaning. `experiment` names the experiment a row started or judged.
ALTER TABLE learner_runs
    DROP CONSTRAINT learner_runs_kind_check,
    ADD CONSTRAINT learner_runs_kind_check CHECK (kind IN ('bootstrap', 'finetune', 'interleaving')),
    DROP CONSTRAINT learner_runs_outcome_check,
    ADD CONSTRAINT learner_runs_outcome_check
        CHECK (outcome IN ('published', 'refused', 'interleaving', 'promoted', 'rejected')),
    ADD COLUMN experiment bigint REFERENCES online_experiments (id),
    ADD CONSTRAINT learner_runs_experiment_check
        CHECK ((outcome IN ('interleaving', 'promoted', 'rejected')) = (experiment IS NOT NULL));

COMMENT ON COLUMN learner_runs.experiment IS
    'The interleaving experiment the run started (outcome interleaving) or judged (promoted, rejected).';

GRANT INSERT (experiment) ON learner_runs TO amc_learner;
