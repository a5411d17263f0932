import Postgres

/// A run-time failure of a command, printed as one line (`Error: <message>`) with a non-zero exit.
///
/// Flag problems use argument-parser's `ValidationError` in `validate()` instead, which also prints usage.
struct CommandError: Error, CustomStringConvertible {
    var message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}

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
