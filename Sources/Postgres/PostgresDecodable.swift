import Foundation

/// A type that can be decoded from a column's text-format value.
///
/// Conforming types: `String`, `Int`, `Int64`, `Int32`, `Int16`, `Double`, `Float`, `Bool`,
/// `[UInt8]` (bytea, hex output), `Date` (timestamptz/timestamp/date), `[String]` (text[])
/// and `Optional` of any of them.
public protocol PostgresDecodable: Sendable {
    /// Decodes a value.
    /// - Parameter text: The column's text-format value, `nil` for SQL `NULL`.
    /// - Returns: The decoded value, or `nil` if `text` is not valid for this type (including an
    ///   unexpected `NULL`); the caller turns that into a ``PostgresDecodingError``.
    static func decode(postgresText text: String?) -> Self?
}

// MARK: - Conformances

extension String: PostgresDecodable {
    /// Any column's text form.
    public static func decode(postgresText text: String?) -> String? { text }
}

extension Int: PostgresDecodable {
    /// Decimal text.
    public static func decode(postgresText text: String?) -> Int? { text.flatMap { Int($0) } }
}

extension Int64: PostgresDecodable {
    /// Decimal text.
    public static func decode(postgresText text: String?) -> Int64? { text.flatMap { Int64($0) } }
}

extension Int32: PostgresDecodable {
    /// Decimal text.
    public static func decode(postgresText text: String?) -> Int32? { text.flatMap { Int32($0) } }
}

extension Int16: PostgresDecodable {
    /// Decimal text.
    public static func decode(postgresText text: String?) -> Int16? { text.flatMap { Int16($0) } }
}

extension Double: PostgresDecodable {
    /// Float text, including `NaN`, `Infinity` and `-Infinity`.
    public static func decode(postgresText text: String?) -> Double? { text.flatMap { Double($0) } }
}

extension Float: PostgresDecodable {
    /// Float text, including `NaN`, `Infinity` and `-Infinity`.
    public static func decode(postgresText text: String?) -> Float? { text.flatMap { Float($0) } }
}

extension Bool: PostgresDecodable {
    /// `t`/`f` (also `true`/`false`).
    public static func decode(postgresText text: String?) -> Bool? {
        switch text {
        case "t", "true": true
        case "f", "false": false
        default: nil
        }
    }
}

extension Date: PostgresDecodable {
    /// ISO-style `timestamptz`, `timestamp` (as UTC) or `date` text.
    public static func decode(postgresText text: String?) -> Date? { text.flatMap(PGTimestamp.parse) }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    /// `nil` for SQL `NULL`, else the wrapped type's decoding (failing if that fails).
    public static func decode(postgresText text: String?) -> Wrapped?? {
        guard let text else { return .some(nil) }
        return Wrapped.decode(postgresText: text).map { .some($0) }
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodableArrayElement {
    /// `bytea` hex output for `[UInt8]`; an array literal for `[String]`.
    public static func decode(postgresText text: String?) -> [Element]? {
        text.flatMap(Element.decodeArray(postgresText:))
    }
}

/// Element types whose arrays are decodable: `UInt8` (`bytea`) and `String` (`text[]`).
public protocol PostgresDecodableArrayElement: Sendable {
    /// Decodes the whole array from its text form.
    static func decodeArray(postgresText text: String) -> [Self]?
}

extension UInt8: PostgresDecodableArrayElement {
    /// `\x` followed by hex digits (`bytea_output = hex`, the default).
    public static func decodeArray(postgresText text: String) -> [UInt8]? {
        PGByteaHex.decode(text)
    }
}

extension String: PostgresDecodableArrayElement {
    /// A one-dimensional array literal: `{a,"b c",NULL}`. `NULL` elements are rejected.
    public static func decodeArray(postgresText text: String) -> [String]? {
        PGArrayLiteral.decode(text)
    }
}
