import Evaluation

/// What the learner concluded about an interleaving experiment in one cycle (`learn.promotion = interleaving`).
public struct InterleavingDecision: Sendable, Hashable, Codable {
    /// What happened to the candidate.
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// It won and was activated (`learner_runs` outcome `promoted`).
        case promoted
        /// It lost, ran past `learn.interleaving.max-duration-seconds`, or the version it was compared with is no
        /// longer active: the experiment was stopped and the candidate stays inactive (`learner_runs` outcome
        /// `rejected`).
        case rejected
        /// No verdict yet: the experiment keeps running and the learner trains no new candidate meanwhile.
        case undecided
    }

    /// The outcome.
    public var outcome: Outcome
    /// The experiment judged.
    public var experiment: Int64
    /// The version under test.
    public var candidate: Int64
    /// The active version it was compared with (nil when none is active).
    public var against: Int64?
    /// The sequential sign test's figures over the impressions credited so far.
    public var judgement: SequentialSignTest.Judgement
    /// Why, in words (also the `learner_runs` reason and, when promoted, the activation reason).
    public var reason: String
}
