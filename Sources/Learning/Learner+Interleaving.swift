import CoreMetrics
import Evaluation
import Foundation
import Logging
import Postgres
import Registry

// MARK: - Promotion by interleaving

extension Learner {
    /// The actor the learner activates versions and starts and stops its interleaving experiments as.
    public static let actor = "learner"

    /// Judges a running interleaving experiment (`learn.promotion = interleaving`, Docs/learning.md): promotes its
    /// candidate when it wins the sequential sign test, stops it and rejects the candidate when it loses, runs past
    /// `learn.interleaving.max-duration-seconds`, or the version it was compared with is no longer active, and
    /// otherwise leaves it running. Verdicts are recorded in `learner_runs` (and a promotion in the activation log)
    /// in one transaction, only while this session leads.
    ///
    /// Experiments started by anyone else (an operator's `amc model interleave`) are not judged: the learner waits
    /// for them to stop.
    /// - Parameters:
    ///   - experiment: The running interleaving experiment.
    ///   - started: When the cycle started.
    func judge(_ experiment: OnlineExperiment, started: Date) throws -> InterleavingDecision {
        let settings = configuration.interleaving
        let rule = SequentialSignTest(minImpressions: settings.minImpressions, alpha: settings.pValue)
        let registry = ModelRegistry(connection: connection)
        let active = try registry.activeVersion()
        guard experiment.startedBy == Learner.actor else {
            return InterleavingDecision(
                outcome: .undecided,
                experiment: experiment.id,
                candidate: experiment.candidateVersion,
                against: active,
                judgement: rule.judge([]),
                reason: "interleaving experiment \(experiment.id) was started by \(experiment.startedBy), not the "
                    + "learner: no candidate is trained until it stops"
            )
        }
        // Credit only rankings merged against the version active now: after a rollback the earlier impressions
        // compared the candidate with another version.
        let impressions = try OnlineComparisonStore(connection: connection).interleavedImpressions(
            of: experiment.id,
            startedAt: experiment.startedAt,
            servedBy: active
        )
        let credits = impressions.compactMap {
            ImpressionCredit.of(images: $0.images, teams: $0.teams, clicked: $0.clicked)
        }
        let judgement = rule.judge(credits)
        let figures = Self.figures(judgement, against: active)
        let parent = try registry.version(experiment.candidateVersion)?.parent
        let outcome: InterleavingDecision.Outcome
        let reason: String
        if active == experiment.candidateVersion {
            outcome = .rejected
            reason =
                "interleaving experiment \(experiment.id) stopped: version \(experiment.candidateVersion) was activated "
                + "outside it (\(figures))"
        } else if active == nil || (parent != nil && parent != active) {
            outcome = .rejected
            reason =
                "interleaving experiment \(experiment.id) stopped: the active version is "
                + "\(active.map(String.init) ?? "none"), not version \(parent.map(String.init) ?? "?") that "
                + "version \(experiment.candidateVersion) was trained from (\(figures))"
        } else {
            switch judgement.verdict {
            case .candidateWins:
                outcome = .promoted
                reason = "won interleaving experiment \(experiment.id): \(figures)"
            case .candidateLoses:
                outcome = .rejected
                reason = "lost interleaving experiment \(experiment.id): \(figures)"
            case .undecided:
                let elapsed = Date().timeIntervalSince(experiment.startedAt)
                if elapsed >= settings.maxDuration.secondsValue {
                    outcome = .rejected
                    reason =
                        "interleaving experiment \(experiment.id) ran \(Int(elapsed)) s, past "
                        + "learn.interleaving.max-duration-seconds, without a verdict: \(figures)"
                } else {
                    outcome = .undecided
                    reason = "interleaving experiment \(experiment.id) running: \(figures)"
                }
            }
        }
        let decision = InterleavingDecision(
            outcome: outcome,
            experiment: experiment.id,
            candidate: experiment.candidateVersion,
            against: active,
            judgement: judgement,
            reason: reason
        )
        let metrics = LearnerMetrics()
        guard outcome != .undecided else {
            metrics.record(decision)
            return decision
        }
        try connection.transaction { connection in
            guard try LearnerLeadership(connection: connection).isHeld() else {
                throw LearnerError("this learner is not the leader (lock lost or never taken); nothing was decided")
            }
            if outcome == .promoted {
                try ModelRegistry(connection: connection).activate(
                    experiment.candidateVersion,
                    actor: Learner.actor,
                    reason: reason
                )
            }
            try ExperimentStore(connection: connection).stop(
                experiment.id,
                actor: Learner.actor,
                reason: "\(outcome.rawValue): \(reason)"
            )
            try LearnerRunStore(connection: connection).record(decision, worker: worker, started: started)
        }
        metrics.record(decision)
        if outcome == .promoted { metrics.activeVersion.record(experiment.candidateVersion) }
        logger.notice(
            "Judged an interleaving experiment",
            metadata: [
                "experiment": "\(experiment.id)", "candidate": "\(experiment.candidateVersion)",
                "outcome": "\(outcome.rawValue)", "reason": "\(reason)",
            ]
        )
        return decision
    }

    /// The figures a verdict cites: wins, losses and ties over the look's sample, the p-value against its threshold.
    private static func figures(_ judgement: SequentialSignTest.Judgement, against: Int64?) -> String {
        let tally = judgement.tally
        let look = judgement.look.map { "look \($0 + 1), first \(tally.impressions) of " } ?? ""
        return "\(tally.wins) wins, \(tally.losses) losses, \(tally.ties) ties against version "
            + "\(against.map(String.init) ?? "none") (\(look)\(judgement.impressions) credited impressions), "
            + "sign test p = \(String(format: "%.4g", judgement.pValue)) vs threshold "
            + "\(String(format: "%.4g", judgement.threshold))"
    }
}
