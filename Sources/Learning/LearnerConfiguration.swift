import Model

/// Everything that shapes a learner run: model dimensions, training budget, the held-out slice and the gate.
///
/// Defaults are in `Docs/learning.md`; every field has a configuration key in `amc learn`.
public struct LearnerConfiguration: Sendable, Hashable {
    /// The scoring architecture `--bootstrap` trains (one of ``ModelArchitectures/ids``); a fine-tune keeps the
    /// active version's. Default: `amc`. Key: `learn.architecture`.
    public var architecture = AMCModel.architecture
    /// Model dimensions for `--bootstrap` (the region dimension is taken from the catalog); each architecture reads
    /// the ones it uses.
    public var model = ModelConfiguration()
    /// Passes over the training pairs when bootstrapping.
    public var bootstrapEpochs = 6
    /// Passes a fine-tune makes over each click's evidence: a cycle whose evidence is its window alone makes all of
    /// them; a cycle within the evidence horizon makes the share of them its interval is of the horizon, at least
    /// one, since every cycle in the horizon trains on each recent click again (``evidenceHorizon``). Default: 8.
    /// Key: `learn.finetune.epochs`.
    public var fineTuneEpochs = 8
    /// Examples per optimiser step.
    public var batchSize = 16
    /// Negative images sampled from the catalog per positive pair.
    public var negatives = 4
    /// How many of the negatives come from the same query's lower-graded images, when it has any.
    public var inQueryNegatives = 2
    /// Weight of the auxiliary ranking losses when bootstrapping an architecture that has them (AMC: image-only and
    /// keyword-only, `ModelTrainer.auxiliaryModalityWeight`; AMS: one hinge per scale): keeps each branch or scale
    /// usable on its own, so online fine-tuning can shift weight between them when a query's intent changes.
    public var auxiliaryModalityWeight: Float = 0.1
    /// Adam step size when bootstrapping.
    public var bootstrapLearningRate: Float = 2e-3
    /// Adam step size when fine-tuning the MTN.
    public var fineTuneLearningRate: Float = 1e-3
    /// Percentage of queries (by a stable hash of the query) never trained on: the gate's held-out slice.
    public var holdoutPercent = 10
    /// Largest NDCG@5 drop on the held-out slice, versus the parent, that the gate accepts without a test; a larger
    /// one is refused only when the sign test confirms it (``gateSignificance``). Default: 0.005.
    /// Key: `learn.gate.tolerance`.
    public var gateTolerance = 0.005
    /// The sign test's p-value at or below which a drop beyond ``gateTolerance`` counts as a real regression (over
    /// the held-out queries whose NDCG@5 the candidate changed). Default: 0.05. Key: `learn.gate.p-value`.
    public var gateSignificance = 0.05
    /// Fewest held-out queries a fine-tune is judged on: the window's, topped up with the most recent held-out
    /// queries of earlier windows (as many as the learner saw). At most ``maxGateQueries`` (`amc learn` refuses more,
    /// and lowers the default to a smaller `learn.gate.max-queries`). Default: 100. Key: `learn.gate.min-queries`.
    public var minGateQueries = 100
    /// Candidates per held-out query at the gate: its clicked images plus sampled catalog images up to this many.
    public var gateCandidates = 30
    /// Most held-out queries the gate evaluates (a stable sample when there are more).
    public var maxGateQueries = 2000
    /// Fewest training pairs clicked in the window (and graded at least 1) that make a fine-tuning cycle worthwhile.
    public var minNewPairs = 1
    /// Whether a version that passes the gate is activated at once (actor `learner`).
    public var activate = true
    /// How a version that passes the gate is promoted: activated at once (`gate`), or only after it wins an
    /// interleaving experiment against the active version (`interleaving`). Default: `gate`. Key: `learn.promotion`.
    public var promotion = PromotionPolicy.gate
    /// The interleaving experiment's settings under `learn.promotion = interleaving`. Keys: `learn.interleaving.…`.
    public var interleaving = InterleavingPromotion()
    /// Whether `--bootstrap` also trains the single-modality baselines `amc eval` compares against.
    public var trainBaselines = true
    /// Each architecture's own training settings, by architecture id (``ModelArchitectures/ids``), over the shared
    /// ones above (``applying(architecture:)``). Default: none. Keys: `learn.architectures.<id>.…`.
    public var architectures: [String: ArchitectureTrainingSettings] = [:]
    /// Seed of the initial weights, the negative sampling and the example order.
    public var seed: UInt64 = 1
    /// How long `--follow` waits for a notification before it re-checks for changed pairs anyway (in case one was
    /// lost), and between attempts to become the leader. Default: 30 s. Key: `learn.interval-seconds`.
    public var pollInterval: Duration = .seconds(30)
    /// How long `--follow` waits after the first notification of ingest's commits (and, at least, after the end of
    /// the previous cycle) before it starts a cycle: every commit within it folds into that one cycle. Default: 1 s.
    /// Key: `learn.min-cycle-spacing-seconds`.
    public var minCycleSpacing: Duration = .seconds(1)
    /// How far back a fine-tuning cycle reads the evidence of its window's queries: their clicks and passed-over views
    /// since the watermark of this learner's cycle at least this long ago (or its first), or since the start of the
    /// window when that is earlier (the active version's watermark; after the gate refused a candidate of it, the
    /// refused candidate's: Docs/learning.md, "A run of refusals"). Every pair that evidence grades at least 1 is a
    /// positive of the cycle (the window's clicks, and the horizon's earlier ones again), contrasted with the pairs it
    /// shows users examined. 0: the window alone. Default: 60 s. Key: `learn.evidence-horizon-seconds`.
    public var evidenceHorizon: Duration = .seconds(60)
    /// Whether `--follow` wakes on ingest's commit notifications; when false it polls, one cycle every
    /// ``pollInterval`` after the previous one ended, as the learner did before it listened (the baseline
    /// `amc bench adapt` compares with). Default: true. Key: `learn.wake-on-commits`.
    public var wakeOnCommits = true

    /// The defaults.
    public init() {}
}

/// How the learner promotes a version that passed the gate (`learn.promotion`, Docs/learning.md).
public enum PromotionPolicy: String, Sendable, Hashable, CaseIterable {
    /// Activate it at once (when ``LearnerConfiguration/activate`` is on).
    case gate
    /// Publish it, interleave it with the active version, and activate it only if it wins (Docs/online.md).
    case interleaving
}

/// The interleaving experiment that judges a candidate under `learn.promotion = interleaving`.
public struct InterleavingPromotion: Sendable, Hashable {
    /// The share of scoring requests interleaved. Default: 0.1. Key: `learn.interleaving.share`.
    public var share = 0.1
    /// Credited impressions (interleaved rankings with a click) of the first look of the sign test; later looks are
    /// at twice as many each time (``SequentialSignTest``). Default: 200. Key: `learn.interleaving.min-impressions`.
    public var minImpressions = 200
    /// The overall false-verdict rate α the looks share (a look k decides at p ≤ α/2^(k+1)). Default: 0.05.
    /// Key: `learn.interleaving.p-value`.
    public var pValue = 0.05
    /// How long an experiment may run without a verdict before the candidate is rejected. Default: 86 400 s (a day).
    /// Key: `learn.interleaving.max-duration-seconds`.
    public var maxDuration: Duration = .seconds(86_400)

    /// The defaults.
    public init() {}
}
