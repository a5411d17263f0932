/// One result row, copied out of libpq into Swift strings (so it outlives the `PGresult`).
public struct PostgresRow: Sendable {
    let columns: PostgresColumns
    let values: [String?]

    /// The column names, in result order.
    public var columnNames: [String] { columns.names }

    /// The number of columns.
    public var count: Int { values.count }

    /// The text-format value of a column.
    /// - Parameter column: The zero-based column index; must be in range.
    /// - Returns: The value as text, `nil` for SQL `NULL`.
    public subscript(column: Int) -> String? {
        values[column]
    }

    /// The text-format value of a column, by name.
    /// - Parameter name: The column name as returned by the server.
    /// - Returns: The value as text; `nil` for SQL `NULL` or an unknown column.
    public subscript(name: String) -> String? {
        columns.index[name].flatMap { values[$0] }
    }

    /// Decodes a column.
    /// - Parameters:
    ///   - type: The Swift type; use an `Optional` type to accept `NULL`.
    ///   - column: The zero-based column index.
    /// - Returns: The decoded value.
    /// - Throws: ``PostgresDecodingError`` if the index is out of range, the value is `NULL` for a
    ///   non-optional type, or the text is not valid for `type`.
    public func decode<T: PostgresDecodable>(_ type: T.Type, column: Int) throws -> T {
        guard values.indices.contains(column) else {
            throw PostgresDecodingError(
                column: column,
                columnName: nil,
                targetType: "\(T.self)",
                reason: "no such column"
            )
        }
        guard let value = T.decode(postgresText: values[column]) else {
            throw PostgresDecodingError(
                column: column,
                columnName: columns.names[column],
                targetType: "\(T.self)",
                reason: values[column] == nil ? "unexpected NULL" : "invalid text"
            )
        }
        return value
    }

    /// Decodes a column by name.
    /// - Parameters:
    ///   - type: The Swift type; use an `Optional` type to accept `NULL`.
    ///   - name: The column name as returned by the server (first match if duplicated).
    /// - Returns: The decoded value.
    /// - Throws: ``PostgresDecodingError`` if there is no such column or decoding fails.
    public func decode<T: PostgresDecodable>(_ type: T.Type, column name: String) throws -> T {
        guard let index = columns.index[name] else {
            throw PostgresDecodingError(column: -1, columnName: name, targetType: "\(T.self)", reason: "no such column")
        }
        return try decode(type, column: index)
    }
}

/// Column names of one result, shared by all its rows.
final class PostgresColumns: Sendable {
    let names: [String]
    let index: [String: Int]

    init(names: [String]) {
        self.names = names
        var index = [String: Int]()
        for (position, name) in names.enumerated() where index[name] == nil {
            index[name] = position
        }
        self.index = index
    }
}
