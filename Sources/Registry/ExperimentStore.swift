import Foundation
import Postgres

/// Starts, stops and reads online experiments (`online_experiments`, `Docs/online.md`): shadow scoring and
/// interleaving of a candidate version beside the active one. Used by `amc model shadow|interleave`, the scoring
/// workers (which follow the running ones) and the learner (which runs the interleaving experiments of its
/// candidates).
///
/// At most one experiment of each kind runs: starting one stops the running one of its kind in the same
/// transaction. Rows are never deleted and change only once, when they stop, so the table is the experiments'
/// audit trail. Every change is announced on ``changeChannel`` by a trigger, at commit.
public struct ExperimentStore: Sendable {
    /// The `NOTIFY` channel of experiment changes (started or stopped); the payload is empty.
    public static let changeChannel = "amc_experiments_changed"

    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// What ``start(kind:candidate:share:actor:reason:)`` did.
    public struct Started: Sendable, Hashable {
        /// The new, running experiment.
        public var experiment: OnlineExperiment
        /// The experiment of the same kind it stopped, if one was running.
        public var stopped: OnlineExperiment?
    }

    /// Starts an experiment of `candidate`, stopping the running one of the same kind (recorded with the same actor,
    /// and a reason naming the new experiment). Call inside a transaction (``PostgresConnection/transaction(_:)``):
    /// the stop and the start commit together. Starts serialise on an advisory lock, so two concurrent starts of one
    /// kind both succeed, the later one stopping the earlier.
    /// - Parameters:
    ///   - kind: Shadow scoring or interleaving.
    ///   - candidate: The version to judge: it must exist and must not be the active version.
    ///   - share: The share of requests in the experiment, in (0, 1].
    ///   - actor: Who starts it (non-empty).
    ///   - reason: Why.
    /// - Returns: The new experiment, and the one it stopped.
    /// - Throws: ``RegistryError`` for an unknown or active candidate, a share outside (0, 1] or an empty actor;
    ///   ``PostgresError`` when the database fails.
    @discardableResult
    public func start(
        kind: ExperimentKind,
        candidate: Int64,
        share: Double,
        actor: String,
        reason: String
    ) throws -> Started {
        guard share > 0, share <= 1 else {
            throw RegistryError("the share of requests in an experiment must be in (0, 1], got \(share)")
        }
        guard !actor.isEmpty else { throw RegistryError("an experiment needs an actor") }
        try connection.execute("SELECT pg_advisory_xact_lock(\(ModelRegistry.advisoryLockNamespace), 3)")
        let exists = try connection.query("SELECT EXISTS (SELECT 1 FROM model_versions WHERE version = \(candidate))")
        guard try exists[0].decode(Bool.self, column: 0) else {
            throw RegistryError("model version \(candidate) does not exist")
        }
        if try ModelRegistry(connection: connection).activeVersion() == candidate {
            throw RegistryError(
                "model version \(candidate) is the active version: an experiment compares a candidate with it"
            )
        }
        let stopped = try stopRunning(kind: kind, actor: actor, reason: "replaced by a new \(kind.rawValue) experiment")
        let row = try connection.query(
            """
            INSERT INTO online_experiments (kind, candidate_version, share, started_by, reason)
            VALUES (\(kind.rawValue), \(candidate), \(share), \(actor), \(reason))
            RETURNING \(unescaped: Self.columns)
            """
        )[0]
        return Started(experiment: try Self.decode(row), stopped: stopped)
    }

    /// Stops the running experiment of `kind`, if there is one.
    /// - Parameters:
    ///   - kind: Shadow scoring or interleaving.
    ///   - actor: Who stops it (non-empty).
    ///   - reason: Why.
    /// - Returns: The experiment stopped; nil when none of that kind was running.
    /// - Throws: ``RegistryError`` for an empty actor; ``PostgresError`` when the database fails.
    @discardableResult
    public func stop(kind: ExperimentKind, actor: String, reason: String) throws -> OnlineExperiment? {
        guard !actor.isEmpty else { throw RegistryError("stopping an experiment needs an actor") }
        return try stopRunning(kind: kind, actor: actor, reason: reason)
    }

    /// Stops experiment `id` if it is still running (an experiment judged by whoever started it).
    /// - Parameters:
    ///   - id: The experiment.
    ///   - actor: Who stops it (non-empty).
    ///   - reason: Why.
    /// - Returns: The experiment stopped; nil when it was not running (or does not exist).
    /// - Throws: ``RegistryError`` for an empty actor; ``PostgresError`` when the database fails.
    @discardableResult
    public func stop(_ id: Int64, actor: String, reason: String) throws -> OnlineExperiment? {
        guard !actor.isEmpty else { throw RegistryError("stopping an experiment needs an actor") }
        return try connection.query(
            """
            UPDATE online_experiments
            SET stopped_at = clock_timestamp(), stopped_by = \(actor), stop_reason = \(reason)
            WHERE id = \(id) AND stopped_at IS NULL
            RETURNING \(unescaped: Self.columns)
            """
        ).first.map(Self.decode)
    }

    /// The running experiments (at most one of each kind).
    public func running() throws -> RunningExperiments {
        let rows = try connection.query(
            "SELECT \(unescaped: Self.columns) FROM online_experiments WHERE stopped_at IS NULL ORDER BY id"
        )
        var running = RunningExperiments()
        for row in rows {
            let experiment = try Self.decode(row)
            switch experiment.kind {
            case .shadow: running.shadow = experiment
            case .interleave: running.interleave = experiment
            }
        }
        return running
    }

    /// Every experiment of `candidate`, running or stopped, oldest first.
    public func experiments(candidate: Int64) throws -> [OnlineExperiment] {
        try connection.query(
            """
            SELECT \(unescaped: Self.columns) FROM online_experiments
            WHERE candidate_version = \(candidate) ORDER BY id
            """
        ).map(Self.decode)
    }

    /// One experiment by id, nil when there is none.
    public func experiment(_ id: Int64) throws -> OnlineExperiment? {
        try connection.query("SELECT \(unescaped: Self.columns) FROM online_experiments WHERE id = \(id)").first
            .map(Self.decode)
    }

    // MARK: - Private

    private func stopRunning(kind: ExperimentKind, actor: String, reason: String) throws -> OnlineExperiment? {
        try connection.query(
            """
            UPDATE online_experiments
            SET stopped_at = clock_timestamp(), stopped_by = \(actor), stop_reason = \(reason)
            WHERE kind = \(kind.rawValue) AND stopped_at IS NULL
            RETURNING \(unescaped: Self.columns)
            """
        ).first.map(Self.decode)
    }

    private static let columns =
        "id, kind, candidate_version, share, started_at, started_by, reason, stopped_at, stopped_by, stop_reason"

    private static func decode(_ row: PostgresRow) throws -> OnlineExperiment {
        guard let kind = ExperimentKind(rawValue: try row.decode(String.self, column: 1)) else {
            throw RegistryError("online_experiments.kind holds an unknown value")
        }
        return OnlineExperiment(
            id: try row.decode(Int64.self, column: 0),
            kind: kind,
            candidateVersion: try row.decode(Int64.self, column: 2),
            share: try row.decode(Double.self, column: 3),
            startedAt: try row.decode(Date.self, column: 4),
            startedBy: try row.decode(String.self, column: 5),
            reason: try row.decode(String.self, column: 6),
            stoppedAt: try row.decode(Date?.self, column: 7),
            stoppedBy: try row.decode(String?.self, column: 8),
            stopReason: try row.decode(String?.self, column: 9)
        )
    }
}
