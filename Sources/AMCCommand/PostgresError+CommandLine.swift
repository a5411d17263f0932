import Postgres

extension PostgresError {
    /// The error as `amc` prints it: `database unavailable: …` for a connection failure; for a table that does not
    /// exist, that the database is not migrated (to this release) and `amc migrate` is the fix; else
    /// `database error SQLSTATE: …`.
    var commandLine: String {
        guard let sqlState else { return "database unavailable: \(message)" }
        if sqlState == .undefinedTable {
            return "the database is not migrated (\(message)): run amc migrate"
        }
        return "database error \(sqlState.rawValue): \(message)"
    }
}
