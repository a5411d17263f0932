import Foundation
import Postgres
import Registry

/// The learner's run log, `learner_runs`: every cycle that reached the gate, published or refused.
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
    ///   - worker: Who ran it.
    ///   - started: When the cycle started.
    public func record(
        kind: ModelVersionKind,
        parent: Int64?,
        published: Int64?,
        gate: GateReport,
        trainingWindow: TrainingWindow,
        metrics: VersionMetrics,
        worker: String,
        started: Date
    ) throws {
        try connection.execute(
            """
            INSERT INTO learner_runs (kind, parent, outcome, version, reason, training_window, metrics, worker,
                                      started_at)
            VALUES (\(kind.rawValue), \(parent), \(published == nil ? "refused" : "published"), \(published),
                    \(gate.reason), \(try RegistryJSON.encode(trainingWindow))::jsonb,
                    \(try RegistryJSON.encode(metrics))::jsonb, \(worker), \(started))
            """
        )
    }
}
