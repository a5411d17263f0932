import Foundation

/// A value that can be bound to a `$n` parameter of a ``PostgresQuery``.
///
/// Values travel in text format, except `bytea` (`[UInt8]`), which is sent as binary.
/// Conforming types: `String`, `Int`, `Int64`, `Int32`, `Int16`, `Double`, `Float`, `Bool`,
/// `[UInt8]` (bytea), `Date` (timestamptz), `[String]` (text[]) and `Optional` of any of them (`NULL`).
public protocol PostgresBindable: Sendable {
    /// The parameter's type OID, or `0` to let the server infer it from the context.
    static var postgresTypeOID: UInt32 { get }
    /// The encoded value.
    var postgresValue: PostgresValue { get }
}

// MARK: - Type OIDs

/// Type OIDs from `pg_type.dat` used by the built-in conformances.
enum PGTypeOID {
    static let unspecified: UInt32 = 0
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let int8: UInt32 = 20
    static let int2: UInt32 = 21
    static let int4: UInt32 = 23
    static let float4: UInt32 = 700
    static let float8: UInt32 = 701
    static let textArray: UInt32 = 1009
    static let timestamptz: UInt32 = 1184
}

// MARK: - Conformances

extension String: PostgresBindable {
    /// Unspecified (`0`), so a string also binds to `jsonb`, `uuid`, enum and other columns.
    public static var postgresTypeOID: UInt32 { PGTypeOID.unspecified }
    /// The string itself, in text format.
    public var postgresValue: PostgresValue { .text(self) }
}

extension Int: PostgresBindable {
    /// `int8`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.int8 }
    /// Decimal text.
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Int64: PostgresBindable {
    /// `int8`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.int8 }
    /// Decimal text.
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Int32: PostgresBindable {
    /// `int4`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.int4 }
    /// Decimal text.
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Int16: PostgresBindable {
    /// `int2`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.int2 }
    /// Decimal text.
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Double: PostgresBindable {
    /// `float8`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.float8 }
    /// Shortest round-tripping text; `NaN`, `Infinity`, `-Infinity` for the special values.
    public var postgresValue: PostgresValue { .text(PGText.float(self)) }
}

extension Float: PostgresBindable {
    /// `float4`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.float4 }
    /// Shortest round-tripping text; `NaN`, `Infinity`, `-Infinity` for the special values.
    public var postgresValue: PostgresValue { .text(PGText.float(self)) }
}

extension Bool: PostgresBindable {
    /// `bool`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.bool }
    /// `t` or `f`.
    public var postgresValue: PostgresValue { .text(self ? "t" : "f") }
}

extension Array: PostgresBindable where Element: PostgresArrayElement {
    /// `bytea` for `[UInt8]`, `text[]` for `[String]`.
    public static var postgresTypeOID: UInt32 { Element.postgresArrayTypeOID }
    /// Binary bytes for `[UInt8]`; the array literal (`{"a","b"}`) for `[String]`.
    public var postgresValue: PostgresValue { Element.postgresArrayValue(self) }
}

/// Element types whose arrays are bindable: `UInt8` (`bytea`) and `String` (`text[]`).
public protocol PostgresArrayElement: Sendable {
    /// The OID of the array type.
    static var postgresArrayTypeOID: UInt32 { get }
    /// Encodes an array of this element type.
    static func postgresArrayValue(_ array: [Self]) -> PostgresValue
}

extension UInt8: PostgresArrayElement {
    /// `bytea`.
    public static var postgresArrayTypeOID: UInt32 { PGTypeOID.bytea }
    /// The bytes, sent in binary format (zero bytes are fine).
    public static func postgresArrayValue(_ array: [UInt8]) -> PostgresValue { .binary(array) }
}

extension String: PostgresArrayElement {
    /// `text[]`.
    public static var postgresArrayTypeOID: UInt32 { PGTypeOID.textArray }
    /// An array literal with every element double-quoted and `"`/`\` escaped.
    public static func postgresArrayValue(_ array: [String]) -> PostgresValue {
        var text = "{"
        for (index, element) in array.enumerated() {
            if index > 0 { text += "," }
            text += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { text.unicodeScalars.append("\\") }
                text.unicodeScalars.append(character)
            }
            text += "\""
        }
        text += "}"
        return .text(text)
    }
}

extension Date: PostgresBindable {
    /// `timestamptz`.
    public static var postgresTypeOID: UInt32 { PGTypeOID.timestamptz }
    /// ISO 8601 in UTC with microseconds (`2024-05-01 12:00:00.123456+00`).
    public var postgresValue: PostgresValue { .text(PGTimestamp.format(self)) }
}

extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    /// The wrapped type's OID.
    public static var postgresTypeOID: UInt32 { Wrapped.postgresTypeOID }
    /// `NULL` for `nil`, else the wrapped value.
    public var postgresValue: PostgresValue { self?.postgresValue ?? .null }
}

// MARK: - Text helpers

enum PGText {
    static func float<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return value.description
    }
}
