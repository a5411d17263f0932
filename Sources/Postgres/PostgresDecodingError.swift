/// A column could not be decoded into the requested Swift type.
///
/// - Important: The description names the column and the type, never the value.
public struct PostgresDecodingError: Error, CustomStringConvertible, Sendable {
    /// The column index.
    public var column: Int
    /// The column name, if known.
    public var columnName: String?
    /// The requested Swift type.
    public var targetType: String
    /// Why decoding failed.
    public var reason: String

    /// `cannot decode column 2 ("score") as Double: invalid text`.
    public var description: String {
        let name = columnName.map { " (\"\($0)\")" } ?? ""
        return "PostgresDecodingError: cannot decode column \(column)\(name) as \(targetType): \(reason)"
    }
}
