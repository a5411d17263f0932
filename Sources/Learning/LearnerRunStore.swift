import Foundation
import Postgres
import Registry

/// The learner's run log, `learner_runs`: every cycle that reached the gate (published, refused, or put to an
/// interleaving experiment) and every verdict on an interleaving experiment.
public struct LearnerRunStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: The learner's session (inside the publishing transaction).
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Records one cycle.
    /// - Parameters:
    ///   - kind: What was trained.
    ///   - parent: The version it started from (fine-tuning) or was gated against.
    ///   - published: The version published, nil when the gate refused the candidate.
    ///   - gate: The gate's verdict (its reason is recorded).
    ///   - trainingWindow: The data trained on.
    ///   - metrics: The gate and the training run.
    ///   - experiment: The interleaving experiment the published version was put to instead of being activated
    ///     (outcome `interleaving`); nil otherwise.
    ///   - worker: Who ran it.
    ///   - started: When the cycle started.
    public func record(
        kind: ModelVersionKind,
        parent: Int64?,
        published: Int64?,
        gate: GateReport,
        trainingWindow: TrainingWindow,
        metrics: VersionMetrics,
        experiment: Int64? = nil,
        worker: String,
        started: Date
    ) throws {
        let outcome = experiment != nil ? "interleaving" : published == nil ? "refused" : "published"
        try connection.execute(
            """
            INSERT INTO learner_runs (kind, parent, outcome, version, reason, training_window, metrics, worker,
                                      started_at, experiment)
            VALUES (\(kind.rawValue), \(parent), \(outcome), \(published),
                    \(gate.reason), \(try RegistryJSON.encode(trainingWindow))::jsonb,
                    \(try RegistryJSON.encode(metrics))::jsonb, \(worker), \(started), \(experiment))
            """
        )
    }

    /// Records the learner's verdict on an interleaving experiment (kind `interleaving`, outcome `promoted` or
    /// `rejected`): the candidate as `version`, the version it was compared with as `parent`, the sign test's
    /// figures as `metrics`; the training window is empty (nothing was trained).
    /// - Parameters:
    ///   - decision: A decision that is not ``InterleavingDecision/Outcome/undecided``.
    ///   - worker: Who ran it.
    ///   - started: When the cycle started.
    public func record(_ decision: InterleavingDecision, worker: String, started: Date) throws {
        precondition(decision.outcome != .undecided, "only verdicts are recorded")
        try connection.execute(
            """
            INSERT INTO learner_runs (kind, parent, outcome, version, reason, training_window, metrics, worker,
                                      started_at, experiment)
            VALUES ('interleaving', \(decision.against), \(decision.outcome.rawValue), \(decision.candidate),
                    \(decision.reason), '{}'::jsonb, \(try RegistryJSON.encode(decision.judgement))::jsonb, \(worker),
                    \(started), \(decision.experiment))
            """
        )
    }
}
