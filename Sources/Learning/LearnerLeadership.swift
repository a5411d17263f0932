import Foundation
import Logging
import Postgres
import Registry

/// One leader among learners, through a session-level PostgreSQL advisory lock.
///
/// The lock belongs to the connection: if the leader's process dies or its connection breaks, PostgreSQL
/// releases it and a waiting learner takes over. A leader publishes only on the same connection, after
/// checking it still holds the lock, so a learner that lost its session can never publish.
public struct LearnerLeadership: Sendable {
    /// First key of every advisory lock amc-stream takes (`'AMC'` in ASCII); the second key says which lock.
    public static let lockNamespace: Int32 = ModelRegistry.advisoryLockNamespace
    /// Second key of the learner's leadership lock.
    public static let leaderLockKey: Int32 = 1

    private let connection: PostgresConnection

    /// - Parameter connection: The learner's session; leadership lives and dies with it.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Tries once to become the leader.
    /// - Returns: Whether this session holds the lock now.
    public func tryAcquire() throws -> Bool {
        try connection.query(
            "SELECT pg_try_advisory_lock(\(Self.lockNamespace), \(Self.leaderLockKey))"
        )[0].decode(Bool.self, column: 0)
    }

    /// Gives leadership up at once (a waiting learner can take it on its next try), rather than when the session's
    /// backend exits some time after the connection is closed.
    /// - Returns: Whether this session held the lock.
    @discardableResult
    public func release() throws -> Bool {
        try connection.query(
            "SELECT pg_advisory_unlock(\(Self.lockNamespace), \(Self.leaderLockKey))"
        )[0].decode(Bool.self, column: 0)
    }

    /// Whether this session holds the leadership lock.
    public func isHeld() throws -> Bool {
        try connection.query(
            """
            SELECT count(*) > 0 FROM pg_locks
            WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
              AND classid = \(Int64(Self.lockNamespace))::oid AND objid = \(Int64(Self.leaderLockKey))::oid
              AND objsubid = 2
            """
        )[0].decode(Bool.self, column: 0)
    }

    /// Who holds the lock in this database now (`application_name` and backend pid), nil when nobody does.
    /// (`pg_locks` lists every database's locks; advisory keys are per database.)
    public func holder() throws -> String? {
        try connection.query(
            """
            SELECT coalesce(nullif(a.application_name, ''), 'unnamed') || ' (pid ' || l.pid || ')'
            FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid = \(Int64(Self.lockNamespace))::oid AND l.objid = \(Int64(Self.leaderLockKey))::oid
              AND l.objsubid = 2
            """
        ).first?.decode(String.self, column: 0)
    }

    /// Blocks until this session is the leader, trying every `interval`.
    /// - Parameters:
    ///   - interval: Time between attempts.
    ///   - shouldStop: Checked between attempts; returning true gives up.
    ///   - logger: Says who holds the lock while waiting.
    /// - Returns: Whether leadership was acquired (false when stopped).
    public func waitForLeadership(
        interval: Duration,
        shouldStop: () -> Bool,
        logger: Logger
    ) throws -> Bool {
        var announced = false
        while !shouldStop() {
            if try tryAcquire() {
                logger.info("This learner is the leader")
                return true
            }
            if !announced {
                let leader = try holder() ?? "unknown"
                logger.info("Another learner is the leader; waiting to take over", metadata: ["leader": "\(leader)"])
                announced = true
            }
            pause(interval, unless: shouldStop)
        }
        return false
    }
}

/// Sleeps the calling (dedicated) thread for `duration`, waking every 100 ms to check `shouldStop`.
func pause(_ duration: Duration, unless shouldStop: () -> Bool) {
    let deadline = ContinuousClock.now + duration
    while !shouldStop() {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { return }
        let (seconds, attoseconds) = min(remaining, .milliseconds(100)).components
        Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
    }
}
