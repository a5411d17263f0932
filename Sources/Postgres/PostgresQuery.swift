/// SQL text plus bound values, built only by string interpolation.
///
/// Every interpolated value becomes a `$n` placeholder and travels separately from the SQL text,
/// so it can never change the statement:
///
/// ```swift
/// let query: PostgresQuery = "SELECT * FROM users WHERE email = \(email) AND age > \(minAge)"
/// // sql: "SELECT * FROM users WHERE email = $1 AND age > $2", binds: [email, minAge]
/// ```
///
/// - Warning: `\(unescaped: fragment)` pastes `fragment` into the SQL text verbatim. Use it only for
///   identifiers and keywords that come from code (table names, `ASC`/`DESC`), never for input.
public struct PostgresQuery: ExpressibleByStringInterpolation, Sendable, CustomStringConvertible {
    /// The SQL text with `$1`, `$2`, ... placeholders.
    public var sql: String
    /// The bound values, in placeholder order; `nil` binds SQL `NULL` of unspecified type.
    public var binds: [(any PostgresBindable)?]

    /// Creates a query without binds from a literal.
    /// - Parameter value: The SQL text.
    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    /// Creates a query from an interpolation (see the type's documentation).
    /// - Parameter stringInterpolation: The collected SQL and binds.
    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// The SQL text and the number of binds (never the bound values).
    public var description: String {
        "PostgresQuery(\(sql), binds: \(binds.count))"
    }

    /// Collects SQL literals and interpolated binds.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [(any PostgresBindable)?]

        /// Reserves space for the literal text.
        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        /// Appends SQL text.
        /// - Parameter literal: Text from the literal itself.
        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Appends a `$n` placeholder and binds `value` to it.
        /// - Parameter value: The value; `Optional.none` binds `NULL`.
        public mutating func appendInterpolation(_ value: some PostgresBindable) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// Appends a `$n` placeholder and binds `value` to it, or `NULL` when it is `nil`.
        /// - Parameter value: The optional value.
        public mutating func appendInterpolation<Value: PostgresBindable>(_ value: Value?) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// Pastes a fragment into the SQL text verbatim.
        /// - Warning: Only for identifiers and keywords from code, never for input.
        /// - Parameter fragment: The SQL fragment.
        public mutating func appendInterpolation(unescaped fragment: String) {
            sql += fragment
        }
    }
}

extension PostgresQuery {
    /// The type OIDs of the binds (`0` for a `nil` bind).
    var bindTypeOIDs: [UInt32] {
        binds.map { bind in bind.map { type(of: $0).postgresTypeOID } ?? 0 }
    }

    /// The encoded binds.
    var bindValues: [PostgresValue] {
        binds.map { $0?.postgresValue ?? .null }
    }
}
