import Foundation
import Postgres

/// An interleaving experiment (`online_experiments` of kind `interleave`): a candidate version's rankings merged
/// with the active version's by team draft for a share of requests (Docs/online.md).
public struct InterleavingExperiment: Sendable, Hashable {
    /// The experiment's id (`rankings.experiment`).
    public var id: Int64
    /// The version under test.
    public var candidate: Int64
    /// The share of requests interleaved.
    public var share: Double
    /// When it started (the database's clock).
    public var startedAt: Date
    /// Who started it (`learner` for the learner's own).
    public var startedBy: String
}

/// Starts, finds and stops interleaving experiments: what the learner needs under `learn.promotion = interleaving`.
///
/// The rows follow `Migrations/0010_online_experiments.sql`: at most one running experiment of a kind, stopped once
/// and never otherwise changed; every change is announced to the workers by the table's trigger.
public struct InterleavingExperimentStore: Sendable {
    /// The actor the learner starts and stops its experiments as (`started_by`, `stopped_by`).
    public static let learnerActor = "learner"

    private let connection: PostgresConnection

    /// - Parameter connection: A session allowed to read and write `online_experiments` (learner or operator).
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// The running interleaving experiment, whoever started it.
    public func running() throws -> InterleavingExperiment? {
        try connection.query(
            """
            SELECT id, candidate_version, share, started_at, started_by FROM online_experiments
            WHERE kind = 'interleave' AND stopped_at IS NULL
            """
        ).first.map(Self.decode)
    }

    /// Starts an interleaving experiment of `candidate`, stopping the running one first (one runs at a time).
    /// - Parameters:
    ///   - candidate: The version to interleave with the active one.
    ///   - share: The share of requests, in (0, 1].
    ///   - actor: Who starts it.
    ///   - reason: Why (recorded).
    /// - Returns: The new experiment.
    public func start(
        candidate: Int64,
        share: Double,
        actor: String,
        reason: String
    ) throws -> InterleavingExperiment {
        if let running = try running() {
            try stop(running.id, actor: actor, reason: "replaced by an interleaving experiment of version \(candidate)")
        }
        let rows = try connection.query(
            """
            INSERT INTO online_experiments (kind, candidate_version, share, started_by, reason)
            VALUES ('interleave', \(candidate), \(share), \(actor), \(reason))
            RETURNING id, candidate_version, share, started_at, started_by
            """
        )
        guard let row = rows.first else { throw LearnerError("starting an interleaving experiment returned no row") }
        return try Self.decode(row)
    }

    /// Stops a running experiment.
    /// - Parameters:
    ///   - id: The experiment.
    ///   - actor: Who stops it.
    ///   - reason: Why (recorded as `stop_reason`).
    public func stop(_ id: Int64, actor: String, reason: String) throws {
        try connection.execute(
            """
            UPDATE online_experiments SET stopped_at = clock_timestamp(), stopped_by = \(actor), stop_reason = \(reason)
            WHERE id = \(id) AND stopped_at IS NULL
            """
        )
    }

    private static func decode(_ row: PostgresRow) throws -> InterleavingExperiment {
        InterleavingExperiment(
            id: try row.decode(Int64.self, column: 0),
            candidate: try row.decode(Int64.self, column: 1),
            share: try row.decode(Double.self, column: 2),
            startedAt: try row.decode(Date.self, column: 3),
            startedBy: try row.decode(String.self, column: 4)
        )
    }
}
