import Foundation

/// What an online experiment does with its candidate version (`online_experiments.kind`; `Docs/online.md`).
public enum ExperimentKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// The workers also score a sample of requests with the candidate, off the request path, and record that
    /// ranking beside the served one (`amc model shadow N`).
    case shadow
    /// The workers answer a share of requests with the active version's and the candidate's rankings merged by team
    /// draft, recording which team placed each image (`amc model interleave N`).
    case interleave
}

/// One row of `online_experiments`: a candidate version judged on live traffic beside the active version.
public struct OnlineExperiment: Sendable, Hashable, Codable {
    /// The experiment's id (`rankings.experiment` of the rankings it produced).
    public var id: Int64
    public var kind: ExperimentKind
    /// The version being judged.
    public var candidateVersion: Int64
    /// The share of requests in the experiment, in (0, 1]: shadow's sample, interleaving's share.
    public var share: Double
    public var startedAt: Date
    public var startedBy: String
    public var reason: String
    /// When it stopped; nil while it runs.
    public var stoppedAt: Date?
    public var stoppedBy: String?
    public var stopReason: String?

    /// Creates a value from all of its fields.
    public init(
        id: Int64,
        kind: ExperimentKind,
        candidateVersion: Int64,
        share: Double,
        startedAt: Date,
        startedBy: String,
        reason: String,
        stoppedAt: Date? = nil,
        stoppedBy: String? = nil,
        stopReason: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.candidateVersion = candidateVersion
        self.share = share
        self.startedAt = startedAt
        self.startedBy = startedBy
        self.reason = reason
        self.stoppedAt = stoppedAt
        self.stoppedBy = stoppedBy
        self.stopReason = stopReason
    }

    /// Whether it has not been stopped.
    public var isRunning: Bool { stoppedAt == nil }
}

/// The experiments running at one moment: at most one of each kind.
public struct RunningExperiments: Sendable, Hashable {
    /// The running shadow scoring experiment, if any.
    public var shadow: OnlineExperiment?
    /// The running interleaving experiment, if any.
    public var interleave: OnlineExperiment?

    /// - Parameters:
    ///   - shadow: A running experiment of kind ``ExperimentKind/shadow``.
    ///   - interleave: A running experiment of kind ``ExperimentKind/interleave``.
    public init(shadow: OnlineExperiment? = nil, interleave: OnlineExperiment? = nil) {
        self.shadow = shadow
        self.interleave = interleave
    }

    /// The running experiment of `kind`, if any.
    public subscript(kind: ExperimentKind) -> OnlineExperiment? {
        switch kind {
        case .shadow: shadow
        case .interleave: interleave
        }
    }

    /// Every running experiment, shadow first.
    public var all: [OnlineExperiment] { [shadow, interleave].compactMap { $0 } }
}
