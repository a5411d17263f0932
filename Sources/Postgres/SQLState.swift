/// A five-character PostgreSQL SQLSTATE error code, such as `23505` (unique violation).
///
/// Modelled as an open raw-value struct rather than a closed enum, so codes this module does not
/// know about still round-trip. Compare against the static constants:
///
/// ```swift
/// if error.sqlState == .uniqueViolation { ... }
/// ```
public struct SQLState: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The five-character code, for example `"40001"`.
    public var rawValue: String

    /// Creates a code from its five-character text.
    /// - Parameter rawValue: The SQLSTATE, for example `"23505"`.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Creates a code from a string literal, for example `let code: SQLState = "23505"`.
    /// - Parameter value: The SQLSTATE text.
    public init(stringLiteral value: String) {
        self.rawValue = value
    }

    /// The two-character class of the code (`"23"` for every integrity constraint violation).
    public var errorClass: String { String(rawValue.prefix(2)) }

    /// The raw five-character code.
    public var description: String { rawValue }
}

// MARK: - Well-known codes

extension SQLState {
    /// `00000` successful completion.
    public static let successfulCompletion: SQLState = "00000"
    /// `08000` connection exception.
    public static let connectionException: SQLState = "08000"
    /// `08003` connection does not exist.
    public static let connectionDoesNotExist: SQLState = "08003"
    /// `08006` connection failure.
    public static let connectionFailure: SQLState = "08006"
    /// `0A000` feature not supported (also "cached plan must not change result type").
    public static let featureNotSupported: SQLState = "0A000"
    /// `22001` string data right truncation.
    public static let stringDataRightTruncation: SQLState = "22001"
    /// `22003` numeric value out of range.
    public static let numericValueOutOfRange: SQLState = "22003"
    /// `22P02` invalid text representation.
    public static let invalidTextRepresentation: SQLState = "22P02"
    /// `23000` integrity constraint violation.
    public static let integrityConstraintViolation: SQLState = "23000"
    /// `23502` not-null violation.
    public static let notNullViolation: SQLState = "23502"
    /// `23503` foreign key violation.
    public static let foreignKeyViolation: SQLState = "23503"
    /// `23505` unique violation.
    public static let uniqueViolation: SQLState = "23505"
    /// `23514` check violation.
    public static let checkViolation: SQLState = "23514"
    /// `23P01` exclusion violation.
    public static let exclusionViolation: SQLState = "23P01"
    /// `25P02` in failed SQL transaction.
    public static let inFailedSQLTransaction: SQLState = "25P02"
    /// `28P01` invalid password.
    public static let invalidPassword: SQLState = "28P01"
    /// `3D000` invalid catalog name (database does not exist).
    public static let invalidCatalogName: SQLState = "3D000"
    /// `40001` serialization failure.
    public static let serializationFailure: SQLState = "40001"
    /// `40P01` deadlock detected.
    public static let deadlockDetected: SQLState = "40P01"
    /// `42501` insufficient privilege: the role lacks the right (see `Migrations/0005_roles.sql`).
    public static let insufficientPrivilege: SQLState = "42501"
    /// `42601` syntax error.
    public static let syntaxError: SQLState = "42601"
    /// `42703` undefined column.
    public static let undefinedColumn: SQLState = "42703"
    /// `42P01` undefined table.
    public static let undefinedTable: SQLState = "42P01"
    /// `42P07` duplicate table.
    public static let duplicateTable: SQLState = "42P07"
    /// `53000` insufficient resources.
    public static let insufficientResources: SQLState = "53000"
    /// `53100` disk full.
    public static let diskFull: SQLState = "53100"
    /// `53200` out of memory.
    public static let outOfMemory: SQLState = "53200"
    /// `53300` too many connections.
    public static let tooManyConnections: SQLState = "53300"
    /// `55P03` lock not available.
    public static let lockNotAvailable: SQLState = "55P03"
    /// `57014` query canceled (also statement timeout).
    public static let queryCanceled: SQLState = "57014"
    /// `57P01` admin shutdown.
    public static let adminShutdown: SQLState = "57P01"
    /// `57P02` crash shutdown.
    public static let crashShutdown: SQLState = "57P02"
    /// `57P03` cannot connect now (server starting up or shutting down).
    public static let cannotConnectNow: SQLState = "57P03"
}
