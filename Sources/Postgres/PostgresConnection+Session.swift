// MARK: - Session settings

extension PostgresConnection {
    /// Names this session in `pg_stat_activity` and in lock listings (`application_name`).
    /// - Parameter name: The name, e.g. `amc serve`.
    public func setApplicationName(_ name: String) throws {
        try execute("SELECT set_config('application_name', \(name), false)")
    }

    /// Runs `body` in one read-only `REPEATABLE READ` transaction: every query it makes sees the same snapshot.
    /// - Parameter body: The reads; it receives this connection.
    /// - Returns: What `body` returns.
    public func snapshotTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try transaction { connection in
            try connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return try body(connection)
        }
    }
}
